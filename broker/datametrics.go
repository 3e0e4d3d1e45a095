package broker

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// dataMetrics are the data path's metrics (Kafka's BytesInPerSec, BytesOutPerSec,
// RemoteFetchBytesPerSec, RemoteFetchErrorsPerSec ...). They are registered on the
// broker's Config.Registerer the first time a broker uses them; nil Registerer = counted
// but not exported.
type dataMetrics struct {
	produceBytes   prometheus.Counter
	produceRecords prometheus.Counter
	produceErrors  prometheus.Counter
	durableWait    prometheus.Histogram
	fetchBytes     *prometheus.CounterVec // source=local|remote
	remoteErrors   prometheus.Counter
}

var (
	dataMetricsMu  sync.Mutex
	dataMetricsFor = map[*Broker]*dataMetrics{}
)

// metrics returns the broker's data-path metrics, creating and registering them once.
func (b *Broker) metrics() *dataMetrics {
	dataMetricsMu.Lock()
	defer dataMetricsMu.Unlock()
	if m, ok := dataMetricsFor[b]; ok {
		return m
	}
	m := newDataMetrics(b.cfg.Registerer)
	dataMetricsFor[b] = m
	return m
}

func newDataMetrics(reg prometheus.Registerer) *dataMetrics {
	m := &dataMetrics{
		produceBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_produce_bytes_total",
			Help: "Record batch bytes appended by Produce (Kafka: BytesInPerSec).",
		}),
		produceRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_produce_records_total",
			Help: "Records appended by Produce (Kafka: MessagesInPerSec).",
		}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_produce_partition_errors_total",
			Help: "Produce partitions answered with an error code (Kafka: FailedProduceRequestsPerSec).",
		}),
		durableWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_produce_durable_wait_seconds",
			Help:    "Time an acks=-1 Produce waited for its records to be fsynced.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		fetchBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_fetch_bytes_total",
			Help: "Record bytes returned by Fetch, by source: local disk or the remote tier (Kafka: BytesOutPerSec, RemoteFetchBytesPerSec).",
		}, []string{"source"}),
		remoteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_remote_fetch_errors_total",
			Help: "Fetch partitions whose remote read failed (Kafka: RemoteFetchErrorsPerSec).",
		}),
	}
	if reg != nil {
		m.produceBytes = registerOrExisting(reg, m.produceBytes)
		m.produceRecords = registerOrExisting(reg, m.produceRecords)
		m.produceErrors = registerOrExisting(reg, m.produceErrors)
		m.durableWait = registerOrExisting(reg, m.durableWait)
		m.fetchBytes = registerOrExisting(reg, m.fetchBytes)
		m.remoteErrors = registerOrExisting(reg, m.remoteErrors)
	}
	return m
}

// registerOrExisting registers c, or returns the collector already registered under its name (a
// broker restarted in the same process keeps counting into the same series).
func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
