package group

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/twmb/franz-go/pkg/kerr"
)

func openStore(t *testing.T, dir string, compact int64) *FileStore {
	t.Helper()
	s, err := OpenFileStore(FileConfig{Dir: dir, CompactBytes: compact})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func offsetRec(group, topic string, p int32, off int64) Record {
	return Record{Kind: KindOffset, Group: group, Topic: topic, Partition: p,
		Offset: OffsetValue{Offset: off, LeaderEpoch: 1, Metadata: "m", CommitTime: 1}}
}

func loadAll(t *testing.T, s OffsetStore) *memState {
	t.Helper()
	st := newMemState()
	if err := s.Load(st.apply); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFileStoreRoundTripAllKinds(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 0)
	meta := &GroupMeta{ProtocolType: "consumer", Protocol: "range", Generation: 4, Leader: "m1", StateTime: 77,
		Members: []MemberMeta{{MemberID: "m1", InstanceID: "i1", ClientID: "c", ClientHost: "/h", SessionTimeout: 10, RebalanceTimeout: 20,
			Metadata: []byte{1, 2}, Assignment: []byte{3}}}}
	recs := []Record{
		offsetRec("g", "t", 0, 5), offsetRec("g", "t", 1, 6), offsetRec("h", "t", 0, 1),
		{Kind: KindGroup, Group: "g", Meta: meta},
		{Kind: KindOffsetDelete, Group: "g", Topic: "t", Partition: 1},
		{Kind: KindGroupDelete, Group: "h"},
	}
	if err := s.Append(recs); err != nil {
		t.Fatal(err)
	}
	// Reopen without Close (kill -9).
	s2 := openStore(t, dir, 0)
	st := loadAll(t, s2)
	if got := st.offsets["g"][tp{"t", 0}]; got.Offset != 5 || got.Metadata != "m" || got.LeaderEpoch != 1 {
		t.Fatalf("offset: %+v", got)
	}
	if _, ok := st.offsets["g"][tp{"t", 1}]; ok {
		t.Fatal("deleted offset came back")
	}
	if _, ok := st.offsets["h"]; ok {
		t.Fatal("deleted group's offsets came back")
	}
	g := st.groups["g"]
	if g == nil || g.Generation != 4 || len(g.Members) != 1 || g.Members[0].InstanceID != "i1" || string(g.Members[0].Assignment) != "\x03" {
		t.Fatalf("group meta: %+v", g)
	}
	if rep := s2.Report(); rep.ReplayedRecords != len(recs) || rep.TruncatedBytes != 0 {
		t.Fatalf("report: %+v", rep)
	}
}

func TestFileStoreCompactionBoundsReplay(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 8<<10)
	const commits = 2000
	for i := 0; i < commits; i++ {
		if err := s.Append([]Record{offsetRec("g", "t", int32(i%8), int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	logBytes, _ := s.sizes()
	if logBytes > 16<<10 {
		t.Fatalf("log not compacted: %d bytes", logBytes)
	}
	s2 := openStore(t, dir, 8<<10)
	rep := s2.Report()
	if rep.SnapshotRecords != 8 || rep.ReplayedRecords+rep.SkippedRecords > 1000 {
		t.Fatalf("recovery did not stay bounded: %+v", rep)
	}
	st := loadAll(t, s2)
	for p := int32(0); p < 8; p++ {
		want := int64(commits - 8 + int(p))
		if got := st.offsets["g"][tp{"t", p}].Offset; got != want {
			t.Fatalf("partition %d: %d want %d", p, got, want)
		}
	}
}

// A crash between writing the snapshot and starting the new log leaves the new snapshot
// with the old log: replay must skip what the snapshot covers.
func TestFileStoreCrashBetweenSnapshotAndNewLog(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 1<<30)
	for i := 0; i < 10; i++ {
		s.Append([]Record{offsetRec("g", "t", 0, int64(i))})
	}
	oldLog, _ := os.ReadFile(filepath.Join(dir, logName))
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	s.Append([]Record{{Kind: KindOffsetDelete, Group: "g", Topic: "t", Partition: 0}})
	// Simulate: the new log never made it; the old one is back.
	if err := os.WriteFile(filepath.Join(dir, logName), oldLog, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, 1<<30)
	if rep := s2.Report(); rep.SkippedRecords != 10 || rep.ReplayedRecords != 0 {
		t.Fatalf("report: %+v", rep)
	}
	if got := loadAll(t, s2).offsets["g"][tp{"t", 0}].Offset; got != 9 {
		t.Fatalf("offset %d", got)
	}
}

func TestFileStoreTornTail(t *testing.T) {
	f := func(name string, damage func(path string, size int64)) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, 1<<30)
			for i := 0; i < 5; i++ {
				s.Append([]Record{offsetRec("g", "t", int32(i), int64(i))})
			}
			path := filepath.Join(dir, logName)
			fi, _ := os.Stat(path)
			goodSize := fi.Size()
			s.Append([]Record{offsetRec("g", "t", 9, 9)})
			damage(path, goodSize)
			s2 := openStore(t, dir, 1<<30)
			if s2.Report().TruncatedBytes == 0 {
				t.Fatal("nothing truncated")
			}
			st := loadAll(t, s2)
			if len(st.offsets["g"]) != 5 {
				t.Fatalf("%d offsets survived, want 5", len(st.offsets["g"]))
			}
			if _, err := os.Stat(path + ".broken"); err != nil {
				t.Fatal("damaged copy not kept")
			}
			// The store keeps working after the repair.
			if err := s2.Append([]Record{offsetRec("g", "t", 7, 7)}); err != nil {
				t.Fatal(err)
			}
			if n := len(loadAll(t, openStore(t, dir, 1<<30)).offsets["g"]); n != 6 {
				t.Fatalf("after repair and append: %d offsets", n)
			}
		})
	}
	f("cut mid-frame", func(path string, good int64) { os.Truncate(path, good+5) })
	f("flip bit in last frame", func(path string, good int64) {
		b, _ := os.ReadFile(path)
		b[len(b)-2] ^= 0x10
		os.WriteFile(path, b, 0o644)
	})
	f("garbage appended", func(path string, good int64) {
		os.Truncate(path, good)
		fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		fh.Write([]byte("\x00\x00\x00\x10garbagegarbage"))
		fh.Close()
	})
}

func TestFileStoreCorruptSnapshotFailsLoud(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 1<<30)
	s.Append([]Record{offsetRec("g", "t", 0, 1)})
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, snapshotName)
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	os.WriteFile(path, b, 0o644)
	if _, err := OpenFileStore(FileConfig{Dir: dir}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err %v", err)
	}
}

func TestFileStoreConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 4<<10)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				if err := s.Append([]Record{offsetRec(fmt.Sprintf("g%d", w), "t", 0, int64(i))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s.flushMu.Lock()
	syncs := s.syncs
	s.flushMu.Unlock()
	t.Logf("1600 appends from 8 goroutines: %d log fsyncs", syncs)
	if syncs >= 1600 {
		t.Fatalf("no group commit: %d fsyncs for 1600 appends", syncs)
	}
	s.Close()
	if err := s.Append([]Record{offsetRec("x", "t", 0, 1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	st := loadAll(t, openStore(t, dir, 4<<10))
	for w := 0; w < 8; w++ {
		if got := st.offsets[fmt.Sprintf("g%d", w)][tp{"t", 0}].Offset; got != 199 {
			t.Fatalf("g%d: %d", w, got)
		}
	}
}

// The coordinator over a FileStore: commits and a Stable group survive an abandoned
// (never closed) coordinator and store.
func TestCoordinatorFileStoreKillAndReopen(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, dir, 2<<10)
		c := newTestCoordinator(t, s, Config{})
		resps := stableGroup(t, c, "g", joinOpts{}, joinOpts{})
		for i := 0; i < 300; i++ {
			if code := commit(c, "g", resps[0].MemberID, 1, "t", int32(i%3), int64(i)); code != 0 {
				t.Fatalf("commit: %v", kerr.ErrorForCode(code))
			}
		}
		commit(c, "assign-only", "", -1, "t", 0, 5)
		c.stop() // timers only; the store is abandoned without Close

		s2 := openStore(t, dir, 2<<10)
		c2 := newTestCoordinator(t, s2, Config{})
		d, ok := c2.Describe("g")
		if !ok || d.State != Stable || d.Generation != 1 || len(d.Members) != 2 {
			t.Fatalf("group after reopen: %+v", d)
		}
		for p := int32(0); p < 3; p++ {
			if got := fetchOffset(c2, "g", "t", p); got.Offset != int64(297+p) || got.LeaderEpoch != 3 || *got.Metadata != "meta" {
				t.Fatalf("partition %d after reopen: %+v", p, got)
			}
		}
		if fetchOffset(c2, "assign-only", "t", 0).Offset != 5 {
			t.Fatal("offsets-only group lost")
		}
		if code := heartbeat(c2, "g", resps[1].MemberID, 1, ""); code != 0 {
			t.Fatalf("heartbeat after reopen: %v", kerr.ErrorForCode(code))
		}
		if rep := s2.Report(); rep.ReplayedRecords > 200 {
			t.Fatalf("replay not bounded: %+v", rep)
		}
		c2.stop()
		s2.Close()
	})
}

// FuzzLogRecovery: whatever follows the log header, OpenFileStore never panics or fails;
// it keeps a prefix of valid frames and truncates the rest, and the repaired store
// reopens with the same state.
func FuzzLogRecovery(f *testing.F) {
	var seed []byte
	for i, r := range []Record{offsetRec("g", "t", 0, 1), {Kind: KindGroup, Group: "g", Meta: &GroupMeta{Protocol: "range", Members: []MemberMeta{{MemberID: "m"}}}}, {Kind: KindGroupDelete, Group: "h"}} {
		seed = appendFrame(seed, appendRecord(nil, uint64(i+1), r))
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		hdr := append([]byte(logMagic), 0, formatVersion)
		if err := os.WriteFile(filepath.Join(dir, logName), append(hdr, tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := OpenFileStore(FileConfig{Dir: dir})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		first := loadAll(t, s)
		s.Close()
		s2, err := OpenFileStore(FileConfig{Dir: dir})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if s2.Report().TruncatedBytes != 0 {
			t.Fatal("second open truncated again")
		}
		second := loadAll(t, s2)
		s2.Close()
		if len(first.groups) != len(second.groups) || len(first.offsets) != len(second.offsets) {
			t.Fatal("state changed between opens")
		}
	})
}
