package group

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the coordinator's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	groups        *prometheus.GaugeVec
	consumer      *prometheus.GaugeVec
	rebalances    prometheus.Counter
	commits       prometheus.Counter
	commitSeconds prometheus.Histogram
	expired       prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil = unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		groups: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_group_groups",
			Help: "Classic consumer groups by state (Empty, PreparingRebalance, CompletingRebalance, Stable); Kafka's NumGroups{state}. KIP-848 groups are in strata_group_consumer_groups.",
		}, []string{"state"}),
		consumer: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_group_consumer_groups",
			Help: "KIP-848 consumer groups by state (Empty, Assigning, Reconciling, Stable); Kafka's consumer-group-count{state}.",
		}, []string{"state"}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_rebalances_total",
			Help: "Join phases completed (generations started); Kafka's group-coordinator rebalance count.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_offset_commits_total",
			Help: "Partition offsets committed; Kafka's OffsetCommits.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_group_offset_commit_seconds",
			Help:    "Time to make an OffsetCommit durable (store append and fsync).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_offsets_expired_total",
			Help: "Committed offsets removed by offsets.retention.minutes; Kafka's OffsetExpired.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.groups, m.consumer, m.rebalances, m.commits, m.commitSeconds, m.expired)
	}
	return m
}

func (m *Metrics) transition(from, to State, isNew bool) {
	if m == nil {
		return
	}
	if !isNew && from != Dead {
		m.groups.WithLabelValues(from.String()).Dec()
	}
	if to != Dead {
		m.groups.WithLabelValues(to.String()).Inc()
	}
}

// consumerState moves a consumer group from one state to another ("" = not counted).
func (m *Metrics) consumerState(from, to string) {
	if m == nil || from == to {
		return
	}
	if from != "" {
		m.consumer.WithLabelValues(from).Dec()
	}
	if to != "" {
		m.consumer.WithLabelValues(to).Inc()
	}
}

func (m *Metrics) rebalanced() {
	if m != nil {
		m.rebalances.Inc()
	}
}

func (m *Metrics) committed(n int, seconds float64) {
	if m != nil {
		m.commits.Add(float64(n))
		m.commitSeconds.Observe(seconds)
	}
}

func (m *Metrics) expiredOffsets(n int) {
	if m != nil {
		m.expired.Add(float64(n))
	}
}
