package segment_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// modelBatch is what the model of a log keeps of an appended batch.
type modelBatch struct {
	base, last, maxTs int64
}

// modelFind is FindTimestamp by definition: the first batch in offset order that holds an
// offset at or above the log start and whose max timestamp is >= ts.
func modelFind(batches []modelBatch, start, ts int64) (modelBatch, bool) {
	for _, b := range batches {
		if b.last >= start && b.maxTs >= ts {
			return b, true
		}
	}
	return modelBatch{}, false
}

// FindTimestamp answers as the definition does through random appends (timestamps that go
// back in time, batches and whole segments without timestamps), rolls, retention from the
// head, DeleteRecords inside a segment, restarts of an emptied log and reopens, with many
// small segments.
func TestFindTimestampMatchesModel(t *testing.T) {
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 11))
		fsys := segmenttest.NewMemFS()
		cfg := segment.Config{FS: fsys, SegmentBytes: int64(200 + r.IntN(2000)), IndexIntervalBytes: 1 + r.IntN(300)}
		l := mustOpen(t, testDir, cfg)
		var batches []modelBatch
		clock := int64(1000)
		noTs := false // a run of batches without timestamps: whole segments with max -1
		check := func(step int) {
			t.Helper()
			start := l.LogStartOffset()
			lo, hi := clock-300, clock+50
			for range 6 {
				ts := lo + r.Int64N(hi-lo)
				switch r.IntN(10) {
				case 0:
					ts = -1
				case 1:
					ts = math.MinInt64
				case 2:
					ts = math.MaxInt64
				}
				want, wantOK := modelFind(batches, start, ts)
				got, ok, err := l.FindTimestamp(ts)
				if err != nil {
					t.Fatalf("seed %d step %d: FindTimestamp(%d): %v", seed, step, ts, err)
				}
				if ok != wantOK || (ok && got.FirstOffset != want.base) {
					t.Fatalf("seed %d step %d: FindTimestamp(%d) = base %d found %v, want base %d found %v (log start %d, %d segments)",
						seed, step, ts, got.FirstOffset, ok, want.base, wantOK, start, len(l.Segments()))
				}
			}
		}
		for step := range 600 {
			switch op := r.IntN(100); {
			case op < 70:
				if r.IntN(40) == 0 {
					noTs = !noTs
				}
				n := 1 + r.IntN(4)
				first := clock + r.Int64N(20) - 15 // mostly rising, sometimes back in time
				if r.IntN(15) == 0 {
					first = clock - 200 - r.Int64N(500) // far back
				}
				if noTs {
					first, n = -1, 1
				}
				info := mustAppend(t, l, segmenttest.Batch(first, make([][]byte, n)...))
				batches = append(batches, modelBatch{base: info.BaseOffset, last: info.LastOffset, maxTs: first + int64(n-1)})
				clock += int64(r.IntN(10))
			case op < 76:
				if err := l.Roll(); err != nil {
					t.Fatal(err)
				}
			case op < 82:
				segs := l.Segments()
				if len(segs) > 1 {
					if err := l.DeleteOldestSegment(segs[0].BaseOffset); err != nil {
						t.Fatal(err)
					}
				}
			case op < 86:
				// DeleteRecords: a log start inside a segment, or at the log end.
				start, next := l.LogStartOffset(), l.NextOffset()
				if next > start {
					if err := l.SetLogStartOffset(start + r.Int64N(next-start+1)); err != nil {
						t.Fatal(err)
					}
				}
			case op < 87:
				// Restart an emptied log further on (a restore).
				if err := l.Delete(); err != nil {
					t.Fatal(err)
				}
				l = mustOpen(t, testDir, cfg)
				batches = nil
				next := int64(1000 * (step + 1))
				if err := l.SetLogStartOffset(next); err != nil {
					t.Fatal(err)
				}
			case op < 89:
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = mustOpen(t, testDir, cfg)
			default:
				check(step)
			}
		}
		check(-1)
		l.Close()
	}
}

// BenchmarkFindTimestamp is ListOffsets by timestamp on a log of n one-batch segments
// whose timestamps rise, for targets spread over the whole history: the cost should not
// grow with n beyond its logarithm.
func BenchmarkFindTimestamp(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) {
			dir := b.TempDir() // see BenchmarkHistoryBookkeeping
			if d, err := os.MkdirTemp("/dev/shm", "strata-bench-"); err == nil {
				dir = d
				b.Cleanup(func() { os.RemoveAll(d) })
			}
			l := mustOpen(b, dir, segment.Config{SegmentBytes: 1})
			defer l.Close()
			for i := range n {
				mustAppend(b, l, batchOf(int64(1000+10*i), 1))
			}
			r := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for b.Loop() {
				i := r.IntN(n)
				res, ok, err := l.FindTimestamp(int64(1000 + 10*i))
				if err != nil || !ok || res.FirstOffset != int64(i) {
					b.Fatalf("FindTimestamp of segment %d: %+v %v %v", i, res, ok, err)
				}
			}
		})
	}
}
