package test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
)

// TestTierMinIOThroughput measures upload and cold/warm sequential remote reads of 64 MiB
// (8 MiB segments) against a local MinIO. Runs with STRATA_TIER_BENCH=1 or in make soak.
func TestTierMinIOThroughput(t *testing.T) {
	if os.Getenv("STRATA_TIER_BENCH") == "" && os.Getenv("STRATA_SOAK") == "" {
		t.Skip("set STRATA_TIER_BENCH=1 (or STRATA_SOAK=1)")
	}
	srv := miniotest.Start(t)
	store := tierS3Store(t, srv, srv.NewBucket(t))
	l := tierLog(t, 8<<20)
	val := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	for i := range 4096 {
		if _, err := l.Append(segmenttest.Batch(int64(i), val), segment.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l.Roll()
	var total int64
	for _, s := range l.Segments() {
		total += s.Size
	}
	id := [16]byte{7}
	m := tierManager(t, store, "bench")
	p, err := m.OpenPartition(t.Context(), "bench", id, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	read := func(p *tiering.RemotePartition) time.Duration {
		start := time.Now()
		_, end, _ := p.Bounds()
		for off := int64(0); off < end; {
			b, err := p.Read(t.Context(), off, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			off = tierLastOffset(t, b) + 1
		}
		return time.Since(start)
	}
	m2 := tierManagerSized(t, store, "bench", 4<<20, 256<<20) // the broker's defaults
	p2, err := m2.OpenPartition(t.Context(), "bench", id, 0, nil, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cold := read(p2)
	warm := read(p2)
	mb := float64(total) / (1 << 20)
	t.Logf("%.0f MiB: upload %.0f MiB/s, cold read %.0f MiB/s, warm read %.0f MiB/s",
		mb, mb/up.Seconds(), mb/cold.Seconds(), mb/warm.Seconds())
}
