package tiering_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// rollN appends n sealed segments of 3 batches each to l and returns them.
func rollN(t *testing.T, l *segment.Log, n int) []segment.SegmentInfo {
	t.Helper()
	before := len(sealed(l))
	for range n {
		produce(t, l, 3, 0)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	return sealed(l)[before:]
}

func snapshotOffsets(p *tiering.RemotePartition) []int64 {
	var out []int64
	for _, e := range p.Entries() {
		if e.ProducerSnapshot == nil {
			out = append(out, -1)
		} else {
			out = append(out, e.ProducerSnapshotOffset)
		}
	}
	return out
}

// An upload picks the same snapshot whether the partition lists its directory for each
// segment (untracked) or keeps the set of snapshot files from one listing and the broker's
// reports (tracked): the one at the segment's end, else the newest in [base, next], else
// none; a file removed meanwhile is skipped for the next older one.
func TestProducerSnapshotChoiceTrackedOrListed(t *testing.T) {
	for _, tracked := range []bool{false, true} {
		t.Run(fmt.Sprintf("tracked=%v", tracked), func(t *testing.T) {
			e := newEnv(t, newMem(), testConfig())
			dir := t.TempDir()
			l := openLog(t, dir, 1<<20)
			p, err := e.m.OpenPartitionLocal(t.Context(), "t", testTopicID, 0, l, tiering.PartitionConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if tracked {
				p.TrackProducerSnapshots()
			}
			save := func(off int64, body string) {
				writeSnap(t, dir, off, body)
				p.ProducerSnapshotSaved(off)
			}
			remove := func(off int64) {
				if err := os.Remove(filepath.Join(dir, fmt.Sprintf("%020d.snapshot", off))); err != nil {
					t.Fatal(err)
				}
				p.ProducerSnapshotRemoved(off)
			}
			var want []int64

			// Round 1: exact, newest inside, none, exact (with one beyond every segment).
			s := rollN(t, l, 4)
			save(s[0].NextOffset, "a")
			save(s[1].BaseOffset+1, "b-old")
			save(s[1].BaseOffset+2, "b")
			save(s[3].NextOffset, "d")
			save(s[3].NextOffset+100, "beyond")
			if err := p.UploadPending(t.Context()); err != nil {
				t.Fatal(err)
			}
			want = append(want, s[0].NextOffset, s[1].BaseOffset+2, -1, s[3].NextOffset)

			// Round 2, after the set was listed: snapshots saved since are found, a reported
			// removal is not chosen, and one removed without a report (the set is stale) is
			// skipped for the next older file.
			s = rollN(t, l, 4)
			save(s[0].BaseOffset+1, "e-old")
			save(s[0].BaseOffset+2, "e")
			remove(s[0].BaseOffset + 2)
			save(s[1].BaseOffset+1, "f-old")
			save(s[1].BaseOffset+2, "f")
			if err := os.Remove(filepath.Join(dir, fmt.Sprintf("%020d.snapshot", s[1].BaseOffset+2))); err != nil {
				t.Fatal(err)
			}
			save(s[2].BaseOffset+1, "g")
			remove(s[2].BaseOffset + 1)
			save(s[3].NextOffset, "h")
			if err := p.UploadPending(t.Context()); err != nil {
				t.Fatal(err)
			}
			want = append(want, s[0].BaseOffset+1, s[1].BaseOffset+1, -1, s[3].NextOffset)

			got := snapshotOffsets(p)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("snapshot offsets %v, want %v", got, want)
			}
			// Round 1 needs the set for 2 segments, round 2 for 3.
			wantListings := int64(5)
			if tracked {
				wantListings = 1
			}
			if n := p.ProducerSnapshotListings(); n != wantListings {
				t.Errorf("%d directory listings, want %d", n, wantListings)
			}
		})
	}
}

// A tracked partition without any producer snapshot uploads many segments with one listing
// of its directory, and lists again once after a change it was not told about in detail.
func TestProducerSnapshotNoListingPerUpload(t *testing.T) {
	e := newEnv(t, newMem(), testConfig())
	dir := t.TempDir()
	l := openLog(t, dir, 1<<20)
	p, err := e.m.OpenPartitionLocal(t.Context(), "t", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p.TrackProducerSnapshots()
	for range 5 {
		rollN(t, l, 10)
		if err := p.UploadPending(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(p.Entries()); n != 50 {
		t.Fatalf("%d segments uploaded", n)
	}
	if n := p.ProducerSnapshotListings(); n != 1 {
		t.Fatalf("%d directory listings for 50 uploads, want 1", n)
	}
	for _, off := range snapshotOffsets(p) {
		if off != -1 {
			t.Fatalf("a snapshot was uploaded from a directory without any: %v", snapshotOffsets(p))
		}
	}

	// A snapshot written without a report, then announced as an unspecified change.
	s := rollN(t, l, 1)
	writeSnap(t, dir, s[0].BaseOffset+1, "x")
	p.ProducerSnapshotsChanged()
	rollN(t, l, 10)
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := p.ProducerSnapshotListings(); n != 2 {
		t.Fatalf("%d directory listings, want 2", n)
	}
	if e := p.Entries()[50]; e.ProducerSnapshot == nil || e.ProducerSnapshotOffset != s[0].BaseOffset+1 {
		t.Fatalf("segment 50 went up with %+v at %d, want the snapshot at %d", e.ProducerSnapshot, e.ProducerSnapshotOffset, s[0].BaseOffset+1)
	}
}
