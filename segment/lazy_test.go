package segment_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
)

// lazyCfg rolls every few batches, so a log of 80 batches has a few dozen segments.
var lazyCfg = segment.Config{IndexIntervalBytes: 150, SegmentBytes: 400}

// lazyTs is the timestamp of batch i: not monotonic, with ties between segments, so that
// "the first segment holding the max" and FindTimestamp's "first batch reaching ts" are
// tested across the lazy and the made segments.
func lazyTs(i int) int64 { return 10_000 + int64(i*37%50)*10 }

// writeLazyLog writes a cleanly closed log of 80 batches into a new directory and returns
// it with the batches. eager replaces its marker by a v0 one (clean, no summary), so that
// Open checks every segment's files and makes them all: the reference the lazy path is
// compared with.
func writeLazyLog(t *testing.T, eager bool) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	l := mustOpen(t, dir, lazyCfg)
	var want [][]byte
	for i := range 80 {
		b := batchOf(lazyTs(i), 3)
		mustAppend(t, l, b)
		want = append(want, bytes.Clone(b))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if eager {
		if err := os.WriteFile(filepath.Join(dir, "clean-shutdown"), []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, want
}

// openPair opens the same log lazily (from its clean-shutdown summary) and eagerly.
func openPair(t *testing.T) (lazy, eager *segment.Log, want [][]byte) {
	t.Helper()
	dir, want := writeLazyLog(t, false)
	lazy, rep, err := segment.Open(dir, lazyCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lazy.Close() })
	edir, _ := writeLazyLog(t, true)
	eager, erep, err := segment.Open(edir, lazyCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eager.Close() })
	if n := lazy.LazySegments(); n < 20 || n != rep.Segments-1 || eager.LazySegments() != 0 {
		t.Fatalf("%d lazy segments (report %+v), eager %d", n, rep, eager.LazySegments())
	}
	if rep.Segments != erep.Segments || !rep.CleanShutdown || !erep.CleanShutdown {
		t.Fatalf("reports %+v and %+v", rep, erep)
	}
	return lazy, eager, want
}

// segView is SegmentInfo without the times (the eager path takes them from file mtimes).
type segView struct {
	base, next, size, maxTs int64
	sealed                  bool
	log, idx, tidx          string
}

func segViews(ss []segment.SegmentInfo) []segView {
	out := make([]segView, len(ss))
	for i, s := range ss {
		out[i] = segView{s.BaseOffset, s.NextOffset, s.Size, s.MaxTimestamp, s.Sealed,
			filepath.Base(s.LogPath), filepath.Base(s.IndexPath), filepath.Base(s.TimeIndexPath)}
	}
	return out
}

// sameLog checks that the two logs answer every getter the same (Segments last: it makes
// the lazy segments).
func sameLog(t *testing.T, lazy, eager *segment.Log) {
	t.Helper()
	type state struct {
		start, next, durable, size, maxTs, maxOff int64
	}
	get := func(l *segment.Log) state {
		ts, off := l.MaxTimestamp()
		return state{l.LogStartOffset(), l.NextOffset(), l.DurableOffset(), l.Size(), ts, off}
	}
	if a, b := get(lazy), get(eager); a != b {
		t.Fatalf("lazy %+v, eager %+v", a, b)
	}
	size, ts, off := lazy.RecountTotals()
	if a := get(lazy); a.size != size || a.maxTs != ts || a.maxOff != off {
		t.Fatalf("lazy totals %+v, recounted %d %d %d", a, size, ts, off)
	}
	for _, s := range eager.Segments() {
		for _, base := range []int64{s.BaseOffset, s.BaseOffset + 1} {
			if lazy.HasSegment(base) != eager.HasSegment(base) {
				t.Fatalf("HasSegment(%d): lazy %v", base, lazy.HasSegment(base))
			}
		}
	}
	if a, b := segViews(lazy.Segments()), segViews(eager.Segments()); !equalViews(a, b) {
		t.Fatalf("segments:\nlazy  %+v\neager %+v", a, b)
	}
}

func findTs(t *testing.T, l *segment.Log, ts int64) (int64, []byte) {
	t.Helper()
	r, found, err := l.FindTimestamp(ts)
	if err != nil {
		t.Fatalf("find timestamp %d: %v", ts, err)
	}
	if !found {
		return -1, nil
	}
	b, err := r.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return r.FirstOffset, b
}

// TestLazyOpenSameAsEager: after a clean Open that keeps the sealed segments lazy, every
// operation answers as after an Open that made them all, and those that do not need them
// as segments leave them lazy.
func TestLazyOpenSameAsEager(t *testing.T) {
	t.Run("getters without making them", func(t *testing.T) {
		lazy, eager, _ := openPair(t)
		n := lazy.LazySegments()
		if a, b := segViews(lazy.SegmentsFrom(lazy.NextOffset())), segViews(eager.SegmentsFrom(eager.NextOffset())); !equalViews(a, b) {
			t.Fatalf("SegmentsFrom(next): %+v, want %+v", a, b)
		}
		if a, b := lazy.ActiveSegment(), eager.ActiveSegment(); a.BaseOffset != b.BaseOffset || a.Size != b.Size {
			t.Fatalf("active %+v, want %+v", a, b)
		}
		ts, _ := eager.MaxTimestamp()
		for _, x := range []int64{ts + 1, 1 << 50} { // beyond every timestamp: nothing to make
			if a, _ := findTs(t, lazy, x); a != -1 {
				t.Fatalf("find timestamp %d: offset %d", x, a)
			}
		}
		for _, l := range []*segment.Log{lazy, eager} {
			if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: -1}, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
			if err := l.SetLogStartOffset(0); err != nil { // not a raise: a no-op
				t.Fatal(err)
			}
		}
		if got := lazy.LazySegments(); got != n {
			t.Fatalf("%d lazy segments left of %d", got, n)
		}
		// Reads of the active segment need none of them either.
		act := lazy.ActiveSegment()
		if act.NextOffset > act.BaseOffset {
			if _, err := lazy.Read(act.BaseOffset, 1<<20, true); err != nil {
				t.Fatal(err)
			}
		}
		// Size, MaxTimestamp and HasSegment come from the records; Segments makes them.
		sameLog(t, lazy, eager)
		if lazy.LazySegments() != 0 {
			t.Fatal("Segments left lazy segments")
		}
	})
	t.Run("read old offsets", func(t *testing.T) {
		lazy, eager, want := openPair(t)
		equalBatches(t, readAll(t, lazy, 0), want)
		if lazy.LazySegments() != 0 {
			t.Fatal("a read below the made segments left them lazy")
		}
		sameLog(t, lazy, eager)
	})
	t.Run("find timestamp", func(t *testing.T) {
		for _, ts := range []int64{0, 10_000, 10_005, 10_200, 10_245, 10_480, 10_490, 10_491} {
			lazy, eager, _ := openPair(t)
			a, ab := findTs(t, lazy, ts)
			b, bb := findTs(t, eager, ts)
			if a != b || !bytes.Equal(ab, bb) {
				t.Fatalf("find timestamp %d: lazy %d, eager %d", ts, a, b)
			}
			sameLog(t, lazy, eager)
		}
	})
	t.Run("segments from an old offset", func(t *testing.T) {
		lazy, eager, _ := openPair(t)
		for _, off := range []int64{0, 7, 100, 200, eager.NextOffset() - 1} {
			if a, b := segViews(lazy.SegmentsFrom(off)), segViews(eager.SegmentsFrom(off)); !equalViews(a, b) {
				t.Fatalf("SegmentsFrom(%d): %+v, want %+v", off, a, b)
			}
		}
	})
	t.Run("retention", func(t *testing.T) {
		now := time.UnixMilli(10_491 + 1000) // every sealed segment has expired by time
		for _, p := range []segment.RetentionPolicy{{Ms: -1, Bytes: 3000}, {Ms: 1000, Bytes: -1}, {Ms: 0, Bytes: 0}} {
			lazy, eager, want := openPair(t)
			a, err := lazy.ApplyRetention(p, now, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := eager.ApplyRetention(p, now, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !equalViews(segViews(a), segViews(b)) || len(a) == 0 {
				t.Fatalf("policy %+v deleted %+v, eager %+v", p, segViews(a), segViews(b))
			}
			sameLog(t, lazy, eager)
			var rest [][]byte
			for _, w := range want {
				if baseOf(w) >= lazy.LogStartOffset() {
					rest = append(rest, w)
				}
			}
			equalBatches(t, readAll(t, lazy, lazy.LogStartOffset()), rest)
		}
	})
	t.Run("delete records and oldest segment", func(t *testing.T) {
		lazy, eager, _ := openPair(t)
		for _, l := range []*segment.Log{lazy, eager} {
			if err := l.SetLogStartOffset(100); err != nil {
				t.Fatal(err)
			}
		}
		sameLog(t, lazy, eager)
		lazy, eager, _ = openPair(t)
		first := eager.Segments()[0].BaseOffset
		for _, l := range []*segment.Log{lazy, eager} {
			if err := l.DeleteOldestSegment(first); err != nil {
				t.Fatal(err)
			}
		}
		sameLog(t, lazy, eager)
	})
	t.Run("roll while lazy", func(t *testing.T) {
		lazy, eager, want := openPair(t)
		n := lazy.LazySegments()
		for i := range 20 {
			b := batchOf(20_000+int64(i), 2)
			for _, l := range []*segment.Log{lazy, eager} {
				mustAppend(t, l, bytes.Clone(b))
				if i%5 == 4 {
					if err := l.Roll(); err != nil {
						t.Fatal(err)
					}
				}
			}
			want = append(want, b)
		}
		if lazy.LazySegments() != n {
			t.Fatal("appends and rolls made the lazy segments")
		}
		sameLog(t, lazy, eager)
		equalBatches(t, readAll(t, lazy, 0), readAll(t, eager, 0))
		if got := readAll(t, lazy, 0); len(got) != len(want) {
			t.Fatalf("%d batches, want %d", len(got), len(want))
		}
	})
	t.Run("close and reopen while lazy", func(t *testing.T) {
		lazy, eager, want := openPair(t)
		b := batchOf(30_000, 2)
		mustAppend(t, lazy, b)
		mustAppend(t, eager, batchOf(30_000, 2))
		if err := lazy.Roll(); err != nil {
			t.Fatal(err)
		}
		if err := eager.Roll(); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
		dir := lazy.Dir()
		if err := lazy.Close(); err != nil {
			t.Fatal(err)
		}
		again, rep, err := segment.Open(dir, lazyCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if !rep.CleanShutdown || again.LazySegments() == 0 || again.OpenedFromSummary() != rep.Segments-1 {
			t.Fatalf("reopened: %+v, %d lazy", rep, again.LazySegments())
		}
		sameLog(t, again, eager)
		equalBatches(t, readAll(t, again, 0), want)
	})
	t.Run("v2 marker of an older version", func(t *testing.T) {
		dir, want := writeLazyLog(t, false)
		if err := segment.RewriteCleanMarkerV2(dir); err != nil {
			t.Fatal(err)
		}
		l, rep, err := segment.Open(dir, lazyCfg)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.CleanShutdown || l.LazySegments() != rep.Segments-1 || rep.Segments < 10 {
			t.Fatalf("v2 marker: %+v, %d lazy", rep, l.LazySegments())
		}
		equalBatches(t, readAll(t, l, 0), want)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "clean-shutdown")); err != nil || !bytes.HasPrefix(b, []byte("3\n")) {
			t.Fatalf("marker after Close: %.2q %v", b, err)
		}
	})
	t.Run("crash while lazy", func(t *testing.T) {
		lazy, _, want := openPair(t)
		b := batchOf(40_000, 2)
		mustAppend(t, lazy, b)
		waitDurable(t, lazy) // acknowledged
		want = append(want, b)
		// No Close: the marker Open consumed is gone, so the next Open recovers in full.
		again, rep, err := segment.Open(lazy.Dir(), lazyCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if rep.CleanShutdown || again.LazySegments() != 0 {
			t.Fatalf("after a crash: %+v, %d lazy", rep, again.LazySegments())
		}
		equalBatches(t, readAll(t, again, 0), want)
	})
}

// TestLazyMaterialiseRace: readers that make the lazy segments (reads of old offsets,
// Segments, FindTimestamp) race with a writer that appends, rolls and applies retention;
// every read returns the right batches and no segment is lost. Run with -race.
func TestLazyMaterialiseRace(t *testing.T) {
	for range 5 {
		dir, want := writeLazyLog(t, false)
		l := mustOpen(t, dir, lazyCfg)
		if l.LazySegments() == 0 {
			t.Fatal("not lazy")
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, 8)
		for g := range 3 {
			wg.Go(func() {
				<-start
				switch g {
				case 0:
					r, err := l.Read(5, 1<<20, true)
					if err == nil {
						var b []byte
						if b, err = r.Bytes(); err == nil && !bytes.HasPrefix(b, want[1]) {
							t.Errorf("read of offset 5: wrong bytes")
						}
					}
					if err != nil {
						errs <- err
					}
				case 1:
					l.Segments()
				case 2:
					if _, _, err := l.FindTimestamp(0); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Go(func() {
			<-start
			for i := range 30 {
				b := batchOf(50_000+int64(i), 1)
				if _, err := l.Append(b, segment.AppendOptions{}); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					if err := l.Roll(); err != nil {
						errs <- err
						return
					}
				}
			}
		})
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got := readAll(t, l, 0)
		equalBatches(t, got[:len(want)], want)
		if len(got) != len(want)+30 {
			t.Fatalf("%d batches, want %d", len(got), len(want)+30)
		}
		size, ts, off := l.RecountTotals()
		if mts, moff := l.MaxTimestamp(); l.Size() != size || mts != ts || moff != off {
			t.Fatalf("totals %d %d %d, recounted %d %d %d", l.Size(), mts, moff, size, ts, off)
		}
		if err := l.WaitDurable(context.Background(), l.NextOffset()); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
