package partition

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// BenchmarkMaintenanceAndScrape is one maintenance run and what one per-partition metrics
// scrape reads of a tiered partition (offsets, sizes, upload backlog) whose local log
// keeps n uploaded segments (local retention unlimited) and has a small backlog: the cost
// should not grow with n.
func BenchmarkMaintenanceAndScrape(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) {
			p := historyPartition(b, n)
			now := time.Now()
			var sink int64
			b.ResetTimer()
			for b.Loop() {
				p.runMaintenance(now)
				_, lag := p.UploadBacklog()
				sink += p.LogStartOffset() + p.LocalLogStartOffset() + p.HighWatermark() + p.SizeBytes() + p.RemoteBytes() + lag
			}
			_ = sink
		})
	}
}

// historyPartition opens a tiered partition (logs in memory) with n sealed segments, all
// uploaded, then a few more records not yet uploaded.
func historyPartition(b *testing.B, n int) *Partition {
	b.Helper()
	cfg := testConfig(b, map[string]string{
		"segment.bytes": "1", "remote.storage.enable": "true",
		"retention.ms": "-1", "retention.bytes": "-1",
	})
	p, err := Open(Options{Topic: "t", Dir: "/data/t-0", Config: cfg, FS: segmenttest.NewMemFS()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.close() })
	c, err := cache.New(cache.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	m, err := tiering.NewManager(tiering.Config{ChunkBytes: 1024}, memstore.New(), c, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	rp, err := m.OpenPartition(b.Context(), "t", [16]byte{1}, 0, p.log, tiering.PartitionConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.ClosePartition("t", 0) })
	p.setTier(rp)
	appendRecords(b, p, n, 1000) // segment.bytes 1: one segment per batch
	if err := rp.UploadPending(b.Context()); err != nil {
		b.Fatal(err)
	}
	appendRecords(b, p, 3, 1000+int64(n))
	if got := len(p.log.Segments()); got < n {
		b.Fatalf("%d segments, want at least %d", got, n)
	}
	return p
}

// appendRecords is appendN for benchmarks.
func appendRecords(tb testing.TB, p *Partition, n int, ts0 int64) {
	tb.Helper()
	for i := range n {
		b := testBatch(tb, codecNone, ts0+int64(i), []int64{0}, false)
		h, err := validateBatch(b, p.config(), time.Now())
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := p.append(b, h, time.Now()); err != nil {
			tb.Fatal(err)
		}
	}
}
