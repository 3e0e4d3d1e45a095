package segment_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
)

// BenchmarkHistoryBookkeeping is what a maintenance run, a metrics scrape and a
// ListOffsets(MAX_TIMESTAMP) ask of a log of n segments (Size, MaxTimestamp, a retention
// check that deletes nothing); the cost should not grow with n. After a roll or a
// deletion the figures are brought up to date by visiting only the changed segments
// (TestTotalsEqualRecount checks them).
func BenchmarkHistoryBookkeeping(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) {
			// The OS filesystem (in memory if /dev/shm is there): MemFS's SyncDir costs the
			// size of the directory.
			dir := b.TempDir()
			if d, err := os.MkdirTemp("/dev/shm", "strata-bench-"); err == nil {
				dir = d
				b.Cleanup(func() { os.RemoveAll(d) })
			}
			l := mustOpen(b, dir, segment.Config{SegmentBytes: 1})
			defer l.Close()
			for i := range n {
				mustAppend(b, l, batchOf(int64(1000+i), 1))
			}
			keep := segment.RetentionPolicy{Ms: -1, Bytes: 1 << 40}
			now := time.Now()
			b.ResetTimer()
			for b.Loop() {
				if l.Size() <= 0 {
					b.Fatal("empty log")
				}
				if ts, _ := l.MaxTimestamp(); ts != int64(1000+n-1) {
					b.Fatalf("max timestamp %d", ts)
				}
				if d, err := l.ApplyRetention(keep, now, nil); err != nil || len(d) > 0 {
					b.Fatal(d, err)
				}
			}
		})
	}
}
