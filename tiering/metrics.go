package tiering

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the remote tier's Prometheus collectors. Help texts name the Kafka metric
// each one corresponds to (kafka.server:type=BrokerTopicMetrics / RemoteLogManager).
type Metrics struct {
	copyLagBytes    *prometheus.GaugeVec
	copyLagSegments *prometheus.GaugeVec
	copyBytes       *prometheus.CounterVec
	copySegments    *prometheus.CounterVec
	fetchBytes      *prometheus.CounterVec
	fetchRequests   *prometheus.CounterVec
	errors          *prometheus.CounterVec
	deletedSegments *prometheus.CounterVec
	orphansSwept    prometheus.Counter
	manifestBytes   prometheus.Counter
	fenced          prometheus.Counter
	integrity       *prometheus.CounterVec
	deleteRefused   prometheus.Counter
}

// NewMetrics creates the collectors and registers them with reg (nil = not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	pl := []string{"topic", "partition"}
	m := &Metrics{
		copyLagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_remote_copy_lag_bytes",
			Help: "Bytes of sealed local segments not yet uploaded (Kafka RemoteCopyLagBytes).",
		}, pl),
		copyLagSegments: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_remote_copy_lag_segments",
			Help: "Sealed local segments not yet uploaded (Kafka RemoteCopyLagSegments).",
		}, pl),
		copyBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_copy_bytes_total",
			Help: "Segment bytes uploaded to the bucket; rate() gives Kafka RemoteCopyBytesPerSec.",
		}, []string{"topic"}),
		copySegments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_copy_segments_total",
			Help: "Segments uploaded and named by the manifest (Kafka RemoteCopyRequestsPerSec counts attempts).",
		}, []string{"topic"}),
		fetchBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_fetch_bytes_total",
			Help: "Record bytes of remote reads, counted when sent to a consumer (a read the broker makes ahead of a fetch counts only if a fetch sends it); rate() gives Kafka RemoteFetchBytesPerSec.",
		}, []string{"topic"}),
		fetchRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_fetch_requests_total",
			Help: "Remote reads served to consumers (Kafka RemoteFetchRequestsPerSec); reads made ahead of a fetch count when a fetch sends them.",
		}, []string{"topic"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_errors_total",
			Help: "Failed remote operations by op: copy, fetch, delete, manifest, list (Kafka RemoteCopyErrorsPerSec, RemoteFetchErrorsPerSec, RemoteDeleteErrorsPerSec).",
		}, []string{"op"}),
		deletedSegments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_delete_segments_total",
			Help: "Remote segments dropped by retention or DeleteRecords (Kafka RemoteDeleteRequestsPerSec).",
		}, []string{"topic"}),
		orphansSwept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_remote_orphans_swept_total",
			Help: "Objects deleted because no manifest names them and they are older than the orphan grace period.",
		}),
		manifestBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_remote_manifest_bytes_total",
			Help: "Bytes of partition manifests written (head plus spilled chunks).",
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_remote_fenced_total",
			Help: "Partitions whose manifest writer was fenced by a conditional-put mismatch.",
		}),
		integrity: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_integrity_failures_total",
			Help: "Remote data refused for failing its SHA-256 or the manifest hash chain, by kind: chunk (a .log block), index (an index or hash list object), chain (a broken link at load), rollback (a manifest behind the chain head this broker wrote), manifest (a manifest that does not decode or breaks its invariants).",
		}, []string{"kind"}),
		deleteRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_remote_delete_refused_total",
			Help: "Deletes of remote objects the bucket refused (S3 Object Lock retention, access denied); the objects stay until the orphan sweep deletes them.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.copyLagBytes, m.copyLagSegments, m.copyBytes, m.copySegments, m.fetchBytes,
			m.fetchRequests, m.errors, m.deletedSegments, m.orphansSwept, m.manifestBytes, m.fenced, m.integrity, m.deleteRefused)
	}
	return m
}
