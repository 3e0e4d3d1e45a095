package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-io/strata/segment"
)

// A corruption changes the bytes of the newest segment file and says how many of the
// batches (at the given positions) must survive recovery.
type corruption func(data []byte, pos []int) (corrupted []byte, survivors int)

var corruptions = map[string]corruption{
	"truncate mid-batch": func(d []byte, pos []int) ([]byte, int) {
		last := pos[len(pos)-1]
		return d[:last+(len(d)-last)/2], len(pos) - 1
	},
	"truncate in header": func(d []byte, pos []int) ([]byte, int) {
		return d[:pos[len(pos)-1]+30], len(pos) - 1
	},
	"truncate at a batch boundary": func(d []byte, pos []int) ([]byte, int) {
		return d[:pos[len(pos)-3]], len(pos) - 3
	},
	"flip a bit in the tail batch records": func(d []byte, pos []int) ([]byte, int) {
		d[len(d)-5] ^= 0x10
		return d, len(pos) - 1
	},
	"flip a bit in the tail batch max timestamp": func(d []byte, pos []int) ([]byte, int) {
		d[pos[len(pos)-1]+40] ^= 0x01
		return d, len(pos) - 1
	},
	"flip a bit in the tail batch length": func(d []byte, pos []int) ([]byte, int) {
		d[pos[len(pos)-1]+10] ^= 0x01
		return d, len(pos) - 1
	},
	"flip a bit in an earlier batch": func(d []byte, pos []int) ([]byte, int) {
		i := len(pos) - 4
		d[pos[i]+70] ^= 0x80
		return d, i
	},
	"bad magic in the tail batch": func(d []byte, pos []int) ([]byte, int) {
		d[pos[len(pos)-1]+16] = 1
		return d, len(pos) - 1
	},
	"wrong base offset in the tail batch": func(d []byte, pos []int) ([]byte, int) {
		d[pos[len(pos)-1]+7] ^= 0x04
		return d, len(pos) - 1
	},
	"torn write across a 512-byte boundary": func(d []byte, pos []int) ([]byte, int) {
		// The last 512-byte sector boundary inside a batch: sectors after it never reached
		// the disk (zeros), the ones before it did.
		for i := len(pos) - 1; i >= 0; i-- {
			end := len(d)
			if i+1 < len(pos) {
				end = pos[i+1]
			}
			boundary := (end - 1) / 512 * 512
			if boundary > pos[i] {
				clear(d[boundary:])
				return d, i
			}
		}
		panic("no batch crosses a sector boundary")
	},
	"garbage appended": func(d []byte, pos []int) ([]byte, int) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 300 {
			d = append(d, byte(r.UintN(256)))
		}
		return d, len(pos)
	},
	"zeros appended": func(d []byte, pos []int) ([]byte, int) {
		return append(d, make([]byte, 4096)...), len(pos)
	},
	"a copy of the last batch appended": func(d []byte, pos []int) ([]byte, int) {
		return append(d, d[pos[len(pos)-1]:]...), len(pos)
	},
}

// TestCorruptTail writes a log, closes it, corrupts the newest segment file and checks
// exactly which batches survive Open and that appends resume at the right offset. Each
// corruption runs after a clean and after an unclean shutdown, with and without a dense
// offset index.
func TestCorruptTail(t *testing.T) {
	for name, corrupt := range corruptions {
		for _, unclean := range []bool{false, true} {
			for _, interval := range []int{100, 1 << 20} {
				t.Run(name, func(t *testing.T) { runCorruption(t, name, corrupt, unclean, interval) })
			}
		}
	}
}

func runCorruption(t *testing.T, name string, corrupt corruption, unclean bool, interval int) {
	dir := t.TempDir()
	cfg := segment.Config{IndexIntervalBytes: interval}
	l := mustOpen(t, dir, cfg)
	var want [][]byte
	var pos []int
	size := 0
	// A sealed segment first, so the damaged one is not the only one.
	for i := range 3 {
		mustAppend(t, l, batchOf(int64(i), 2))
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		b := batchOf(int64(100+i), 1+i%4)
		mustAppend(t, l, b)
		want = append(want, bytes.Clone(b))
		pos = append(pos, size)
		size += len(b)
	}
	active := l.Segments()[1]
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if unclean {
		os.Remove(filepath.Join(dir, "clean-shutdown"))
	}
	data, err := os.ReadFile(active.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	corrupted, survivors := corrupt(bytes.Clone(data), pos)
	if name == "flip a bit in an earlier batch" && interval < size/2 {
		// Damage to the records of a batch before the last offset index entry is not
		// looked for: recovery costs what the unindexed tail costs.
		survivors = len(pos)
		want = split(t, corrupted)
	}
	if err := os.WriteFile(active.LogPath, corrupted, 0o644); err != nil {
		t.Fatal(err)
	}

	l2, rep, err := segment.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantNext := active.BaseOffset
	keptBytes := 0
	if survivors > 0 {
		wantNext = lastOf(want[survivors-1]) + 1
		keptBytes = pos[survivors-1] + len(want[survivors-1])
	}
	if l2.NextOffset() != wantNext {
		t.Fatalf("next offset %d, want %d (report %+v)", l2.NextOffset(), wantNext, rep)
	}
	got := readAll(t, l2, active.BaseOffset)
	equalBatches(t, got, want[:survivors])
	if cut := int64(len(corrupted) - keptBytes); rep.TruncatedBytes != cut {
		t.Fatalf("report %+v, want %d bytes truncated", rep, cut)
	} else if cut > 0 {
		if rep.TruncatedAt != wantNext {
			t.Fatalf("truncated at %d, want %d", rep.TruncatedAt, wantNext)
		}
		broken, err := os.ReadFile(active.LogPath + ".broken")
		if err != nil || !bytes.Equal(broken, corrupted[keptBytes:]) {
			t.Fatalf("broken file: %v", err)
		}
	}
	if rep.CleanShutdown == unclean {
		t.Fatalf("report %+v after unclean=%v", rep, unclean)
	}
	// Appends resume right after the last surviving batch, and survive another reopen.
	b := batchOf(999, 3)
	if info := mustAppend(t, l2, b); info.BaseOffset != wantNext {
		t.Fatalf("append resumed at %d, want %d", info.BaseOffset, wantNext)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	l3, rep, err := segment.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if rep.TruncatedBytes != 0 || l3.NextOffset() != wantNext+3 {
		t.Fatalf("second reopen: report %+v next %d", rep, l3.NextOffset())
	}
	equalBatches(t, readAll(t, l3, active.BaseOffset), append(want[:survivors:survivors], b))
}

// TestCorruptSealedSegment: a damaged batch header in the middle of a sealed segment is
// reported as ErrCorrupt by reads that cross it, never skipped.
func TestCorruptSealedSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := segment.Config{IndexIntervalBytes: 1 << 20}
	l := mustOpen(t, dir, cfg)
	var pos []int
	size := 0
	for i := range 10 {
		b := batchOf(int64(i), 2)
		pos = append(pos, size)
		size += len(b)
		mustAppend(t, l, b)
	}
	l.Roll()
	mustAppend(t, l, batchOf(50, 1))
	sealed := l.Segments()[0]
	l.Close()
	data, _ := os.ReadFile(sealed.LogPath)
	data[pos[4]+16] = 7 // magic of batch 4 (offsets 8, 9)
	os.WriteFile(sealed.LogPath, data, 0o644)
	l2, rep, err := segment.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.TruncatedBytes != 0 || l2.NextOffset() != 21 {
		t.Fatalf("report %+v next %d", rep, l2.NextOffset())
	}
	if _, err := l2.Read(3, 1<<20, true); err != nil {
		t.Fatalf("read before the damage: %v", err)
	}
	for _, off := range []int64{8, 9, 12} {
		if _, err := l2.Read(off, 1<<20, true); !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("read %d: %v, want ErrCorrupt", off, err)
		}
	}
	if r, err := l2.Read(20, 1<<20, true); err != nil || r.FirstOffset != 20 {
		t.Fatalf("read in the next segment: %v", err)
	}
}

// TestMissingIndexes: deleted or damaged index files are rebuilt and reads still work.
// After an unclean shutdown Open checks every sealed segment's indexes and rebuilds the
// damaged ones. After a clean shutdown Open trusts the summary in the clean-shutdown marker
// and checks a sealed segment's indexes on their first use instead: the damage is found and
// repaired (in memory and on disk) before any lookup uses them.
func TestMissingIndexes(t *testing.T) {
	for _, clean := range []bool{false, true} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			dir := t.TempDir()
			cfg := segment.Config{IndexIntervalBytes: 200, SegmentBytes: 2000}
			want, segs := writeClosedLog(t, dir, cfg)
			if !clean {
				os.Remove(filepath.Join(dir, "clean-shutdown"))
			}
			os.Remove(segs[0].IndexPath)
			os.Remove(segs[len(segs)-1].TimeIndexPath)
			os.WriteFile(segs[1].IndexPath, []byte{1, 2, 3}, 0o644)
			idx, _ := os.ReadFile(segs[2].IndexPath)
			os.WriteFile(segs[2].IndexPath, append(idx, 0, 0, 0, 9, 0, 0, 0xff, 0xff), 0o644)
			l2, rep, err := segment.Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			// The active segment is always recovered at Open; the three sealed ones at Open
			// after an unclean shutdown, on first use after a clean one.
			wantAtOpen, wantLazy := 4, int64(0)
			if clean {
				wantAtOpen, wantLazy = 1, 3
				if n := l2.OpenedFromSummary(); n != len(segs)-1 {
					t.Fatalf("%d segments opened from the summary, want %d", n, len(segs)-1)
				}
			}
			if rep.RebuiltIndexes != wantAtOpen || rep.CleanShutdown != clean {
				t.Fatalf("report %+v, want %d rebuilt indexes", rep, wantAtOpen)
			}
			equalBatches(t, readAll(t, l2, 0), want)
			if n := l2.LazyRebuiltIndexes(); n != wantLazy {
				t.Fatalf("%d indexes rebuilt on first use, want %d", n, wantLazy)
			}
			for i, s := range l2.Segments() {
				if s.MaxTimestamp != segs[i].MaxTimestamp || s.NextOffset != segs[i].NextOffset || s.Size != segs[i].Size {
					t.Fatalf("segment %d: %+v, want %+v", i, s, segs[i])
				}
				a, _ := os.ReadFile(s.IndexPath)
				b, _ := os.ReadFile(s.TimeIndexPath)
				if s.Size > 200 && (len(a) == 0 || len(b) == 0) {
					t.Fatalf("segment %d: index not rebuilt", i)
				}
				if i == 2 && len(a) != len(idx) {
					t.Fatalf("segment 2: index of %d bytes, want the %d it had before the damage", len(a), len(idx))
				}
			}
			if r, found, err := l2.FindTimestamp(305); err != nil || !found || r.FirstOffset != 93 {
				t.Fatalf("find timestamp: %+v %v %v", r, found, err)
			}
		})
	}
}

// writeClosedLog appends 60 batches of 3 records (offsets 0-179) to a new log in dir, closes
// it cleanly and returns the batches and its segments.
func writeClosedLog(t *testing.T, dir string, cfg segment.Config) ([][]byte, []segment.SegmentInfo) {
	t.Helper()
	l := mustOpen(t, dir, cfg)
	var want [][]byte
	for i := range 60 {
		b := batchOf(int64(i*10), 3)
		mustAppend(t, l, b)
		want = append(want, bytes.Clone(b))
	}
	segs := l.Segments()
	l.Close()
	return want, segs
}

// TestSealedSegmentOffsetContinuity: a read walks batch headers from an index entry to the
// batch it wants, and each must continue the offsets of the one before; a damaged base
// offset (not covered by the batch CRC) is ErrCorrupt, never a batch served at the wrong
// offsets.
func TestSealedSegmentOffsetContinuity(t *testing.T) {
	for _, tc := range []struct {
		name string
		hit  func(b []byte)
	}{
		{"+1", func(b []byte) { binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(b)+1) }},
		{"-2", func(b []byte) { binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(b)-2) }},
		{"high byte", func(b []byte) { b[1] ^= 0x01 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := segment.Config{IndexIntervalBytes: 1 << 20}
			l := mustOpen(t, dir, cfg)
			var pos []int
			size := 0
			for i := range 10 {
				b := batchOf(int64(i), 2)
				pos = append(pos, size)
				size += len(b)
				mustAppend(t, l, b)
			}
			l.Roll()
			mustAppend(t, l, batchOf(50, 1))
			sealed := l.Segments()[0]
			l.Close()
			data, _ := os.ReadFile(sealed.LogPath)
			tc.hit(data[pos[4]:]) // batch 4: offsets 8, 9
			os.WriteFile(sealed.LogPath, data, 0o644)
			l2, _, err := segment.Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if _, err := l2.Read(3, 1<<20, true); err != nil {
				t.Fatalf("read before the damage: %v", err)
			}
			for _, off := range []int64{8, 9, 12} {
				if r, err := l2.Read(off, 1<<20, true); !errors.Is(err, segment.ErrCorrupt) {
					t.Fatalf("read %d: first offset %d, error %v; want ErrCorrupt", off, r.FirstOffset, err)
				}
			}
		})
	}
}
