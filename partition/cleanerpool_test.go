package partition

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func dirtyPartition(t *testing.T, n int) *Partition {
	t.Helper()
	cfg := compactConfig(t, "compact")
	cfg.MinCleanableDirtyRatio = 0.5
	p, err := Open(Options{Topic: t.Name() + fmt.Sprint(time.Now().UnixNano()), Dir: t.TempDir(), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	now := time.Now()
	for i := range n {
		appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec(fmt.Sprintf("k%d", i%10), strings.Repeat("v", 100))), now)
	}
	p.Roll()
	return p
}

// TestCleanerPoolMetrics: Kick cleans the due compacted partitions with at most Threads
// at once and exports what it did.
func TestCleanerPoolMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCleaner(CleanerConfig{Enable: true, Threads: 2, DedupeBufferBytes: 1 << 20}, reg)
	ps := []*Partition{dirtyPartition(t, 200), dirtyPartition(t, 200), dirtyPartition(t, 200)}
	plain := openCompacted(t, nil, t.TempDir(), compactConfig(t, "delete"))
	defer plain.Close()
	for _, p := range ps {
		if r := p.CleanableInfo(time.Now()).Ratio(); r != 1 {
			t.Fatalf("dirty ratio before cleaning %v, want 1", r)
		}
	}
	c.Kick(t.Context(), append(ps, plain), time.Now()) // two threads: two partitions
	c.Wait()
	if got := testutil.ToFloat64(c.metrics.runs.WithLabelValues("cleaned")); got != 2 {
		t.Fatalf("cleaned runs %v after one look with two threads, want 2", got)
	}
	c.Kick(t.Context(), append(ps, plain), time.Now()) // the third, and nothing due for the others
	c.Wait()
	if got := testutil.ToFloat64(c.metrics.runs.WithLabelValues("cleaned")); got != 3 {
		t.Fatalf("cleaned runs %v, want 3", got)
	}
	if testutil.ToFloat64(c.metrics.read) <= testutil.ToFloat64(c.metrics.written) || testutil.ToFloat64(c.metrics.written) <= 0 {
		t.Fatalf("read %v, written %v", testutil.ToFloat64(c.metrics.read), testutil.ToFloat64(c.metrics.written))
	}
	if got := testutil.ToFloat64(c.metrics.removed); got != 3*190 {
		t.Fatalf("removed %v, want %d", got, 3*190)
	}
	c.Kick(t.Context(), append(ps, plain), time.Now()) // refresh the per-partition figures
	c.Wait()
	if n := testutil.CollectAndCount(c.metrics, "strata_log_cleaner_dirty_ratio"); n != 3 {
		t.Fatalf("%d dirty ratio series, want 3 (the compacted partitions)", n)
	}
	for _, p := range ps {
		if p.LastClean().IsZero() {
			t.Fatal("last clean not recorded")
		}
		if info := c.Stats()[p]; info.Ratio() != 0 || info.CleanBytes == 0 {
			t.Fatalf("after cleaning: %+v", info)
		}
		if r := p.View().CleanableRatio; r != 0 {
			t.Fatalf("view's cleanable ratio %v after cleaning, want 0", r)
		}
	}
	if r := plain.View().CleanableRatio; r != -1 {
		t.Fatalf("view's cleanable ratio of a delete topic %v, want -1", r)
	}
}

// TestCleanerIOLimit: log.cleaner.io.max.bytes.per.second spaces a clean's I/O out.
func TestCleanerIOLimit(t *testing.T) {
	p := dirtyPartition(t, 300)
	size := p.SizeBytes()
	const rate = 200_000
	c := NewCleaner(CleanerConfig{Enable: true, IOMaxBytesPerSecond: rate}, nil)
	start := time.Now()
	c.Kick(t.Context(), []*Partition{p}, time.Now())
	c.Wait()
	took := time.Since(start)
	// The clean reads the log twice (key map, copy): at least 2*size bytes, minus the
	// first request's burst.
	if min := time.Duration(float64(2*size-cleanReadBytes) / rate * float64(time.Second)); took < min {
		t.Fatalf("clean of %d bytes took %v, under the %v the limit allows", size, took, min)
	}
	if p.LastClean().IsZero() {
		t.Fatal("not cleaned")
	}
}
