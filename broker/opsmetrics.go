package broker

// Operator metrics: per-API request rate, errors and latency (observed in dispatch), bytes
// in and out per topic, and a collector that reads connections, partition offsets and
// sizes and consumer-group lag at scrape time (nothing is updated on the hot path for
// those). Kafka's names are in the help texts.

import (
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"time"
	"weak"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type opsMetrics struct {
	requests  *prometheus.CounterVec   // api
	errors    *prometheus.CounterVec   // api, error
	latency   *prometheus.HistogramVec // api
	topicIn   *prometheus.CounterVec   // topic
	topicOut  *prometheus.CounterVec   // topic
	closedErr *prometheus.CounterVec   // api: handler errors that closed the connection
	fsync     prometheus.Histogram
}

// opsMetricsFor holds each broker's metrics without keeping the broker alive: the entry
// goes when the broker is garbage collected.
var (
	opsMetricsMu  sync.Mutex
	opsMetricsFor = map[weak.Pointer[Broker]]*opsMetrics{}
)

// ops returns the broker's request metrics, registered on Config.Registerer once.
func (b *Broker) ops() *opsMetrics {
	key := weak.Make(b)
	opsMetricsMu.Lock()
	defer opsMetricsMu.Unlock()
	if m, ok := opsMetricsFor[key]; ok {
		return m
	}
	m := &opsMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_requests_total",
			Help: "Requests handled, by API (Kafka RequestsPerSec{request}).",
		}, []string{"api"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_request_errors_total",
			Help: "Error codes returned in responses, by API and Kafka error name, counted once per topic/partition/group answered with it (Kafka ErrorsPerSec{request,error}).",
		}, []string{"api", "error"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_request_duration_seconds",
			Help:    "Time from a request's dispatch to its response being ready, by API; includes Fetch long-poll waits (Kafka TotalTimeMs{request}).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 11),
		}, []string{"api"}),
		topicIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_topic_bytes_in_total",
			Help: "Record batch bytes appended by Produce, by topic (Kafka BytesInPerSec{topic}).",
		}, []string{"topic"}),
		topicOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_topic_bytes_out_total",
			Help: "Record batch bytes returned by Fetch, by topic (Kafka BytesOutPerSec{topic}).",
		}, []string{"topic"}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_log_fsync_seconds",
			Help:    "Duration of the fsyncs that make appended records durable (Kafka LogFlushRateAndTimeMs).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
		}),
		closedErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_request_connection_closes_total",
			Help: "Requests whose handling failed so that the connection was closed, by API.",
		}, []string{"api"}),
	}
	if reg := b.cfg.Registerer; reg != nil {
		m.requests = registerOrExisting(reg, m.requests)
		m.errors = registerOrExisting(reg, m.errors)
		m.latency = registerOrExisting(reg, m.latency)
		m.topicIn = registerOrExisting(reg, m.topicIn)
		m.topicOut = registerOrExisting(reg, m.topicOut)
		m.closedErr = registerOrExisting(reg, m.closedErr)
		m.fsync = registerOrExisting(reg, m.fsync)
	}
	opsMetricsFor[key] = m
	runtime.AddCleanup(b, func(k weak.Pointer[Broker]) {
		opsMetricsMu.Lock()
		delete(opsMetricsFor, k)
		opsMetricsMu.Unlock()
	}, key)
	return m
}

// observeFsync records the duration of one durability fsync of a partition's log.
func (b *Broker) observeFsync(d time.Duration) { b.ops().fsync.Observe(d.Seconds()) }

// observeRequest records one handled request (called by dispatch).
// rb tells the real length of record sets left in their files (nil: none are).
func (b *Broker) observeRequest(key int16, req kmsg.Request, resp kmsg.Response, err error, took time.Duration, rb *recordBufs) {
	m := b.ops()
	api := kmsg.NameForKey(key)
	m.requests.WithLabelValues(api).Inc()
	m.latency.WithLabelValues(api).Observe(took.Seconds())
	if err != nil {
		m.closedErr.WithLabelValues(api).Inc()
		return
	}
	if resp == nil {
		if pr, ok := req.(*kmsg.ProduceRequest); ok { // acks=0: no response to check
			for _, t := range pr.Topics {
				for _, p := range t.Partitions {
					if name := b.topicName(t.Topic, t.TopicID); name != "" {
						m.topicIn.WithLabelValues(name).Add(float64(len(p.Records)))
					}
				}
			}
		}
		return
	}
	countErr := func(code int16) { m.errors.WithLabelValues(api, errorName(code)).Inc() }
	switch r := resp.(type) { // the hot APIs without reflection
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					countErr(c)
				}
			}
		}
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			countErr(r.ErrorCode)
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					countErr(c)
				}
			}
		}
	default:
		countErrorCodes(reflect.ValueOf(resp), countErr)
	}
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		pr, ok := req.(*kmsg.ProduceRequest)
		if !ok {
			return
		}
		type tp struct {
			topic string
			id    [16]byte
			part  int32
		}
		failed := map[tp]bool{}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					failed[tp{t.Topic, t.TopicID, p.Partition}] = true
				}
			}
		}
		for _, t := range pr.Topics {
			n := 0
			for _, p := range t.Partitions {
				if !failed[tp{t.Topic, t.TopicID, p.Partition}] {
					n += len(p.Records)
				}
			}
			if name := b.topicName(t.Topic, t.TopicID); n > 0 && name != "" {
				m.topicIn.WithLabelValues(name).Add(float64(n))
			}
		}
	case *kmsg.FetchResponse:
		for _, t := range r.Topics {
			n := 0
			for _, p := range t.Partitions {
				n += rb.recordLen(p.RecordBatches)
			}
			if name := b.topicName(t.Topic, t.TopicID); n > 0 && name != "" {
				m.topicOut.WithLabelValues(name).Add(float64(n))
			}
		}
	}
}

// topicName returns name, or the name of the topic with id when name is empty (requests
// from v13 of Produce and Fetch address topics by id).
func (b *Broker) topicName(name string, id [16]byte) string {
	if name != "" {
		return name
	}
	return b.topicByID(id)
}

func (b *Broker) topicByID(id [16]byte) string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if t, ok := b.topicIDs[id]; ok {
		return t.Name
	}
	return ""
}

func errorName(code int16) string {
	if e := kerr.ErrorForCode(code); e != nil {
		if ke, ok := e.(*kerr.Error); ok {
			return ke.Message
		}
		return e.Error()
	}
	return strconv.Itoa(int(code))
}

var int16Type = reflect.TypeFor[int16]()

// countErrorCodes calls fn for every non-zero int16 field named ErrorCode in v, walking
// structs, pointers and slices of structs (a response's topics, partitions, groups).
func countErrorCodes(v reflect.Value, fn func(int16)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			countErrorCodes(v.Elem(), fn)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if f.Name == "ErrorCode" && f.Type == int16Type {
				if c := int16(fv.Int()); c != 0 {
					fn(c)
				}
				continue
			}
			switch f.Type.Kind() {
			case reflect.Struct, reflect.Pointer:
				countErrorCodes(fv, fn)
			case reflect.Slice:
				if ek := f.Type.Elem().Kind(); ek == reflect.Struct || ek == reflect.Pointer {
					for j := 0; j < fv.Len(); j++ {
						countErrorCodes(fv.Index(j), fn)
					}
				}
			}
		}
	}
}

// StateMetricsOptions controls the scrape-time collector.
type StateMetricsOptions struct {
	// PerPartition labels partition gauges and group lag with topic and partition;
	// false aggregates them per topic (and per group and topic), bounding series count on
	// brokers with many partitions. Default false.
	PerPartition bool
}

// RegisterStateMetrics registers, on reg, a collector that reads the broker's state at
// scrape time: open connections, partition log start / high watermark / bytes local and
// remote / upload lag, and consumer-group lag. It also registers the request metrics.
func (b *Broker) RegisterStateMetrics(reg prometheus.Registerer, opts StateMetricsOptions) error {
	b.ops()
	return reg.Register(&stateCollector{b: b, opts: opts})
}

type stateCollector struct {
	b    *Broker
	opts StateMetricsOptions
}

var (
	descConns  = prometheus.NewDesc("strata_connections", "Open client connections (Kafka connection-count).", nil, nil)
	descTopics = prometheus.NewDesc("strata_topics", "Topics.", nil, nil)
	descParts  = prometheus.NewDesc("strata_partitions", "Partitions, by topic.", []string{"topic"}, nil)
	descFiles  = prometheus.NewDesc("strata_segment_files", "Sealed segment .log files held open by the broker-wide cache (strata.log.max.open.segment.files): state open (serving reads) or retired (evicted, closed once reads in flight are done).", []string{"state"}, nil)
)

func (c *stateCollector) partLabels() []string {
	if c.opts.PerPartition {
		return []string{"topic", "partition"}
	}
	return []string{"topic"}
}

func (c *stateCollector) descs() map[string]*prometheus.Desc {
	pl := c.partLabels()
	gl := append([]string{"group"}, pl...)
	agg := ""
	if !c.opts.PerPartition {
		agg = " Summed over the topic's partitions (per-partition series: strata.metrics.partition.labels=true)."
	}
	return map[string]*prometheus.Desc{
		"start":  prometheus.NewDesc("strata_partition_log_start_offset", "First offset readable (local or remote) (Kafka LogStartOffset)."+agg, pl, nil),
		"lstart": prometheus.NewDesc("strata_partition_local_log_start_offset", "First offset on local disk (Kafka LocalLogStartOffset)."+agg, pl, nil),
		"hw":     prometheus.NewDesc("strata_partition_high_watermark", "High watermark = log end offset on a single node (Kafka LogEndOffset)."+agg, pl, nil),
		"size":   prometheus.NewDesc("strata_partition_size_bytes", "Log bytes by tier: local (disk) or remote (bucket) (Kafka Size, RemoteLogSizeBytes)."+agg, append(pl, "tier"), nil),
		"lag":    prometheus.NewDesc("strata_partition_upload_lag_bytes", "Sealed local bytes not yet uploaded."+agg, pl, nil),
		"glag":   prometheus.NewDesc("strata_group_lag", "Consumer group lag in records: high watermark - committed offset (Kafka records-lag)."+agg, gl, nil),
		"goff":   prometheus.NewDesc("strata_group_committed_offset", "Committed offset of a group."+agg, gl, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConns
	ch <- descTopics
	ch <- descParts
	ch <- descFiles
	for _, d := range c.descs() {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	d := c.descs()
	b.connMu.Lock()
	conns := len(b.conns)
	b.connMu.Unlock()
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(conns))
	if b.segFiles != nil {
		open, retired := b.segFiles.Files()
		ch <- prometheus.MustNewConstMetric(descFiles, prometheus.GaugeValue, float64(open), "open")
		ch <- prometheus.MustNewConstMetric(descFiles, prometheus.GaugeValue, float64(retired), "retired")
	}

	type agg struct{ start, lstart, hw, local, remote, lag float64 }
	hws := map[string][]int64{}
	topics := b.allTopics()
	ch <- prometheus.MustNewConstMetric(descTopics, prometheus.GaugeValue, float64(len(topics)))
	for _, t := range topics {
		parts := t.partitions()
		ch <- prometheus.MustNewConstMetric(descParts, prometheus.GaugeValue, float64(len(parts)), t.Name)
		var sum agg
		for _, p := range parts {
			hw := p.HighWatermark()
			hws[t.Name] = append(hws[t.Name], hw)
			a := agg{start: float64(p.LogStartOffset()), lstart: float64(p.LocalLogStartOffset()), hw: float64(hw)}
			a.local = float64(p.SizeBytes())
			if p.HasTier() {
				_, lag := p.UploadBacklog() // not a scan of the history
				a.lag = float64(lag)
				a.remote = float64(p.RemoteBytes())
			}
			if c.opts.PerPartition {
				lv := []string{t.Name, strconv.Itoa(int(p.Index()))}
				emitPartition(ch, d, a.start, a.lstart, a.hw, a.local, a.remote, a.lag, lv)
				continue
			}
			sum.start += a.start
			sum.lstart += a.lstart
			sum.hw += a.hw
			sum.local += a.local
			sum.remote += a.remote
			sum.lag += a.lag
		}
		if !c.opts.PerPartition {
			emitPartition(ch, d, sum.start, sum.lstart, sum.hw, sum.local, sum.remote, sum.lag, []string{t.Name})
		}
	}
	for _, g := range b.groupSnapshots(hws) {
		type key struct{ topic string }
		lag, off := map[key]float64{}, map[key]float64{}
		for _, gp := range g.Partitions {
			if gp.Lag < 0 {
				continue
			}
			if c.opts.PerPartition {
				lv := []string{g.Group, gp.Topic, strconv.Itoa(int(gp.Partition))}
				ch <- prometheus.MustNewConstMetric(d["glag"], prometheus.GaugeValue, float64(gp.Lag), lv...)
				ch <- prometheus.MustNewConstMetric(d["goff"], prometheus.GaugeValue, float64(gp.Committed), lv...)
				continue
			}
			lag[key{gp.Topic}] += float64(gp.Lag)
			off[key{gp.Topic}] += float64(gp.Committed)
		}
		for k, v := range lag {
			ch <- prometheus.MustNewConstMetric(d["glag"], prometheus.GaugeValue, v, g.Group, k.topic)
			ch <- prometheus.MustNewConstMetric(d["goff"], prometheus.GaugeValue, off[k], g.Group, k.topic)
		}
	}
}

func emitPartition(ch chan<- prometheus.Metric, d map[string]*prometheus.Desc, start, lstart, hw, local, remote, lag float64, lv []string) {
	ch <- prometheus.MustNewConstMetric(d["start"], prometheus.GaugeValue, start, lv...)
	ch <- prometheus.MustNewConstMetric(d["lstart"], prometheus.GaugeValue, lstart, lv...)
	ch <- prometheus.MustNewConstMetric(d["hw"], prometheus.GaugeValue, hw, lv...)
	ch <- prometheus.MustNewConstMetric(d["size"], prometheus.GaugeValue, local, append(lv, "local")...)
	ch <- prometheus.MustNewConstMetric(d["size"], prometheus.GaugeValue, remote, append(lv, "remote")...)
	ch <- prometheus.MustNewConstMetric(d["lag"], prometheus.GaugeValue, lag, lv...)
}
