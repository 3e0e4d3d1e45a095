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
)

// chunkBytes is the content of chunk idx in these tests.
func chunkBytes(idx int64) []byte { return bytes.Repeat([]byte{byte('a' + idx)}, 100) }

// runLoads is a RunLoadFunc that records its calls and puts the test chunks; failAt >= 0
// makes it fail instead of putting that chunk, and release (if not nil) holds it until
// closed.
type runLoads struct {
	mu      sync.Mutex
	calls   [][2]int64 // first, n
	failAt  int64
	release chan struct{}
}

func (r *runLoads) load(ctx context.Context, first int64, n int, put func([]byte)) error {
	r.mu.Lock()
	r.calls = append(r.calls, [2]int64{first, int64(n)})
	r.mu.Unlock()
	if r.release != nil {
		<-r.release
	}
	for idx := first; idx < first+int64(n); idx++ {
		if idx == r.failAt {
			return fmt.Errorf("body cut at chunk %d", idx)
		}
		put(chunkBytes(idx))
	}
	return nil
}

func (r *runLoads) got() [][2]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][2]int64(nil), r.calls...)
}

func mustNotLoad(t *testing.T) LoadFunc {
	return func(context.Context) ([]byte, error) {
		t.Error("a reader loaded a chunk that a run was loading")
		return nil, errors.New("unexpected load")
	}
}

func waitChunks(t *testing.T, c *Cache, key string, idx ...int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, i := range idx {
		for !c.HasChunk(key, i) {
			if time.Now().After(deadline) {
				t.Fatalf("chunk %d never cached", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// One run loads consecutive chunks with one call; readers of any of its chunks wait for it
// (no load of their own) and get their chunk's bytes; each chunk is a cache entry of its own.
func TestPrefetchRunIsOneLoadSharedByReaders(t *testing.T) {
	c := newCache(t, Config{})
	r := &runLoads{failAt: -1, release: make(chan struct{})}
	c.PrefetchRun(t.Context(), "seg", 0, 4, r.load)
	var wg sync.WaitGroup
	for idx := range int64(4) {
		wg.Go(func() {
			b, err := c.Chunk(t.Context(), "seg", idx, mustNotLoad(t))
			if err != nil || !bytes.Equal(b, chunkBytes(idx)) {
				t.Errorf("chunk %d: %q, %v", idx, b, err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond) // readers wait on the run
	close(r.release)
	wg.Wait()
	if got := r.got(); len(got) != 1 || got[0] != [2]int64{0, 4} {
		t.Fatalf("run loads %v, want one of chunks 0..3", got)
	}
	if chunks, _ := c.Loads(); chunks != 4 {
		t.Fatalf("%d chunk loads, want 4", chunks)
	}
	c.PrefetchRun(t.Context(), "seg", 0, 4, r.load) // all cached: nothing to load
	c.Close()
	if got := r.got(); len(got) != 1 {
		t.Fatalf("cached chunks loaded again: %v", got)
	}
}

// A run covers only chunks that are neither cached nor being loaded: the range is split
// around them, one load per stretch.
func TestPrefetchRunSkipsCachedAndLoadingChunks(t *testing.T) {
	c := newCache(t, Config{})
	if _, err := c.Chunk(t.Context(), "seg", 2, func(context.Context) ([]byte, error) { return chunkBytes(2), nil }); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	readerDone := make(chan error)
	go func() { // chunk 5 is being loaded by a reader
		_, err := c.Chunk(t.Context(), "seg", 5, func(context.Context) ([]byte, error) { <-hold; return chunkBytes(5), nil })
		readerDone <- err
	}()
	time.Sleep(20 * time.Millisecond)
	r := &runLoads{failAt: -1}
	c.PrefetchRun(t.Context(), "seg", 0, 8, r.load)
	waitChunks(t, c, "seg", 0, 1, 3, 4, 6, 7)
	close(hold)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	got := r.got()
	want := map[[2]int64]bool{{0, 2}: true, {3, 2}: true, {6, 2}: true}
	if len(got) != len(want) {
		t.Fatalf("run loads %v, want %v", got, want)
	}
	for _, g := range got {
		if !want[g] {
			t.Fatalf("run loads %v, want %v", got, want)
		}
	}
	for idx := range int64(8) {
		b, err := c.Chunk(t.Context(), "seg", idx, mustNotLoad(t))
		if err != nil || !bytes.Equal(b, chunkBytes(idx)) {
			t.Fatalf("chunk %d: %q, %v", idx, b, err)
		}
	}
}

// A run that fails part-way keeps the chunks it put; a reader of a chunk it did not reach
// loads that chunk itself (a failed read-ahead never fails a reader on its own).
func TestFailedRunFallsBackToReaderLoads(t *testing.T) {
	c := newCache(t, Config{})
	r := &runLoads{failAt: 1, release: make(chan struct{})}
	c.PrefetchRun(t.Context(), "seg", 0, 3, r.load)
	var own atomic.Int64
	var wg sync.WaitGroup
	for idx := range int64(3) {
		wg.Go(func() {
			b, err := c.Chunk(t.Context(), "seg", idx, func(context.Context) ([]byte, error) {
				own.Add(1)
				return chunkBytes(idx), nil
			})
			if err != nil || !bytes.Equal(b, chunkBytes(idx)) {
				t.Errorf("chunk %d: %q, %v", idx, b, err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(r.release)
	wg.Wait()
	if n := own.Load(); n != 2 {
		t.Fatalf("%d reader loads, want 2 (chunks 1 and 2, which the run did not put)", n)
	}
	if b, err := c.Chunk(t.Context(), "seg", 1, mustNotLoad(t)); err != nil || !bytes.Equal(b, chunkBytes(1)) {
		t.Fatalf("chunk 1 not cached by its reader's load: %q, %v", b, err)
	}
}

// A run load that returns without putting all its chunks fails the rest (readers load
// them themselves) rather than leaving them waiting.
func TestShortRunDoesNotStrandReaders(t *testing.T) {
	c := newCache(t, Config{})
	c.PrefetchRun(t.Context(), "seg", 0, 3, func(ctx context.Context, first int64, n int, put func([]byte)) error {
		put(chunkBytes(first))
		return nil
	})
	waitChunks(t, c, "seg", 0)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	b, err := c.Chunk(ctx, "seg", 2, func(context.Context) ([]byte, error) { return chunkBytes(2), nil })
	if err != nil || !bytes.Equal(b, chunkBytes(2)) {
		t.Fatalf("chunk 2: %q, %v", b, err)
	}
}
