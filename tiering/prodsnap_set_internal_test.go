package tiering

import (
	"errors"
	"fmt"
	"testing"
)

// Reports that arrive while the set is being listed are replayed on the listing, whether
// or not the listing saw them; a listing overtaken by ProducerSnapshotsChanged, or one that
// fails, is not trusted; an untracked set is never trusted.
func TestProducerSnapshotSetListingRace(t *testing.T) {
	var s producerSnapshotSet
	if _, ok := s.inRange("d", 0, 100); ok {
		t.Fatal("an untracked set was trusted")
	}
	s.tracked = true
	// The listing saw the save of 10 and the removal of 20 but not the save of 30 nor the
	// removal of 40, all reported while it ran.
	s.list = func(string) ([]int64, error) {
		s.report(snapshotOp{offset: 10, present: true})
		s.report(snapshotOp{offset: 20})
		s.report(snapshotOp{offset: 30, present: true})
		s.report(snapshotOp{offset: 40})
		return []int64{5, 10, 40, 50}, nil
	}
	offs, ok := s.inRange("d", 0, 100)
	if !ok || fmt.Sprint(offs) != "[50 30 10 5]" {
		t.Fatalf("in range: %v ok=%v, want [50 30 10 5]", offs, ok)
	}
	s.list = func(string) ([]int64, error) { t.Fatal("listed again"); return nil, nil }
	if offs, _ := s.inRange("d", 10, 30); fmt.Sprint(offs) != "[30 10]" {
		t.Fatalf("[10, 30]: %v", offs)
	}
	if offs, ok := s.inRange("d", 11, 29); !ok || len(offs) != 0 {
		t.Fatalf("[11, 29]: %v ok=%v", offs, ok)
	}

	// Overtaken by a change while listing: not trusted, and listed again next time.
	s.listed = false
	s.list = func(string) ([]int64, error) {
		s.mu.Lock()
		s.listed, s.offs = false, nil
		s.gen++
		s.mu.Unlock()
		return []int64{1}, nil
	}
	if _, ok := s.inRange("d", 0, 100); ok {
		t.Fatal("a listing overtaken by a change was trusted")
	}
	s.list = func(string) ([]int64, error) { return nil, errors.New("boom") }
	if _, ok := s.inRange("d", 0, 100); ok {
		t.Fatal("a failed listing was trusted")
	}
	s.list = func(string) ([]int64, error) { return []int64{7}, nil }
	if offs, ok := s.inRange("d", 0, 100); !ok || fmt.Sprint(offs) != "[7]" {
		t.Fatalf("after relisting: %v ok=%v", offs, ok)
	}
	if n := s.listings.Load(); n != 4 {
		t.Fatalf("%d listings, want 4", n)
	}
}
