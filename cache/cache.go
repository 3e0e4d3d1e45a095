// Package cache holds the bytes of remote (tiered) segments that readers need again:
// whole index objects and fixed-size data chunks of segment objects. Both are bounded by a
// byte budget: a quarter of it is an LRU admission window that every loaded entry enters,
// the rest a ristretto v2 cache (cost = len(value)) that admits what leaves the window by
// frequency (see window.go for why). Loads are de-duplicated (one call in flight per key)
// so that N concurrent readers of one missing chunk cause exactly one GET.
//
// Keys are immutable: a remote object key names bytes that never change (segment objects
// carry a UUID and are never overwritten), so the cache never needs invalidation.
//
// Background loads: Prefetch loads a chunk the caller names without waiting for it, and
// PrefetchRun several consecutive chunks with one load (one ranged GET, cut into chunks as
// it arrives), so that a caller's GETs can be large while the cache keeps its chunk
// granularity. A reader of a chunk that a run is loading waits for the run rather than
// sending its own GET. The cache only carries out these loads: which chunks to load ahead,
// and how many, is the caller's policy (tiering/readahead.go). Background loads are
// best-effort: they are dropped when ReadAheadConcurrency loads are already running, and
// Close waits for them.
package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// ErrClosed is returned by loads started after Close.
var ErrClosed = errors.New("cache: closed")

// Config sizes a Cache. The zero value is usable.
type Config struct {
	MaxBytes             int64         // budget for data chunks (a quarter of it is the LRU admission window); default 256 MiB
	IndexMaxBytes        int64         // separate budget for index objects (same split); default 32 MiB
	ReadAheadConcurrency int           // background prefetch loads at once; default 16
	LoadTimeout          time.Duration // bound on one shared load (it outlives a cancelled caller); default 2 min
	Metrics              *Metrics      // nil = no metrics
}

func (c Config) withDefaults() Config {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 256 << 20
	}
	if c.IndexMaxBytes <= 0 {
		c.IndexMaxBytes = 32 << 20
	}
	if c.ReadAheadConcurrency <= 0 {
		c.ReadAheadConcurrency = 16
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = 2 * time.Minute
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.MaxBytes < 0 || c.IndexMaxBytes < 0 {
		return fmt.Errorf("cache: negative budget (MaxBytes %d, IndexMaxBytes %d)", c.MaxBytes, c.IndexMaxBytes)
	}
	return nil
}

// LoadFunc fetches the bytes of one cache entry (a ranged GET).
type LoadFunc func(ctx context.Context) ([]byte, error)

// RunLoadFunc fetches chunks first, first+1, ..., first+n-1 of one object with one request
// (a ranged GET of all of them) and calls put with each chunk's bytes, in order, as soon as
// the chunk is complete, so that a reader waiting for the first chunk does not wait for the
// whole run. It returns at the first error; chunks not put by then fail with it.
type RunLoadFunc func(ctx context.Context, first int64, n int, put func([]byte)) error

// Cache is safe for concurrent use.
type Cache struct {
	cfg    Config
	chunks *tier
	index  *tier

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	sem    chan struct{}
}

// tier is one budget: an LRU admission window (a quarter of the budget) in front of a
// ristretto cache (the rest), plus the loads in flight.
type tier struct {
	kind   string
	win    *window
	recent *recentSet // keys loaded lately (prefetch skips them)
	rc     *ristretto.Cache[string, []byte]
	m      *Metrics
	loads  atomic.Int64

	mu    sync.Mutex
	calls map[string]*call // loads in flight, by key
}

// call is the load of one entry in flight, alone or as part of a run; every reader of its
// key waits for it rather than loading the entry again. done is closed once val or err is
// set, after a loaded value has been put in the cache.
type call struct {
	done chan struct{}
	val  []byte
	err  error
	run  bool // loaded by a run: a reader whose run failed loads the entry itself once
}

// lookup finds k in ristretto or the window. A window hit also touches ristretto, so that
// the frequency of entries still in the window counts when they are offered to it.
func (t *tier) lookup(k string) ([]byte, bool) {
	if v, ok := t.rc.Get(k); ok {
		return v, true
	}
	return t.win.get(k)
}

// add puts a loaded entry in the window and offers what the window pushes out to
// ristretto (which admits by frequency).
func (t *tier) add(k string, v []byte) {
	evicted := t.win.put(k, v)
	for _, it := range evicted {
		t.rc.Set(it.key, it.val, int64(len(it.val)))
	}
	if len(evicted) > 0 {
		t.rc.Wait()
	}
}

// join returns the load in flight for k, or registers a new one that the caller (owner)
// must run and finish.
func (t *tier) join(k string, run bool) (cl *call, owner bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cl := t.calls[k]; cl != nil {
		return cl, false
	}
	cl = &call{done: make(chan struct{}), run: run}
	t.calls[k] = cl
	return cl, true
}

// claimFree registers a load for k, as part of a run, if k is not cached, not being
// loaded and was not loaded lately (its reader got there first; if it is gone again, it
// was not needed).
func (t *tier) claimFree(k string) *call {
	if _, ok := t.lookup(k); ok || t.recent.has(k) {
		return nil
	}
	if cl, owner := t.join(k, true); owner {
		return cl
	}
	return nil
}

// finish ends cl, the load of k: a loaded value is in the cache before cl leaves calls,
// so a reader always finds one or the other.
func (t *tier) finish(k string, cl *call, v []byte, err error) {
	t.mu.Lock()
	if t.calls[k] == cl {
		delete(t.calls, k)
	}
	t.mu.Unlock()
	cl.val, cl.err = v, err
	close(cl.done)
}

// stored notes that v was loaded for k and puts it in the cache.
func (t *tier) stored(k string, v []byte) {
	t.loads.Add(1)
	if t.m != nil {
		t.m.loads.WithLabelValues(t.kind).Inc()
	}
	t.recent.add(k)
	t.add(k, v)
	if t.m != nil {
		t.m.bytes.WithLabelValues(t.kind).Set(float64(t.used()))
	}
}

// New builds a cache with cfg (defaults applied).
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	chunks, err := newTier("chunk", cfg.MaxBytes, 4<<20, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	index, err := newTier("index", cfg.IndexMaxBytes, 64<<10, cfg.Metrics)
	if err != nil {
		chunks.rc.Close()
		return nil, err
	}
	return &Cache{cfg: cfg, chunks: chunks, index: index,
		sem: make(chan struct{}, cfg.ReadAheadConcurrency)}, nil
}

func newTier(kind string, maxBytes, typical int64, m *Metrics) (*tier, error) {
	winBytes := maxBytes / 4
	t := &tier{kind: kind, m: m, win: newWindow(winBytes), recent: newRecentSet(4096), calls: make(map[string]*call)}
	maxBytes -= winBytes
	// NumCounters ~ 10x the number of items expected when full (ristretto's advice).
	items := maxBytes / typical
	if items < 100 {
		items = 100
	}
	rc, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters:        items * 10,
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
		OnEvict: func(it *ristretto.Item[[]byte]) {
			if t.m != nil {
				t.m.evictions.WithLabelValues(kind).Inc()
			}
		},
		OnReject: func(it *ristretto.Item[[]byte]) { // left the window, not admitted
			if t.m != nil {
				t.m.evictions.WithLabelValues(kind).Inc()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cache: create %s cache: %w", kind, err)
	}
	t.rc = rc
	return t, nil
}

func chunkKey(key string, idx int64) string { return key + "\x00" + strconv.FormatInt(idx, 10) }

// Chunk returns chunk idx of object key, loading it with load on a miss. Concurrent
// callers for the same chunk share one load. The returned slice must not be modified.
func (c *Cache) Chunk(ctx context.Context, key string, idx int64, load LoadFunc) ([]byte, error) {
	return c.get(ctx, c.chunks, chunkKey(key, idx), load)
}

// Index returns the whole index object key, loading it with load on a miss.
func (c *Cache) Index(ctx context.Context, key string, load LoadFunc) ([]byte, error) {
	return c.get(ctx, c.index, key, load)
}

// HasChunk reports whether chunk idx of key is cached (for tests and read-ahead decisions).
func (c *Cache) HasChunk(key string, idx int64) bool {
	_, ok := c.chunks.lookup(chunkKey(key, idx))
	return ok
}

// Prefetch loads chunk idx of key in the background unless it is cached, already being
// loaded, was loaded lately, or ReadAheadConcurrency background loads are running
// (read-ahead is best-effort: under load it is dropped rather than queued). ctx supplies
// values only; the load is bounded by LoadTimeout, not by ctx's cancellation.
func (c *Cache) Prefetch(ctx context.Context, key string, idx int64, load LoadFunc) {
	c.PrefetchRun(ctx, key, idx, 1, func(ctx context.Context, _ int64, _ int, put func([]byte)) error {
		v, err := load(ctx)
		if err == nil {
			put(v)
		}
		return err
	})
}

// PrefetchRun is Prefetch of chunks first..first+n-1 of key with as few loads as possible:
// each stretch of consecutive chunks that are not cached, not being loaded and were not
// loaded lately is fetched by one call of load, which puts its chunks one by one; readers
// of a chunk of a running load wait for it. Every load takes one of the
// ReadAheadConcurrency slots; stretches that find none are dropped.
func (c *Cache) PrefetchRun(ctx context.Context, key string, first int64, n int, load RunLoadFunc) {
	t := c.chunks
	bg := context.WithoutCancel(ctx)
	for idx, end := first, first+int64(n); idx < end; {
		if !c.acquire() {
			return
		}
		var calls []*call
		start := idx
		for ; idx < end; idx++ {
			cl := t.claimFree(chunkKey(key, idx))
			if cl == nil {
				if len(calls) > 0 {
					break
				}
				start = idx + 1
				continue
			}
			calls = append(calls, cl)
		}
		idx++ // not free (or past end)
		if len(calls) == 0 {
			c.release()
			return
		}
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.prefetches.Add(float64(len(calls)))
		}
		go func() {
			defer c.release()
			c.runLoad(bg, key, start, calls, load)
		}()
	}
}

// acquire takes a background-load slot and registers the load with Close; false when the
// cache is closed or every slot is taken.
func (c *Cache) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	select {
	case c.sem <- struct{}{}:
	default:
		return false
	}
	c.wg.Add(1)
	return true
}

func (c *Cache) release() {
	<-c.sem
	c.wg.Done()
}

// runLoad runs load for the chunks of key from first that calls (claimed, in order) stand
// for, and finishes each call: with its chunk when load put it, else with load's error.
func (c *Cache) runLoad(ctx context.Context, key string, first int64, calls []*call, load RunLoadFunc) {
	t := c.chunks
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LoadTimeout)
	defer cancel()
	next := 0
	err := load(ctx, first, len(calls), func(v []byte) {
		if next >= len(calls) {
			return
		}
		k := chunkKey(key, first+int64(next))
		t.stored(k, v)
		t.finish(k, calls[next], v, nil)
		next++
	})
	if err == nil && next < len(calls) {
		err = fmt.Errorf("cache: load of %d chunks of %q from %d put %d", len(calls), key, first, next)
	}
	for ; next < len(calls); next++ {
		t.finish(chunkKey(key, first+int64(next)), calls[next], nil, err)
	}
}

// MaxBytes is the chunk budget (Config.MaxBytes after defaults).
func (c *Cache) MaxBytes() int64 { return c.cfg.MaxBytes }

// Bytes returns the bytes currently charged to the chunk and index budgets.
func (c *Cache) Bytes() (chunks, index int64) {
	return c.chunks.used(), c.index.used()
}

// Loads returns how many entries the chunk and index tiers have loaded (a read-ahead run
// counts each of its chunks, though it is one GET).
func (c *Cache) Loads() (chunks, index int64) {
	return c.chunks.loads.Load(), c.index.loads.Load()
}

// Close waits for running prefetches and releases the caches. Later calls fail with ErrClosed.
func (c *Cache) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
	c.chunks.rc.Close()
	c.index.rc.Close()
}

func (t *tier) used() int64 { return t.rc.MaxCost() - t.rc.RemainingCost() + t.win.used() }

func (c *Cache) get(ctx context.Context, t *tier, k string, load LoadFunc) ([]byte, error) {
	if v, ok := t.lookup(k); ok {
		if t.m != nil {
			t.m.hits.WithLabelValues(t.kind).Inc()
		}
		return v, nil
	}
	if t.m != nil {
		t.m.misses.WithLabelValues(t.kind).Inc()
	}
	for retried := false; ; retried = true {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		cl, owner := t.join(k, false)
		if owner {
			// The load outlives a cancelled caller: others may be waiting for it.
			go c.loadOne(context.WithoutCancel(ctx), t, k, cl, load)
		}
		select {
		case <-cl.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if cl.err == nil {
			return cl.val, nil
		}
		if !cl.run || retried {
			return nil, cl.err
		}
		// A run failed before or at this chunk (a prefetch): load it on the reader's behalf.
	}
}

// loadOne runs load for k (cl is its call): it rechecks the cache (a load may have finished
// between the caller's miss and its join), loads, and stores the value in the window,
// where the next reader finds it.
func (c *Cache) loadOne(ctx context.Context, t *tier, k string, cl *call, load LoadFunc) {
	if v, ok := t.lookup(k); ok {
		t.finish(k, cl, v, nil)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LoadTimeout)
	defer cancel()
	v, err := load(ctx)
	if err == nil {
		t.stored(k, v)
	}
	t.finish(k, cl, v, err)
}
