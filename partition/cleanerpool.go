package partition

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CleanerConfig configures the broker's log cleaner (Kafka's broker keys).
type CleanerConfig struct {
	Enable bool // log.cleaner.enable; default true
	// Threads is log.cleaner.threads: partitions cleaned at once. Default 1.
	Threads int
	// DedupeBufferBytes is log.cleaner.dedupe.buffer.size: the memory of the key maps of
	// all threads together (each gets its share; 24 bytes a key). Default 128 MiB.
	DedupeBufferBytes int64
	// IOMaxBytesPerSecond is log.cleaner.io.max.bytes.per.second: bytes read plus
	// written by all threads together; <= 0 or >= 1e300 unlimited. Default unlimited.
	IOMaxBytesPerSecond float64
	// Backoff is log.cleaner.backoff.ms: how often the cleaner looks for partitions to
	// clean. Default 15 s.
	Backoff time.Duration
	Logger  *slog.Logger // nil: discard
}

func (c CleanerConfig) withDefaults() CleanerConfig {
	if c.Threads <= 0 {
		c.Threads = 1
	}
	if c.DedupeBufferBytes <= 0 {
		c.DedupeBufferBytes = 128 << 20
	}
	if c.Backoff <= 0 {
		c.Backoff = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Cleaner runs the compaction of a broker's partitions in the background: every Backoff
// it looks at the compacted partitions (the list function), and starts cleans of the
// dirtiest ones that are due, at most Threads at once, each with a key map of its share
// of DedupeBufferBytes, all under one I/O rate limit. Create with NewCleaner, run with
// Run, which returns (after the running cleans stopped) when ctx ends.
type Cleaner struct {
	cfg      CleanerConfig
	throttle *rateLimiter
	maps     chan *offsetMap // one per thread; a clean takes one
	metrics  *cleanerMetrics

	mu      sync.Mutex
	running map[*Partition]bool
	infos   map[*Partition]Cleanable // as of the last look (metrics)
	wg      sync.WaitGroup
}

// NewCleaner returns a cleaner; its metrics are registered on reg (nil: none).
func NewCleaner(cfg CleanerConfig, reg prometheus.Registerer) *Cleaner {
	cfg = cfg.withDefaults()
	c := &Cleaner{cfg: cfg, maps: make(chan *offsetMap, cfg.Threads), running: map[*Partition]bool{},
		infos: map[*Partition]Cleanable{}}
	if cfg.IOMaxBytesPerSecond > 0 && cfg.IOMaxBytesPerSecond < 1e300 {
		c.throttle = &rateLimiter{rate: cfg.IOMaxBytesPerSecond}
	}
	for range cfg.Threads {
		c.maps <- nil // made on first use
	}
	c.metrics = newCleanerMetrics(c)
	if reg != nil {
		c.metrics.register(reg)
	}
	return c
}

// Run looks for partitions to clean every Backoff until ctx ends, then waits for the
// cleans it started (they stop at their next batch).
func (c *Cleaner) Run(ctx context.Context, list func() []*Partition) {
	defer c.metrics.unregister()
	defer c.wg.Wait()
	if !c.cfg.Enable {
		return
	}
	t := time.NewTicker(c.cfg.Backoff)
	defer t.Stop()
	for {
		c.Kick(ctx, list(), time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Kick starts background cleans of the dirtiest compacted partitions of ps, as far as the
// free threads allow, and returns. Wait waits for them.
func (c *Cleaner) Kick(ctx context.Context, ps []*Partition, now time.Time) {
	type cand struct {
		p     *Partition
		ratio float64
	}
	var cands []cand
	infos := map[*Partition]Cleanable{}
	c.mu.Lock()
	for _, p := range ps {
		if p.closed.Load() || !p.Compacted() {
			continue
		}
		if c.running[p] {
			infos[p] = c.infos[p]
			continue
		}
		info := p.CleanableInfo(now)
		infos[p] = info
		cands = append(cands, cand{p, info.Ratio()})
	}
	c.infos = infos
	c.mu.Unlock()
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.ratio, a.ratio) })
	for _, cd := range cands {
		var m *offsetMap
		select {
		case m = <-c.maps:
		default:
			return // every thread busy
		}
		if m == nil {
			m = newOffsetMap(c.cfg.DedupeBufferBytes / int64(c.cfg.Threads))
		}
		c.mu.Lock()
		c.running[cd.p] = true
		c.mu.Unlock()
		c.wg.Add(1)
		go func(p *Partition) {
			defer c.wg.Done()
			defer func() { c.maps <- m }()
			c.cleanOne(ctx, p, m, now)
		}(cd.p)
	}
}

// Wait waits for the cleans started so far.
func (c *Cleaner) Wait() { c.wg.Wait() }

func (c *Cleaner) cleanOne(ctx context.Context, p *Partition, m *offsetMap, now time.Time) {
	start := time.Now()
	var thr func(context.Context, int64) error
	if c.throttle != nil {
		thr = c.throttle.wait
	}
	st, err := p.Clean(ctx, now, cleanIO{m: m, throttle: thr, dec: new(recordDecoder)})
	info := p.CleanableInfo(time.Now())
	c.mu.Lock()
	delete(c.running, p)
	if _, ok := c.infos[p]; ok {
		c.infos[p] = info
	}
	c.mu.Unlock()
	c.metrics.observe(st, err, time.Since(start))
	switch {
	case err != nil && !errors.Is(err, errCleanStopped):
		p.logger.Warn("cannot clean partition", "err", err)
	case st.Cleaned:
		p.logger.Info("partition cleaned", "passes", st.Passes, "segments", st.Segments, "read_bytes", st.BytesRead,
			"written_bytes", st.BytesWritten, "removed_records", st.Removed, "removed_tombstones", st.Tombstones,
			"dirty_ratio", st.DirtyRatio, "took", time.Since(start))
	}
}

// rateLimiter spaces out I/O to rate bytes a second, for all callers together.
type rateLimiter struct {
	rate float64
	mu   sync.Mutex
	next time.Time
}

func (r *rateLimiter) wait(ctx context.Context, n int64) error {
	r.mu.Lock()
	now := time.Now()
	if r.next.Before(now) {
		r.next = now
	}
	at := r.next
	r.next = r.next.Add(time.Duration(float64(n) / r.rate * float64(time.Second)))
	r.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cleanerMetrics are the cleaner's Prometheus metrics (Kafka's LogCleaner and
// LogCleanerManager metrics, in Strata's names).
type cleanerMetrics struct {
	c        *Cleaner
	reg      prometheus.Registerer // nil: not registered
	runs     *prometheus.CounterVec
	read     prometheus.Counter
	written  prometheus.Counter
	removed  prometheus.Counter
	seconds  prometheus.Counter
	ratio    *prometheus.Desc
	since    *prometheus.Desc
	maxRatio *prometheus.Desc
}

func newCleanerMetrics(c *Cleaner) *cleanerMetrics {
	return &cleanerMetrics{
		c: c,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_log_cleaner_runs_total",
			Help: "Cleans of a partition by the log cleaner, by result (cleaned: segments replaced; idle: not due; error)."}, []string{"result"}),
		read: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_log_cleaner_read_bytes_total",
			Help: "Bytes of segments the log cleaner read (key maps and copies)."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_log_cleaner_written_bytes_total",
			Help: "Bytes of cleaned segments the log cleaner wrote."}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_log_cleaner_removed_records_total",
			Help: "Records the log cleaner removed (superseded by a later record of their key, or expired tombstones)."}),
		seconds: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_log_cleaner_busy_seconds_total",
			Help: "Time the log cleaner's threads spent cleaning (Kafka cleaner-recopy-percent and time-since-last-run come from it and the runs)."}),
		ratio: prometheus.NewDesc("strata_log_cleaner_dirty_ratio",
			"Dirty bytes / cleanable bytes of a compacted partition, as of the cleaner's last look (compared with min.cleanable.dirty.ratio).", []string{"topic", "partition"}, nil),
		since: prometheus.NewDesc("strata_log_cleaner_seconds_since_last_clean",
			"Seconds since the cleaner last replaced segments of a compacted partition (-1: not since the broker started).", []string{"topic", "partition"}, nil),
		maxRatio: prometheus.NewDesc("strata_log_cleaner_max_dirty_ratio",
			"The largest dirty ratio of the compacted partitions (Kafka max-dirty-percent / 100).", nil, nil),
	}
}

func (m *cleanerMetrics) register(reg prometheus.Registerer) {
	m.reg = reg
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			m.c.cfg.Logger.Warn("cannot register cleaner metric", "err", err)
		}
	}
}

func (m *cleanerMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.runs, m.read, m.written, m.removed, m.seconds, m}
}

// unregister removes the metrics (Run's end), so that a broker started again on the same
// registry registers its own.
func (m *cleanerMetrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}

func (m *cleanerMetrics) observe(st CleanStats, err error, took time.Duration) {
	result := "idle"
	switch {
	case err != nil && !errors.Is(err, errCleanStopped):
		result = "error"
	case st.Cleaned:
		result = "cleaned"
	}
	m.runs.WithLabelValues(result).Inc()
	m.read.Add(float64(st.BytesRead))
	m.written.Add(float64(st.BytesWritten))
	m.removed.Add(float64(st.Removed))
	m.seconds.Add(took.Seconds())
}

// Describe and Collect make the per-partition gauges from the cleaner's last look.
func (m *cleanerMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.ratio
	ch <- m.since
	ch <- m.maxRatio
}

func (m *cleanerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.c.mu.Lock()
	infos := make(map[*Partition]Cleanable, len(m.c.infos))
	for p, i := range m.c.infos {
		infos[p] = i
	}
	m.c.mu.Unlock()
	maxRatio := 0.0
	seen := map[string]bool{} // a topic recreated under its name: one series
	for p, info := range infos {
		part := strconv.Itoa(int(p.index))
		if id := p.topicName + "\x00" + part; seen[id] {
			continue
		} else {
			seen[id] = true
		}
		ch <- prometheus.MustNewConstMetric(m.ratio, prometheus.GaugeValue, info.Ratio(), p.topicName, part)
		since := -1.0
		if last := p.LastClean(); !last.IsZero() {
			since = time.Since(last).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(m.since, prometheus.GaugeValue, since, p.topicName, part)
		maxRatio = max(maxRatio, info.Ratio())
	}
	ch <- prometheus.MustNewConstMetric(m.maxRatio, prometheus.GaugeValue, maxRatio)
}

// Stats returns the cleanable figures of the compacted partitions as of the last look.
func (c *Cleaner) Stats() map[*Partition]Cleanable {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[*Partition]Cleanable, len(c.infos))
	for p, i := range c.infos {
		out[p] = i
	}
	return out
}
