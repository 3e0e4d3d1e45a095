package cache

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the cache's Prometheus collectors. Label kind is "chunk" or "index".
type Metrics struct {
	hits       *prometheus.CounterVec
	misses     *prometheus.CounterVec
	evictions  *prometheus.CounterVec
	loads      *prometheus.CounterVec
	bytes      *prometheus.GaugeVec
	prefetches prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil = not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_cache_hits_total",
			Help: "Remote-tier cache lookups answered from memory (Kafka has no equivalent; compare RemoteLogReaderFetchRateAndTimeMs).",
		}, []string{"kind"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_cache_misses_total",
			Help: "Remote-tier cache lookups that needed a load from the bucket.",
		}, []string{"kind"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_cache_evictions_total",
			Help: "Entries evicted from the remote-tier cache to stay within its byte budget.",
		}, []string{"kind"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_cache_loads_total",
			Help: "Entries loaded into the remote-tier cache (one ranged GET each, except read-ahead runs: one GET for several consecutive chunks); concurrent misses of one entry share one load.",
		}, []string{"kind"}),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_remote_cache_bytes",
			Help: "Bytes charged to the remote-tier cache budget.",
		}, []string{"kind"}),
		prefetches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_remote_cache_prefetches_total",
			Help: "Read-ahead chunk loads started for sequential remote readers.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.hits, m.misses, m.evictions, m.loads, m.bytes, m.prefetches)
	}
	return m
}
