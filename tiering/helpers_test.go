package tiering_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

var testTopicID = [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// env is one broker's view: a manager over a store, with its own registry and cache.
type env struct {
	t     *testing.T
	store tiering.ObjectStore
	m     *tiering.Manager
	cache *cache.Cache
	reg   *prometheus.Registry
}

func testConfig() tiering.Config {
	return tiering.Config{
		ChunkBytes:           1000, // batches straddle chunks
		ManifestChunkEntries: 4,
		IndexIntervalBytes:   300,
		CheckInterval:        20 * time.Millisecond,
		RetryBackoff:         5 * time.Millisecond,
		RetryMaxBackoff:      20 * time.Millisecond,
		OrphanSweepInterval:  -1,
	}
}

func newEnv(t *testing.T, store tiering.ObjectStore, cfg tiering.Config) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := cache.New(cache.Config{MaxBytes: 8 << 20, IndexMaxBytes: 1 << 20, ReadAheadConcurrency: 64, Metrics: cache.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m, err := tiering.NewManager(cfg, store, c, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: store, m: m, cache: c, reg: reg}
}

// run starts m.Run and stops it at cleanup.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.m.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func openLog(t *testing.T, dir string, segBytes int64) *segment.Log {
	t.Helper()
	l, _, err := segment.Open(dir, segment.Config{SegmentBytes: segBytes, IndexIntervalBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// produce appends n batches of 1-3 records with increasing timestamps from ts0.
func produce(t *testing.T, l *segment.Log, n int, ts0 int64) {
	t.Helper()
	for i := range n {
		var vals [][]byte
		for r := range 1 + i%3 {
			vals = append(vals, fmt.Appendf(nil, "value-%d-%d-%s", l.NextOffset(), r, bytes.Repeat([]byte{'x'}, i%50)))
		}
		if _, err := l.Append(segmenttest.Batch(ts0+int64(i)*10, vals...), segment.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// localBytes returns all batch bytes of the local log from offset from, read through Read.
func localBytes(t *testing.T, l *segment.Log, from int64) []byte {
	t.Helper()
	var out []byte
	for off := from; off < l.NextOffset(); {
		rr, err := l.Read(off, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := rr.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			break
		}
		out = append(out, b...)
		off = lastOffsetOf(t, b) + 1
	}
	return out
}

// lastOffsetOf returns the last offset of the last batch in b.
func lastOffsetOf(t *testing.T, b []byte) int64 {
	t.Helper()
	last := int64(-1)
	for len(b) > 0 {
		_, l, size, err := tiering.BatchBounds(b)
		if err != nil {
			t.Fatal(err)
		}
		last = l
		b = b[size:]
	}
	return last
}

// remoteBytes reads the remote tier sequentially from offset from to its end.
func remoteBytes(t *testing.T, p *tiering.RemotePartition, from int64, maxBytes int) []byte {
	t.Helper()
	_, end, _ := p.Bounds()
	var out []byte
	for off := from; off < end; {
		b, err := p.Read(t.Context(), off, maxBytes, true)
		if err != nil {
			t.Fatalf("remote read at %d: %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("empty remote read at %d (end %d)", off, end)
		}
		out = append(out, b...)
		off = lastOffsetOf(t, b) + 1
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func sealed(l *segment.Log) []segment.SegmentInfo {
	segs := l.Segments()
	return segs[:len(segs)-1]
}

// faultyStore wraps a store: hooks decide per call whether to fail.
type faultyStore struct {
	tiering.ObjectStore
	failPut  func(key string) bool
	failGet  func(key string) bool
	mu       sync.Mutex
	puts     []string
	getCount atomic.Int64
}

var errInjected = errors.New("injected bucket outage")

func (f *faultyStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if f.failPut != nil && f.failPut(key) {
		return errInjected
	}
	f.mu.Lock()
	f.puts = append(f.puts, key)
	f.mu.Unlock()
	return f.ObjectStore.Put(ctx, key, r, size)
}

func (f *faultyStore) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	if f.failPut != nil && f.failPut(key) {
		return "", errInjected
	}
	f.mu.Lock()
	f.puts = append(f.puts, key)
	f.mu.Unlock()
	return f.ObjectStore.(tiering.ConditionalPutter).PutIf(ctx, key, r, size, ifMatch)
}

func (f *faultyStore) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if f.failGet != nil && f.failGet(key) {
		return nil, errInjected
	}
	f.getCount.Add(1)
	return f.ObjectStore.GetRange(ctx, key, off, length)
}

func newMem() *memstore.Store { return memstore.New() }

// chunkedPartition is a partition of 120 records in 400-byte segments, uploaded with its
// manifest spilled into chunks, through a store that counts the GETs of manifest chunks
// and fails them while failChunks is set.
type chunkedPartition struct {
	store      *faultyStore
	chunkGets  atomic.Int64
	failChunks atomic.Bool
	dir        string
	l          *segment.Log
	e          *env
	p          *tiering.RemotePartition
}

func newChunkedPartition(t *testing.T) *chunkedPartition {
	t.Helper()
	c := &chunkedPartition{dir: t.TempDir()}
	c.store = &faultyStore{ObjectStore: newMem(), failGet: func(key string) bool {
		if strings.Contains(key, "/manifest-") {
			c.chunkGets.Add(1)
			return c.failChunks.Load()
		}
		return false
	}}
	c.l = openLog(t, c.dir, 400)
	produce(t, c.l, 120, 1000)
	c.e = newEnv(t, c.store, testConfig())
	p, err := c.e.m.OpenPartition(t.Context(), "t", testTopicID, 0, c.l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.p = p
	return c
}

// restartAtRemoteEnd does what package partition does once a tier is open on an empty
// local log that the bucket is ahead of (a restore): it restarts the log at the remote end.
// The tier itself never writes the local log.
func restartAtRemoteEnd(t *testing.T, l *segment.Log, p *tiering.RemotePartition) {
	t.Helper()
	if _, end, ok := p.Bounds(); ok && l.LogStartOffset() == l.NextOffset() && l.NextOffset() < end {
		if err := l.SetLogStartOffset(end); err != nil {
			t.Fatal(err)
		}
	}
}
