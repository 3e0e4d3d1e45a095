package segment_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// Size and MaxTimestamp, kept incrementally (totals.go), equal a full recount after
// appends, rolls, retention deletes (some of the segment holding the max timestamp),
// SetLogStartOffset, a restart past the end, a clean reopen and a crash that truncates.
func TestTotalsEqualRecount(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	cfg := segment.Config{SegmentBytes: 600, FS: fsys}
	l := mustOpen(t, testDir, cfg)
	defer func() { l.Close() }()
	rng := rand.New(rand.NewPCG(7, 11))
	check := func(step string) {
		t.Helper()
		size, ts, off := l.RecountTotals()
		gotTs, gotOff := l.MaxTimestamp()
		if got := l.Size(); got != size || gotTs != ts || gotOff != off {
			t.Fatalf("%s: Size %d, MaxTimestamp (%d, %d); recount %d, (%d, %d)", step, got, gotTs, gotOff, size, ts, off)
		}
	}
	appendSome := func(n int) {
		for range n {
			// Timestamps jump around, so the max moves between segments and is
			// sometimes held by the oldest one.
			mustAppend(t, l, batchOf(1000+rng.Int64N(5000), 1+rng.IntN(3)))
			if rng.IntN(4) == 0 {
				check("append")
			}
		}
		check("appends")
	}
	for round := range 30 {
		appendSome(20 + rng.IntN(40))
		if rng.IntN(3) == 0 {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			check("roll")
		}
		switch rng.IntN(5) {
		case 0: // retention by size deletes a few segments at the head
			keep := l.Size() * int64(1+rng.IntN(3)) / 4
			if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: keep}, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
			check("retention by size")
		case 1: // retention by time deletes the segments whose max is older
			ms := time.Now().UnixMilli() - 1000 - rng.Int64N(5000)
			if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: ms, Bytes: -1}, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
			check("retention by time")
		case 2:
			segs := l.Segments()
			off := segs[len(segs)/2].BaseOffset + 1
			if err := l.SetLogStartOffset(off); err != nil {
				t.Fatal(err)
			}
			check("set log start")
		case 3: // clean reopen (from the shutdown summary)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, testDir, cfg)
			check("reopen")
		case 4: // crash: the unsynced tail is cut on recovery
			if rng.IntN(2) == 0 {
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			mustAppend(t, l, batchOf(9999, 2)) // not synced: lost
			fsys = fsys.Crash()
			l.Close()
			cfg.FS = fsys
			l = mustOpen(t, testDir, cfg)
			check("crash recovery")
		}
		if round == 20 {
			// Delete everything but the active segment, then restart the empty log past
			// the end.
			if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 0}, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
			check("retention of all")
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 0}, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
			if err := l.SetLogStartOffset(l.NextOffset() + 100); err != nil {
				t.Fatal(err)
			}
			check("restart")
		}
	}
}

// With equal max timestamps in every segment, MaxTimestamp names the oldest remaining
// segment's batch after each deletion of the head (as a scan from the oldest would).
func TestMaxTimestampTiesAcrossRetention(t *testing.T) {
	l := mustOpen(t, testDir, segment.Config{SegmentBytes: 1, FS: segmenttest.NewMemFS()})
	defer l.Close()
	for range 20 {
		mustAppend(t, l, batchOf(5000, 2)) // one segment per batch, max timestamp 5001
	}
	for i := range 19 {
		ts, off := l.MaxTimestamp()
		_, wantTs, wantOff := l.RecountTotals()
		if ts != 5001 || ts != wantTs || off != wantOff || off != int64(2*i) {
			t.Fatalf("after %d deletions: MaxTimestamp (%d, %d), recount (%d, %d), want (5001, %d)", i, ts, off, wantTs, wantOff, 2*i)
		}
		if err := l.DeleteOldestSegment(int64(2 * i)); err != nil {
			t.Fatal(err)
		}
	}
}
