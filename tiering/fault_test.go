package tiering_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// The uploader never reports a segment uploaded before the manifest naming it was written,
// keeps retrying through an outage, and catches up afterwards.
func TestUploaderSurvivesOutageAndNeverReportsEarly(t *testing.T) {
	var (
		down         atomic.Bool
		manifestDown atomic.Bool
	)
	down.Store(true)
	fs := &faultyStore{ObjectStore: newMem(), failPut: func(key string) bool {
		if down.Load() {
			return true
		}
		return manifestDown.Load() && strings.HasSuffix(key, tiering.HeadManifestName)
	}}
	e := newEnv(t, fs, testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 100, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "flaky", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e.run()
	segs := sealed(l)
	waitFor(t, "copy errors while the bucket is down", func() bool { return e.m.ErrorsMetric("copy") >= 3 })
	for _, s := range segs {
		if p.Uploaded(s) {
			t.Fatalf("segment %d reported uploaded during an outage", s.BaseOffset)
		}
	}
	waitFor(t, "copy lag covering every sealed segment", func() bool {
		return e.m.LagSegmentsMetric("flaky", "0") == float64(len(segs))
	})
	// Data objects go in but the manifest write fails: still not uploaded.
	manifestDown.Store(true)
	down.Store(false)
	waitFor(t, "data objects written", func() bool {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return len(fs.puts) >= 3
	})
	time.Sleep(50 * time.Millisecond)
	for _, s := range segs {
		if p.Uploaded(s) {
			t.Fatalf("segment %d reported uploaded without a manifest write", s.BaseOffset)
		}
	}
	if _, _, ok := p.Bounds(); ok {
		t.Fatal("bounds ok without a manifest")
	}
	// Local retention asking Uploaded keeps everything.
	if del, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 0}, time.Now(), p.Uploaded); err != nil || len(del) != 0 {
		t.Fatalf("local retention deleted %d segments during the outage (%v)", len(del), err)
	}
	manifestDown.Store(false)
	waitFor(t, "all segments uploaded after the outage", func() bool {
		for _, s := range segs {
			if !p.Uploaded(s) {
				return false
			}
		}
		return true
	})
	if !bytes.Equal(remoteBytes(t, p, 0, 4096), localBytes(t, l, 0)) {
		t.Fatal("remote bytes differ after recovery")
	}
	// The failed attempts left unnamed objects: the sweep finds exactly those.
	n, err := p.SweepOrphans(t.Context(), time.Now().Add(2*time.Hour))
	if err != nil || n == 0 {
		t.Fatalf("sweep after outage: n=%d err=%v", n, err)
	}
	if !bytes.Equal(remoteBytes(t, p, 0, 4096), localBytes(t, l, 0)) {
		t.Fatal("remote bytes differ after sweep")
	}
	// OnSealed wakes the uploader for new segments.
	produce(t, l, 40, 10_000)
	l.Roll()
	p.OnSealed()
	waitFor(t, "new segments uploaded", func() bool { _, end, _ := p.Bounds(); return end == l.NextOffset() })
	waitFor(t, "lag metric back to zero", func() bool { return e.m.LagSegmentsMetric("flaky", "0") == 0 })
}

// A second writer of the same partition fences the first: the stale one gets ErrFenced,
// stops uploading and never overwrites the newer manifest.
func TestStaleManifestWriterIsFenced(t *testing.T) {
	store := newMem()
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 60, 0)
	l.Roll()
	a := newEnv(t, store, testConfig())
	pa, err := a.m.OpenPartitionLocal(t.Context(), "fence", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b := newEnv(t, store, testConfig())
	pb, err := b.m.OpenPartitionLocal(t.Context(), "fence", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	head, _ := store.Bytes(tiering.PartitionPrefix("", "fence", testTopicID, 0) + tiering.HeadManifestName)
	err = pa.UploadPending(t.Context())
	if !errors.Is(err, tiering.ErrFenced) || !pa.Fenced() {
		t.Fatalf("stale writer: err %v fenced %v", err, pa.Fenced())
	}
	after, _ := store.Bytes(tiering.PartitionPrefix("", "fence", testTopicID, 0) + tiering.HeadManifestName)
	if !bytes.Equal(head, after) {
		t.Fatal("stale writer changed the manifest")
	}
	if err := pa.SetLogStartOffset(t.Context(), 10); !errors.Is(err, tiering.ErrFenced) {
		t.Fatalf("stale writer retention: %v", err)
	}
	for _, s := range sealed(l) {
		if pa.Uploaded(s) {
			t.Fatalf("fenced writer claims segment %d", s.BaseOffset)
		}
	}
}

func TestBucketErrorsAreReturnedNotEmpty(t *testing.T) {
	var down atomic.Bool
	fs := &faultyStore{ObjectStore: newMem(), failGet: func(string) bool { return down.Load() }}
	e := newEnv(t, fs, testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 60, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "err", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	b, err := p.Read(t.Context(), 5, 1000, true)
	if !errors.Is(err, errInjected) || len(b) != 0 {
		t.Fatalf("read with the bucket down: %d bytes, err %v", len(b), err)
	}
	if _, _, err := p.FindTimestamp(t.Context(), 100); !errors.Is(err, errInjected) {
		t.Fatalf("find timestamp with the bucket down: %v", err)
	}
	if e.m.ErrorsMetric("fetch") < 2 {
		t.Fatal("fetch errors not counted")
	}
	down.Store(false)
	if b, err := p.Read(t.Context(), 5, 1000, true); err != nil || len(b) == 0 {
		t.Fatalf("read after recovery: %d bytes, %v", len(b), err)
	}
}

// Sequential readers prefetch the next chunk, crossing into the next segment, so that a
// consumer streaming through remote data finds its next chunk already cached.
func TestSequentialReadAhead(t *testing.T) {
	fs := &faultyStore{ObjectStore: newMem()}
	cfg := testConfig()
	cfg.ChunkBytes = 512
	e := newEnv(t, fs, cfg)
	l := openLog(t, t.TempDir(), 4096)
	produce(t, l, 200, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "ra", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	ents := p.Entries()
	// Read the first segment to its end, sequentially.
	first := ents[0]
	for off := first.BaseOffset; off <= first.LastOffset; {
		b, err := p.Read(t.Context(), off, 300, true)
		if err != nil {
			t.Fatal(err)
		}
		off = lastOffsetOf(t, b) + 1
	}
	waitFor(t, "next segment's first chunk prefetched", func() bool { return e.cache.HasChunk(ents[1].Log.Key, 0) })
	// A random (non-sequential) read does not prefetch.
	last := ents[len(ents)-1]
	if _, err := p.Read(t.Context(), last.BaseOffset, 100, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if last.Size > 512 && e.cache.HasChunk(last.Log.Key, 1) {
		t.Fatal("random read prefetched")
	}
}

// lostResponseStore performs a conditional put of the head but reports a failure, once.
type lostResponseStore struct {
	*faultyStore
	lose atomic.Bool
}

func (s *lostResponseStore) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	etag, err := s.faultyStore.PutIf(ctx, key, r, size, ifMatch)
	if err == nil && s.lose.CompareAndSwap(true, false) {
		return "", errInjected
	}
	return etag, err
}

// A head write that landed but was reported failed must not fence its own writer.
func TestLostManifestResponseDoesNotFence(t *testing.T) {
	ls := &lostResponseStore{faultyStore: &faultyStore{ObjectStore: newMem()}}
	e := newEnv(t, ls, testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 60, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "lost", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ls.lose.Store(true)
	if err := p.UploadPending(t.Context()); !errors.Is(err, errInjected) {
		t.Fatalf("first pass: %v", err)
	}
	if err := p.UploadPending(t.Context()); err == nil || p.Fenced() {
		// The retry of the same segment meets the landed write: reload, not fence.
		t.Fatalf("second pass: err %v, fenced %v", err, p.Fenced())
	}
	if err := p.UploadPending(t.Context()); err != nil || p.Fenced() {
		t.Fatalf("third pass: err %v fenced %v", err, p.Fenced())
	}
	segs := sealed(l)
	for _, s := range segs {
		if !p.Uploaded(s) {
			t.Fatalf("segment %d not uploaded", s.BaseOffset)
		}
	}
	if n := len(p.Entries()); n != len(segs) {
		t.Fatalf("%d manifest entries for %d segments", n, len(segs))
	}
	if !bytes.Equal(remoteBytes(t, p, 0, 4096), localBytes(t, l, 0)) {
		t.Fatal("remote bytes differ")
	}
}

// countingStore tracks how many data-object Puts run at once.
type countingStore struct {
	tiering.ObjectStore
	cur, peak atomic.Int64
}

func (s *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasSuffix(key, ".log") {
		n := s.cur.Add(1)
		for {
			p := s.peak.Load()
			if n <= p || s.peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		defer s.cur.Add(-1)
	}
	return s.ObjectStore.Put(ctx, key, r, size)
}

func (s *countingStore) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	return s.ObjectStore.(tiering.ConditionalPutter).PutIf(ctx, key, r, size, ifMatch)
}

func TestUploadConcurrencyAcrossPartitions(t *testing.T) {
	cs := &countingStore{ObjectStore: newMem()}
	cfg := testConfig()
	cfg.UploadConcurrency = 2
	e := newEnv(t, cs, cfg)
	var parts []*tiering.RemotePartition
	var logs []*segment.Log
	for i := range 6 {
		l := openLog(t, t.TempDir(), 2048)
		produce(t, l, 40, 0)
		l.Roll()
		p, err := e.m.OpenPartitionLocal(t.Context(), "conc", testTopicID, int32(i), l, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		parts, logs = append(parts, p), append(logs, l)
	}
	e.run()
	waitFor(t, "every partition uploaded", func() bool {
		for i, p := range parts {
			if _, end, _ := p.Bounds(); end != logs[i].NextOffset() {
				return false
			}
		}
		return true
	})
	if pk := cs.peak.Load(); pk > 2 || pk < 2 {
		t.Fatalf("peak concurrent segment uploads %d, want exactly the limit 2", pk)
	}
}

// A sequential consumer reading far more than the cache holds fetches each chunk once
// (plus the index objects), not once per batch.
func TestSequentialReadThroughSmallCacheFetchesEachChunkOnce(t *testing.T) {
	fs := &faultyStore{ObjectStore: newMem()}
	c, err := cache.New(cache.Config{MaxBytes: 16 << 10, IndexMaxBytes: 1 << 20, ReadAheadConcurrency: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m, err := tiering.NewManager(testConfig(), fs, c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, t.TempDir(), 8192)
	produce(t, l, 1500, 0)
	l.Roll()
	p, err := m.OpenPartitionLocal(t.Context(), "scan", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	var chunks, size int64
	for _, e := range p.Entries() {
		chunks += (e.Size + 999) / 1000
		size += e.Size
	}
	fs.getCount.Store(0)
	if got := remoteBytes(t, p, 0, 700); !bytes.Equal(got, localBytes(t, l, 0)) {
		t.Fatal("remote bytes differ")
	}
	time.Sleep(20 * time.Millisecond) // let the last prefetch finish
	// One GET per chunk, per index and per hash list (hashcheck.go).
	gets, limit := fs.getCount.Load(), chunks+2*int64(len(p.Entries()))+2
	t.Logf("%d bytes in %d chunks of %d segments: %d GETs", size, chunks, len(p.Entries()), gets)
	if gets > limit {
		t.Fatalf("%d GETs for %d chunks and %d indexes and hash lists", gets, chunks, len(p.Entries()))
	}
}

// A sequential reader asking for more than a chunk at a time gets enough chunks prefetched
// to cover its next two reads (2 x 1024 bytes = 4 chunks of 512), not just the next one,
// completed to the end of the aligned run of 4 chunks (one GET) holding the last; with a
// cache too small to hold that (budget/8 = 1 chunk) it gets one.
func TestReadAheadCoversTheNextReads(t *testing.T) {
	f := func(cacheBytes int64, want, run int64) {
		t.Helper()
		c, err := cache.New(cache.Config{MaxBytes: cacheBytes, IndexMaxBytes: 1 << 20, ReadAheadConcurrency: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		cfg := testConfig()
		cfg.ChunkBytes = 512
		m, err := tiering.NewManager(cfg, newMem(), c, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := openLog(t, t.TempDir(), 1<<20)
		produce(t, l, 400, 0)
		l.Roll()
		p, err := m.OpenPartitionLocal(t.Context(), "ra", testTopicID, 0, l, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.UploadPending(t.Context()); err != nil {
			t.Fatal(err)
		}
		e := p.Entries()[0]
		b, err := p.Read(t.Context(), e.BaseOffset, 1024, true) // from the segment start: ends at len(b)
		if err != nil {
			t.Fatal(err)
		}
		next := (int64(len(b)) + 511) / 512
		if next+want+run >= (e.Size+511)/512 {
			t.Fatalf("segment of %d bytes too small for the test", e.Size)
		}
		end := (next + want + run - 1) / run * run // the aligned run holding the last
		for ci := next; ci < end; ci++ {
			waitFor(t, "read-ahead", func() bool { return c.HasChunk(e.Log.Key, ci) })
		}
		time.Sleep(20 * time.Millisecond)
		if c.HasChunk(e.Log.Key, end) {
			t.Fatalf("more than chunks %d..%d prefetched", next, end-1)
		}
	}
	f(8<<20, 4, 4)
	f(4096, 1, 1)
}
