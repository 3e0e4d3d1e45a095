package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
)

// localLog is the part of *segment.Log the tier uses (to read, never to write); tests
// substitute a fake.
type localLog interface {
	Segments() []segment.SegmentInfo
	// SegmentsFrom returns the segments holding offsets at or above offset and the active
	// one: with a long local history the uploader and the roll check would otherwise copy
	// every segment's info on every pass.
	SegmentsFrom(offset int64) []segment.SegmentInfo
	LogStartOffset() int64
	NextOffset() int64
	Read(offset int64, maxBytes int, minOneBatch bool) (segment.ReadResult, error)
	// Dir is the log's directory: remote manifest chunks are cached there (chunkcache.go)
	// when it is a directory of the operating system.
	Dir() string
}

type partKey struct {
	topic     string
	partition int32
}

// Manager owns the remote tier of all partitions of one broker: it opens RemotePartitions,
// runs their upload loops (Run) and shares the upload semaphore, the bandwidth limiter and
// the read cache between them.
type Manager struct {
	cfg     Config
	store   ObjectStore
	cache   *cache.Cache
	ownedC  bool
	log     *slog.Logger
	metrics *Metrics
	limiter *rate.Limiter // nil = unlimited
	ahead   aheadBudget   // the read-ahead of all partitions (readahead.go)
	sem     chan struct{} // upload slots
	id      string        // writer UUID recorded in manifests
	now     func() time.Time

	mu      sync.Mutex
	parts   map[partKey]*RemotePartition
	pending []*RemotePartition // opened, upload loop not started yet
	running bool
	kick    chan struct{}
	fenced  bool          // Fence was called: every partition, open or opened later, is fenced
	wmWake  chan struct{} // a partition passed its watermark reservation (watermark.go)
}

// Fence stops every partition of the manager from writing to the store (uploads, manifest
// writes, remote retention, watermarks), now and for partitions opened later: the broker
// calls it when another broker took over its bucket prefix. Reads carry on.
func (m *Manager) Fence(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.fenced {
		m.log.Error("remote tier fenced: this broker stops writing to the bucket", "reason", reason)
	}
	m.fenced = true
	for _, p := range m.parts {
		if !p.fenced.Swap(true) {
			m.metrics.fenced.Inc()
		}
	}
}

// NewManager builds a Manager. c may be nil (a cache of Config.CacheBytes is created,
// owned, closed when Run returns, and its metrics registered with reg); logger nil = discard; reg nil = no metrics registered.
func NewManager(cfg Config, store ObjectStore, c *cache.Cache, logger *slog.Logger, reg prometheus.Registerer) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("tiering: nil ObjectStore")
	}
	cfg = cfg.withDefaults()
	m := &Manager{
		cfg: cfg, store: store, cache: c, log: logger, metrics: NewMetrics(reg),
		sem: make(chan struct{}, cfg.UploadConcurrency), id: uuid.NewString(), now: time.Now,
		parts: make(map[partKey]*RemotePartition), kick: make(chan struct{}, 1),
		wmWake: make(chan struct{}, 1),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.cache == nil {
		var err error
		if m.cache, err = cache.New(cache.Config{MaxBytes: cfg.CacheBytes, Metrics: cache.NewMetrics(reg)}); err != nil {
			return nil, err
		}
		m.ownedC = true
	}
	if cfg.MaxBytesPerSec > 0 && cfg.MaxBytesPerSec < math.MaxInt64/2 { // Kafka's default Long.MAX = unlimited
		burst := int(min(cfg.MaxBytesPerSec, 1<<20))
		m.limiter = rate.NewLimiter(rate.Limit(cfg.MaxBytesPerSec), burst)
	}
	return m, nil
}

// Store returns the manager's object store.
func (m *Manager) Store() ObjectStore { return m.store }

// Run runs the upload loops of all open partitions (and of partitions opened later) until
// ctx is done, then waits for them and returns nil. Uploads happen only while Run runs.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if m.cfg.WatermarkInterval > 0 {
		wg.Go(func() { m.watermarkLoop(ctx) })
	}
	for {
		m.mu.Lock()
		m.running = true
		for _, p := range m.pending {
			pctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			p.stop, p.done = cancel, done
			wg.Go(func() {
				defer close(done)
				p.run(pctx)
			})
		}
		m.pending = nil
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.running = false
			m.mu.Unlock()
			wg.Wait()
			if m.ownedC {
				m.cache.Close()
			}
			return nil
		case <-m.kick:
		}
	}
}

// OpenPartition loads the partition's manifest and registers it with the uploader. log
// may be nil (read-only access, e.g. tools); the tier reads it (uploads) but never writes
// it. When log is empty and the bucket already holds offsets beyond it (a broker restoring
// onto an empty data dir), the owner of the log restarts it at the remote end offset
// (Bounds) so that new produces continue after the remote data, and a brand-new log after
// the watermark read at open (OpenedWatermark) as well: package partition does.
func (m *Manager) OpenPartition(ctx context.Context, topic string, topicID [16]byte, partition int32, log *segment.Log, pcfg PartitionConfig) (*RemotePartition, error) {
	var ll localLog
	if log != nil {
		ll = log
	}
	return m.openPartition(ctx, topic, topicID, partition, ll, pcfg)
}

func (m *Manager) openPartition(ctx context.Context, topic string, topicID [16]byte, partition int32, log localLog, pcfg PartitionConfig) (*RemotePartition, error) {
	k := partKey{topic, partition}
	m.mu.Lock()
	_, dup := m.parts[k]
	m.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("tiering: partition %s-%d already open", topic, partition)
	}
	prefix := PartitionPrefix(m.cfg.Prefix, topic, topicID, partition)
	cache := newChunkCache(log)
	pm, err := loadManifest(ctx, m.store, prefix, cache)
	if err != nil {
		m.metrics.errors.WithLabelValues("manifest").Inc()
		if errors.Is(err, ErrCorruptManifest) {
			m.metrics.integrity.WithLabelValues("manifest").Inc()
			m.log.Error("remote manifest damaged or tampered with: the partition's remote data is not served", "topic", topic, "partition", partition, "err", err)
		}
		return nil, fmt.Errorf("cannot open remote partition %s-%d: %w", topic, partition, err)
	}
	if pm.etag == "" && pm.head.Kind == "" {
		pm.head = PartitionHead{Topic: topic, TopicID: TopicIDString(topicID), Partition: partition}
	}
	p := &RemotePartition{
		m: m, topic: topic, topicID: topicID, partition: partition, prefix: prefix, local: log,
		wake: make(chan struct{}, 1),
		w: &manifestWriter{
			store: m.store, partPrefix: prefix, chunkEntries: m.cfg.ManifestChunkEntries,
			writer: m.id, now: m.now, cache: cache,
		},
		manifest: pm,
		log:      m.log.With("topic", topic, "partition", partition),
	}
	p.pcfg.Store(&pcfg)
	p.publishLocked()
	p.reportChain(pm)
	wm, err := ReadWatermark(ctx, m.store, prefix)
	if err != nil {
		m.metrics.errors.WithLabelValues("watermark").Inc()
		return nil, fmt.Errorf("cannot open remote partition %s-%d: %w", topic, partition, err)
	}
	p.wm.written, p.wm.reserved = wm.LogEnd, wm.ReservedEnd
	p.wmReserved.Store(wm.ReservedEnd)
	p.openedWM = wm
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.parts[k]; dup {
		return nil, fmt.Errorf("tiering: partition %s-%d already open", topic, partition)
	}
	if m.fenced {
		p.fenced.Store(true)
	}
	m.parts[k] = p
	m.pending = append(m.pending, p)
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return p, nil
}

// ClosePartition stops the partition's upload loop (waiting for an upload in progress to
// finish or be cancelled) and forgets it. Remote data is untouched.
func (m *Manager) ClosePartition(topic string, partition int32) {
	m.mu.Lock()
	p, ok := m.parts[partKey{topic, partition}]
	if !ok {
		m.mu.Unlock()
		return
	}
	delete(m.parts, partKey{topic, partition})
	m.pending = slices.DeleteFunc(m.pending, func(q *RemotePartition) bool { return q == p })
	stop, done := p.stop, p.done
	m.mu.Unlock()
	m.ahead.release(p)
	if stop != nil {
		stop()
		<-done
	}
	pl := prometheus.Labels{"topic": topic, "partition": fmt.Sprint(partition)}
	m.metrics.copyLagBytes.Delete(pl)
	m.metrics.copyLagSegments.Delete(pl)
}

// Partition returns an open partition.
func (m *Manager) Partition(topic string, partition int32) (*RemotePartition, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.parts[partKey{topic, partition}]
	return p, ok
}

// RemoteEndOffset reads only the head of a partition's manifest and returns its end offset
// (last offset + 1 of everything ever uploaded; 0 when the partition has no manifest): one
// GET, whatever the length of the history. The broker uses it at start-up to tell whether
// a partition whose local log is empty can be served before its manifest is loaded.
func (m *Manager) RemoteEndOffset(ctx context.Context, topic string, topicID [16]byte, partition int32) (int64, error) {
	key := PartitionPrefix(m.cfg.Prefix, topic, topicID, partition) + headManifestName
	b, err := readAll(ctx, m.store, key)
	if errors.Is(err, ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot read manifest %q: %w", key, err)
	}
	h, err := DecodePartitionHead(b)
	if err != nil {
		return 0, fmt.Errorf("manifest %q: %w", key, err)
	}
	end := h.EndOffset
	if n := len(h.Segments); n > 0 {
		end = max(end, h.Segments[n-1].LastOffset+1)
	}
	return end, nil
}

// WriteTopicManifest stores topic.json for t (overwriting a previous version: partition
// count and configs change over a topic's life).
func (m *Manager) WriteTopicManifest(ctx context.Context, t TopicManifest) error {
	return WriteTopicManifest(ctx, m.store, m.cfg.Prefix, t)
}

// WriteTopicManifest stores topic.json for t under prefix.
func WriteTopicManifest(ctx context.Context, store ObjectStore, prefix string, t TopicManifest) error {
	if t.Updated.IsZero() {
		t.Updated = time.Now()
	}
	b, err := encodeTopicManifest(t)
	if err != nil {
		return err
	}
	key := TopicManifestKey(prefix, t.Topic, t.TopicID)
	if err := store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("cannot put topic manifest %q: %w", key, err)
	}
	marker := TopicMarkerKey(prefix, t.Topic, t.TopicID)
	if err := store.Put(ctx, marker, bytes.NewReader(nil), 0); err != nil {
		return fmt.Errorf("cannot put topic marker %q: %w", marker, err)
	}
	return nil
}

// DeleteTopic closes the topic's open partitions and, unless keepRemote, deletes its
// objects: topic.json first (so a restore never sees a half-deleted topic), then every
// object under the topic prefix (manifests before segment objects).
func (m *Manager) DeleteTopic(ctx context.Context, topic string, id [16]byte, keepRemote bool) error {
	m.mu.Lock()
	var parts []int32
	for k := range m.parts {
		if k.topic == topic {
			parts = append(parts, k.partition)
		}
	}
	m.mu.Unlock()
	for _, p := range parts {
		m.ClosePartition(topic, p)
	}
	if keepRemote {
		return nil
	}
	for _, k := range []string{TopicMarkerKey(m.cfg.Prefix, topic, id), TopicManifestKey(m.cfg.Prefix, topic, id)} {
		if err := m.store.Delete(ctx, k); err != nil {
			m.metrics.errors.WithLabelValues("delete").Inc()
			return fmt.Errorf("cannot delete topic manifest of %q: %w", topic, err)
		}
	}
	var manifests, objects []string
	err := m.store.List(ctx, TopicPrefix(m.cfg.Prefix, topic, id), func(oi ObjectInfo) error {
		name := oi.Key[strings.LastIndexByte(oi.Key, '/')+1:]
		if strings.HasPrefix(name, "manifest") {
			manifests = append(manifests, oi.Key)
		} else {
			objects = append(objects, oi.Key)
		}
		return nil
	})
	if err != nil {
		m.metrics.errors.WithLabelValues("list").Inc()
		return fmt.Errorf("cannot list objects of topic %q: %w", topic, err)
	}
	for _, k := range append(manifests, objects...) {
		if err := m.store.Delete(ctx, k); err != nil {
			m.metrics.errors.WithLabelValues("delete").Inc()
			return fmt.Errorf("cannot delete %q: %w", k, err)
		}
	}
	return nil
}

// Restore lists the topic manifests under prefix, sorted by topic name, so that a broker
// with an empty data dir can recreate its topics. Opening each partition afterwards
// (Manager.OpenPartition on the new, empty local log) restarts the local log at the remote
// end offset; reads below it are served from the bucket.
func Restore(ctx context.Context, store ObjectStore, prefix string) ([]TopicManifest, error) {
	base := joinPrefix(prefix, "")
	// The markers name every topic whose topic.json was written; a bucket without markers
	// (none written yet) is scanned in full.
	var keys []string
	err := store.List(ctx, base+topicMarkerDir, func(oi ObjectInfo) error {
		topic, id, err := splitTopicDir(strings.TrimPrefix(oi.Key, base+topicMarkerDir))
		if err == nil {
			keys = append(keys, TopicManifestKey(prefix, topic, id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list topic markers under %q: %w", prefix, err)
	}
	if len(keys) == 0 {
		err = store.List(ctx, base, func(oi ObjectInfo) error {
			rest := strings.TrimPrefix(oi.Key, base)
			dir, name, ok := strings.Cut(rest, "/")
			if ok && name == topicManifestName {
				if _, _, err := splitTopicDir(dir); err == nil {
					keys = append(keys, oi.Key)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("cannot list topic manifests under %q: %w", prefix, err)
		}
	}
	var out []TopicManifest
	for _, k := range keys {
		rc, err := store.GetRange(ctx, k, 0, -1)
		if errors.Is(err, ErrNotExist) {
			continue // marker of a topic being deleted (or whose topic.json was lost)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read topic manifest %q: %w", k, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot read topic manifest %q: %w", k, err)
		}
		t, err := DecodeTopicManifest(b)
		if err != nil {
			return nil, fmt.Errorf("topic manifest %q: %w", k, err)
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b TopicManifest) int { return strings.Compare(a.Topic, b.Topic) })
	return out, nil
}
