package test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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

// TestTierColdReadCPU compares, in one process against one MinIO and in interleaved
// rounds, the CPU a cold sequential replay costs the reader (this process) and MinIO per MB
// with read-ahead GETs of one chunk (ReadAheadRunChunks 1) and with the default aligned
// runs: 128 MiB in segments of STRATA_COLD_SEGMENT_MIB (default 8, the bench's), read 8 MiB
// at a time with the broker's default chunk and cache sizes, every round on an empty cache.
// CPU times are less sensitive than throughput to the load of a shared machine. Runs with
// STRATA_TIER_BENCH=1.
func TestTierColdReadCPU(t *testing.T) {
	if os.Getenv("STRATA_TIER_BENCH") == "" {
		t.Skip("set STRATA_TIER_BENCH=1")
	}
	segMiB := int64(8)
	if v, err := strconv.ParseInt(os.Getenv("STRATA_COLD_SEGMENT_MIB"), 10, 64); err == nil && v > 0 {
		segMiB = v
	}
	srv := miniotest.Start(t)
	store := tierS3Store(t, srv, srv.NewBucket(t))
	l := tierLog(t, segMiB<<20)
	val := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	for i := range 8192 {
		if _, err := l.Append(segmenttest.Batch(int64(i), val), segment.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l.Roll()
	id := [16]byte{9}
	m := tierManager(t, store, "cold")
	p, err := m.OpenPartition(t.Context(), "cold", id, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, end, _ := p.Bounds()
	cpu := func(pid int) time.Duration { // user + system of a process, from /proc
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(u+s) * 10 * time.Millisecond // USER_HZ = 100
	}
	self := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	replay := func(run int) (mbps, selfMs, minioMs float64) {
		c, err := cache.New(cache.Config{}) // the broker's default 256 MiB
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		m2, err := tiering.NewManager(tiering.Config{Prefix: "cold", ReadAheadRunChunks: run, OrphanSweepInterval: -1},
			store, c, nil, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		p2, err := m2.OpenPartition(t.Context(), "cold", id, 0, nil, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		s0, m0, w0 := self(), cpu(srv.Pid()), time.Now()
		for off := int64(0); off < end; {
			r, err := p2.ReadRecords(t.Context(), off, 8<<20, true, tiering.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n += int64(r.Len())
			off = r.Next
		}
		el := time.Since(w0).Seconds()
		mb := float64(n) / 1e6
		return mb / el, float64((self() - s0).Microseconds()) / 1000 / mb, float64((cpu(srv.Pid()) - m0).Microseconds()) / 1000 / mb
	}
	res := map[int][][3]float64{}
	for range 5 {
		for _, run := range []int{1, 4} {
			a, b, c := replay(run)
			res[run] = append(res[run], [3]float64{a, b, c})
		}
	}
	med := func(xs [][3]float64, i int) float64 {
		v := make([]float64, len(xs))
		for j, x := range xs {
			v[j] = x[i]
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, run := range []int{1, 4} {
		t.Logf("segments %d MiB, runs of %d chunks: median of %d: %.0f MB/s, reader CPU %.3f ms/MB, MinIO CPU %.3f ms/MB",
			segMiB, run, len(res[run]), med(res[run], 0), med(res[run], 1), med(res[run], 2))
	}
}
