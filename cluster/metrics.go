package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics exports the quorum as this node sees it, computed from its image at
// scrape time (Kafka's names in the help text):
//
//	strata_cluster_active_controller             1 on the active controller (ActiveControllerCount)
//	strata_cluster_metadata_version              the image version (Raft index) applied here
//	strata_cluster_brokers{state}                registered brokers, fenced or unfenced (FencedBrokerCount, ActiveBrokerCount)
//	strata_cluster_offline_partitions            partitions without a leader (OfflinePartitionsCount)
//	strata_cluster_under_replicated_partitions   partitions whose ISR is smaller than their replica set (UnderReplicatedPartitions)
//	strata_cluster_isr_shrinks_total / _expands_total   ISR changes applied since this node started (IsrShrinksPerSec, IsrExpandsPerSec)
func (n *Node) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(nodeCollector{n})
}

var (
	descActive = prometheus.NewDesc("strata_cluster_active_controller",
		"1 when this node is the active controller (Kafka's ActiveControllerCount).", nil, nil)
	descVersion = prometheus.NewDesc("strata_cluster_metadata_version",
		"Raft index of the last metadata entry applied on this node.", nil, nil)
	descBrokers = prometheus.NewDesc("strata_cluster_brokers",
		"Registered brokers by state (Kafka's FencedBrokerCount / ActiveBrokerCount).", []string{"state"}, nil)
	descOffline = prometheus.NewDesc("strata_cluster_offline_partitions",
		"Partitions without a leader (Kafka's OfflinePartitionsCount).", nil, nil)
	descURP = prometheus.NewDesc("strata_cluster_under_replicated_partitions",
		"Partitions whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions, cluster-wide).", nil, nil)
	descShrinks = prometheus.NewDesc("strata_cluster_isr_shrinks_total",
		"ISR shrinks applied since this node started (Kafka's IsrShrinksPerSec).", nil, nil)
	descExpands = prometheus.NewDesc("strata_cluster_isr_expands_total",
		"ISR expansions applied since this node started (Kafka's IsrExpandsPerSec).", nil, nil)
)

type nodeCollector struct{ n *Node }

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descVersion, descBrokers, descOffline, descURP, descShrinks, descExpands} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	im := c.n.Image()
	active := 0.0
	if c.n.IsLeader() && c.n.ctl.mu.TryLock() {
		if c.n.ctl.ready {
			active = 1
		}
		c.n.ctl.mu.Unlock()
	}
	var fenced, unfenced, offline, urp float64
	for _, b := range im.Brokers {
		if b.Fenced {
			fenced++
		} else {
			unfenced++
		}
	}
	for _, t := range im.Topics {
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				offline++
			}
			if len(p.ISR) < len(p.Replicas) {
				urp++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, active)
	ch <- prometheus.MustNewConstMetric(descVersion, prometheus.GaugeValue, float64(im.Version))
	ch <- prometheus.MustNewConstMetric(descBrokers, prometheus.GaugeValue, fenced, "fenced")
	ch <- prometheus.MustNewConstMetric(descBrokers, prometheus.GaugeValue, unfenced, "unfenced")
	ch <- prometheus.MustNewConstMetric(descOffline, prometheus.GaugeValue, offline)
	ch <- prometheus.MustNewConstMetric(descURP, prometheus.GaugeValue, urp)
	ch <- prometheus.MustNewConstMetric(descShrinks, prometheus.CounterValue, float64(c.n.fsm.isrShrinks.Load()))
	ch <- prometheus.MustNewConstMetric(descExpands, prometheus.CounterValue, float64(c.n.fsm.isrExpands.Load()))
}
