package segment_test

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
)

// Regression tests for reads racing the writer. The reliability checker saw a consumer
// read offset N-1 and then get OFFSET_OUT_OF_RANGE for a fetch at N: a Read had returned a
// batch whose offsets were not yet below NextOffset (the writer publishes a segment's size
// before the log end offset). And a Read racing a segment deletion answered
// ErrOffsetOutOfRange for an offset that was still at or above LogStartOffset.

// stressDuration bounds each stress test; -short runs them briefly.
func stressDuration() time.Duration {
	if testing.Short() {
		return 300 * time.Millisecond
	}
	return 1500 * time.Millisecond
}

// TestReadNeverReturnsOffsetsAtOrAboveNextOffset: whatever a Read returns lies below the
// NextOffset observed after it returned, so a consumer never gets ahead of the high
// watermark, while a writer appends and rolls tiny segments.
func TestReadNeverReturnsOffsetsAtOrAboveNextOffset(t *testing.T) {
	l := mustOpen(t, t.TempDir(), segment.Config{SegmentBytes: 2048, IndexIntervalBytes: 128})
	defer l.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads, tailHits atomic.Int64
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				// Read at the tail, where the batch being appended shows up.
				next := l.NextOffset()
				for off := max(l.LogStartOffset(), next-2); off <= next; off++ {
					r, err := l.Read(off, 1<<20, true)
					if err != nil {
						t.Errorf("read %d (log end was %d): %v", off, next, err)
						stop.Store(true)
						return
					}
					after := l.NextOffset()
					b, err := r.Bytes()
					if err != nil {
						t.Errorf("read bytes at %d: %v", off, err)
						stop.Store(true)
						return
					}
					reads.Add(1)
					for len(b) > 0 {
						batch := split(t, b)[0]
						if last := lastOf(batch); last >= after {
							t.Errorf("read at %d returned offset %d, but NextOffset after the read is %d", off, last, after)
							stop.Store(true)
							return
						}
						if lastOf(batch)+1 == after {
							tailHits.Add(1)
						}
						b = b[len(batch):]
					}
				}
			}
		})
	}
	deadline := time.Now().Add(stressDuration())
	for i := 0; time.Now().Before(deadline) && !stop.Load(); i++ {
		mustAppend(t, l, batchOf(int64(i), 1+i%3))
		if i%7 == 0 {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads, %d ended at the log end", reads.Load(), tailHits.Load())
}

// TestReadAtOrAboveLogStartNeverOutOfRange: while retention deletes segments under
// readers, a Read of an offset in [LogStartOffset, NextOffset] either succeeds or fails
// with ErrOffsetOutOfRange only when LogStartOffset (read after the failure) has moved past
// the offset.
func TestReadAtOrAboveLogStartNeverOutOfRange(t *testing.T) {
	l := mustOpen(t, t.TempDir(), segment.Config{SegmentBytes: 1024, IndexIntervalBytes: 128})
	defer l.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads, raced atomic.Int64
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				start, next := l.LogStartOffset(), l.NextOffset()
				// The oldest offsets are the ones retention takes away.
				for off := start; off <= min(next, start+40); off++ {
					_, err := l.Read(off, 512, true)
					reads.Add(1)
					if err == nil {
						continue
					}
					if errors.Is(err, segment.ErrOffsetOutOfRange) && off < l.LogStartOffset() {
						raced.Add(1)
						break // retention moved the start: the caller goes to the tier
					}
					t.Errorf("read %d (log start now %d, end %d): %v", off, l.LogStartOffset(), l.NextOffset(), err)
					stop.Store(true)
					return
				}
			}
		})
	}
	deadline := time.Now().Add(stressDuration())
	for i := 0; time.Now().Before(deadline) && !stop.Load(); i++ {
		mustAppend(t, l, batchOf(int64(i), 2))
		if i%5 == 4 {
			if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 2048}, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
		}
		if i%50 == 49 {
			if err := l.SetLogStartOffset(l.LogStartOffset() + 3); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads, %d saw retention move the start", reads.Load(), raced.Load())
}
