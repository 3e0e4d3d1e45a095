// Package cache holds the bytes of remote (tiered) segments that readers need again:
// whole index objects and fixed-size data chunks of segment objects. Both are bounded by a
// byte budget: a quarter of it is an LRU admission window that every loaded entry enters,
// the rest a ristretto v2 cache (cost = len(value)) that admits what leaves the window by
// frequency (see window.go for why). Loads are de-duplicated with singleflight so that N
// concurrent readers of one missing chunk cause exactly one GET.
//
// Keys are immutable: a remote object key names bytes that never change (segment objects
// carry a UUID and are never overwritten), so the cache never needs invalidation.
//
// Read-ahead: Prefetch starts a background load of a chunk the caller expects to need
// next (the tiering reader asks for the chunk after the one a sequential consumer just
// read, crossing into the next segment). Prefetches are best-effort: they are dropped
// when ReadAheadConcurrency loads are already running, and Close waits for them.
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
	"golang.org/x/sync/singleflight"
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

// Cache is safe for concurrent use.
type Cache struct {
	cfg    Config
	chunks *tier
	index  *tier

	mu       sync.Mutex
	closed   bool
	inflight map[string]bool // prefetches running, by chunk key
	wg       sync.WaitGroup
	sem      chan struct{}
}

// tier is one budget: an LRU admission window (a quarter of the budget) in front of a
// ristretto cache (the rest), plus the singleflight group of its loads.
type tier struct {
	kind   string
	win    *window
	recent *recentSet // keys loaded lately (prefetch skips them)
	rc     *ristretto.Cache[string, []byte]
	sf     singleflight.Group
	m      *Metrics
	loads  atomic.Int64
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
	return &Cache{cfg: cfg, chunks: chunks, index: index, inflight: make(map[string]bool),
		sem: make(chan struct{}, cfg.ReadAheadConcurrency)}, nil
}

func newTier(kind string, maxBytes, typical int64, m *Metrics) (*tier, error) {
	winBytes := maxBytes / 4
	t := &tier{kind: kind, m: m, win: newWindow(winBytes), recent: newRecentSet(4096)}
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
// loaded by a prefetch, or ReadAheadConcurrency prefetches are running (read-ahead is
// best-effort: under load it is dropped rather than queued). ctx supplies
// values only; the load is bounded by LoadTimeout, not by ctx's cancellation.
func (c *Cache) Prefetch(ctx context.Context, key string, idx int64, load LoadFunc) {
	k := chunkKey(key, idx)
	if _, ok := c.chunks.lookup(k); ok {
		return
	}
	c.mu.Lock()
	if c.closed || c.inflight[k] {
		c.mu.Unlock()
		return
	}
	select {
	case c.sem <- struct{}{}:
	default:
		c.mu.Unlock()
		return
	}
	c.inflight[k] = true
	c.wg.Add(1)
	c.mu.Unlock()
	bg := context.WithoutCancel(ctx)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.inflight, k)
			c.mu.Unlock()
			<-c.sem
		}()
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.prefetches.Inc()
		}
		if c.chunks.recent.has(k) {
			return // its reader got there first; if it is gone again, it was not needed
		}
		_, _ = c.load(bg, c.chunks, k, load)
	}()
}

// MaxBytes is the chunk budget (Config.MaxBytes after defaults).
func (c *Cache) MaxBytes() int64 { return c.cfg.MaxBytes }

// Bytes returns the bytes currently charged to the chunk and index budgets.
func (c *Cache) Bytes() (chunks, index int64) {
	return c.chunks.used(), c.index.used()
}

// Loads returns how many loads (GETs) the chunk and index tiers have run.
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
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ch := t.sf.DoChan(k, func() (any, error) {
		return c.loadShared(context.WithoutCancel(ctx), t, k, load)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// load runs a shared load of k through the singleflight group (prefetch path).
func (c *Cache) load(ctx context.Context, t *tier, k string, load LoadFunc) ([]byte, error) {
	v, err, _ := t.sf.Do(k, func() (any, error) { return c.loadShared(ctx, t, k, load) })
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// loadShared runs inside singleflight: it rechecks the cache (a load may have finished
// between the caller's miss and its turn), loads and stores the value in the window, where
// the next reader finds it.
func (c *Cache) loadShared(ctx context.Context, t *tier, k string, load LoadFunc) (any, error) {
	if v, ok := t.lookup(k); ok {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LoadTimeout)
	defer cancel()
	t.loads.Add(1)
	if t.m != nil {
		t.m.loads.WithLabelValues(t.kind).Inc()
	}
	v, err := load(ctx)
	if err != nil {
		return nil, err
	}
	t.recent.add(k)
	t.add(k, v)
	if t.m != nil {
		t.m.bytes.WithLabelValues(t.kind).Set(float64(t.used()))
	}
	return v, nil
}
