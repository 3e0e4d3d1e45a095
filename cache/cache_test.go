package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newCache(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestConcurrentReadersShareOneLoad(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c := newCache(t, Config{MaxBytes: 64 << 20, Metrics: m})
	var gets atomic.Int64
	release := make(chan struct{})
	load := func(ctx context.Context) ([]byte, error) {
		gets.Add(1)
		<-release
		return bytes.Repeat([]byte{7}, 1<<20), nil
	}
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			b, err := c.Chunk(t.Context(), "topic-x/0/seg.log", 3, load)
			if err == nil && (len(b) != 1<<20 || b[0] != 7) {
				err = fmt.Errorf("bad chunk: len %d", len(b))
			}
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond) // let all readers queue on the flight
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if g := gets.Load(); g != 1 {
		t.Fatalf("%d GETs for %d concurrent readers, want 1", g, n)
	}
	// The next reader hits without a load.
	if _, err := c.Chunk(t.Context(), "topic-x/0/seg.log", 3, load); err != nil {
		t.Fatal(err)
	}
	if g := gets.Load(); g != 1 {
		t.Fatalf("cached chunk loaded again: %d GETs", g)
	}
	if got := testutil.ToFloat64(m.loads.WithLabelValues("chunk")); got != 1 {
		t.Fatalf("loads metric %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.hits.WithLabelValues("chunk")); got < 1 {
		t.Fatalf("hits metric %v, want >= 1", got)
	}
}

func TestEvictionKeepsWithinBudget(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	const budget = 8 << 20
	c := newCache(t, Config{MaxBytes: budget, IndexMaxBytes: 1 << 20, Metrics: m})
	for i := range 64 {
		_, err := c.Chunk(t.Context(), "k", int64(i), func(context.Context) ([]byte, error) {
			return make([]byte, 1<<20), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if used, _ := c.Bytes(); used > budget {
			t.Fatalf("after %d chunks: %d bytes cached, budget %d", i+1, used, budget)
		}
	}
	if used, _ := c.Bytes(); used == 0 {
		t.Fatal("nothing cached")
	}
	if ev := testutil.ToFloat64(m.evictions.WithLabelValues("chunk")); ev == 0 {
		t.Fatal("no evictions counted after inserting 8x the budget")
	}
	// Index budget is separate: filling chunks leaves indexes alone.
	if _, err := c.Index(t.Context(), "idx", func(context.Context) ([]byte, error) { return make([]byte, 1000), nil }); err != nil {
		t.Fatal(err)
	}
	if _, idx := c.Bytes(); idx != 1000 {
		t.Fatalf("index bytes %d, want 1000", idx)
	}
}

func TestPrefetchReadAhead(t *testing.T) {
	c := newCache(t, Config{})
	var gets atomic.Int64
	load := func(context.Context) ([]byte, error) { gets.Add(1); return []byte("next"), nil }
	c.Prefetch(t.Context(), "seg", 1, load)
	deadline := time.Now().Add(5 * time.Second)
	for !c.HasChunk("seg", 1) {
		if time.Now().After(deadline) {
			t.Fatal("prefetched chunk never appeared")
		}
		time.Sleep(time.Millisecond)
	}
	b, err := c.Chunk(t.Context(), "seg", 1, func(context.Context) ([]byte, error) {
		return nil, errors.New("reader should have hit the prefetched chunk")
	})
	if err != nil || string(b) != "next" {
		t.Fatalf("got %q, %v", b, err)
	}
	c.Prefetch(t.Context(), "seg", 1, load) // already cached: no load
	c.Close()
	if g := gets.Load(); g != 1 {
		t.Fatalf("%d loads, want 1", g)
	}
}

func TestCancelledWaiterDoesNotCancelSharedLoad(t *testing.T) {
	c := newCache(t, Config{})
	release := make(chan struct{})
	var gets atomic.Int64
	load := func(ctx context.Context) ([]byte, error) {
		gets.Add(1)
		select {
		case <-release:
			return []byte("x"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { _, err := c.Chunk(ctx, "k", 0, load); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	second := make(chan error)
	go func() { _, err := c.Chunk(t.Context(), "k", 0, load); second <- err }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if g := gets.Load(); g != 1 {
		t.Fatalf("%d loads, want 1 (the cancelled caller's load should have been shared)", g)
	}
}

func TestLoadErrorIsReturnedAndNotCached(t *testing.T) {
	c := newCache(t, Config{})
	boom := errors.New("bucket down")
	if _, err := c.Chunk(t.Context(), "k", 0, func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	b, err := c.Chunk(t.Context(), "k", 0, func(context.Context) ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(b) != "ok" {
		t.Fatalf("after error: %q %v", b, err)
	}
}
