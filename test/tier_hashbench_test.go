package test

import (
	"bytes"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
)

// TestTierColdReplayHashCost measures what the SHA-256 check of remote reads costs a cold
// sequential replay: 128 MiB in 8 MiB segments uploaded with the broker's 4 MiB chunks
// (so hash blocks of 1 MiB, hashed four at a time, and a hash list per segment), replayed 8 MiB at a time on an
// empty default cache with the check on and off (Config.SkipHashCheck), in interleaved
// rounds against one MinIO. It reports the median throughputs, their ratio (goal >= 0.9)
// and the reader's CPU per MB. Runs with STRATA_TIER_BENCH=1; it asserts nothing about
// speed (the machine is shared), only that every replay returns every byte.
func TestTierColdReplayHashCost(t *testing.T) {
	if os.Getenv("STRATA_TIER_BENCH") == "" {
		t.Skip("a benchmark run as a test: set STRATA_TIER_BENCH=1 (it measures, never asserts timings)")
	}
	srv := miniotest.Start(t)
	store := tierS3Store(t, srv, srv.NewBucket(t))
	l := tierLog(t, 8<<20)
	val := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	for i := range 8192 {
		if _, err := l.Append(segmenttest.Batch(int64(i), val), segment.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l.Roll()
	var total int64
	for _, s := range l.Segments() {
		total += s.Size
	}
	id := [16]byte{10}
	m := tierManagerSized(t, store, "hash", 4<<20, 256<<20)
	p, err := m.OpenPartition(t.Context(), "hash", id, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e := p.Entries()[0]; e.Hashes == nil || e.HashBlock != 1<<20 {
		t.Fatalf("uploaded without a hash list: %+v", e)
	}
	_, end, _ := p.Bounds()
	self := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	replay := func(skip bool) (mbps, cpuMsPerMB float64) {
		c, err := cache.New(cache.Config{}) // the broker's default 256 MiB
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		m2, err := tiering.NewManager(tiering.Config{Prefix: "hash", SkipHashCheck: skip, OrphanSweepInterval: -1},
			store, c, nil, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		p2, err := m2.OpenPartition(t.Context(), "hash", id, 0, nil, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		s0, w0 := self(), time.Now()
		for off := int64(0); off < end; {
			r, err := p2.ReadRecords(t.Context(), off, 8<<20, true, tiering.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n += int64(r.Len())
			off = r.Next
		}
		if n != total {
			t.Fatalf("replayed %d bytes of %d", n, total)
		}
		mb := float64(n) / 1e6
		return mb / time.Since(w0).Seconds(), float64((self() - s0).Microseconds()) / 1000 / mb
	}
	var on, off, onCPU, offCPU []float64
	for range 5 {
		a, b := replay(false)
		on, onCPU = append(on, a), append(onCPU, b)
		a, b = replay(true)
		off, offCPU = append(off, a), append(offCPU, b)
	}
	med := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	t.Logf("cold replay of %d MiB, median of 5: hashes checked %.0f MB/s (reader CPU %.3f ms/MB), unchecked %.0f MB/s (%.3f ms/MB): ratio %.2f",
		total>>20, med(on), med(onCPU), med(off), med(offCPU), med(on)/med(off))
}
