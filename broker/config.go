package broker

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/tiering"
)

// Config is the broker's configuration. cmd/strata builds it with ParseConfig from a
// server.properties-style map (Kafka's broker key names) and sets the non-string fields
// (RemoteStore, Logger, Registerer) itself. The zero value is not valid; use ParseConfig(nil)
// for defaults.
type Config struct {
	NodeID                 int32         // node.id; default 0
	ClusterID              string        // cluster.id; default generated once and persisted in meta
	Listeners              string        // listeners; default PLAINTEXT://127.0.0.1:9092
	AdvertisedListeners    string        // advertised.listeners; default = listeners (actual bound port)
	DataDir                string        // log.dirs (one dir); default ./data
	NumPartitions          int32         // num.partitions; default 1
	AutoCreateTopics       bool          // auto.create.topics.enable; default true
	MessageMaxBytes        int32         // message.max.bytes; default 1048588
	SocketRequestMaxBytes  int32         // socket.request.max.bytes; default 104857600
	LogSegmentBytes        int64         // log.segment.bytes; default 1 GiB
	LogRollMs              int64         // log.roll.ms; default 7 days
	LogRetentionMs         int64         // log.retention.ms (or .hours/.minutes); default 7 days; -1 unlimited
	LogRetentionBytes      int64         // log.retention.bytes; default -1
	LogIndexIntervalBytes  int32         // log.index.interval.bytes; default 4096
	LogFlushIntervalMsgs   int64         // log.flush.interval.messages; default Long.MAX (page cache only)
	LogFlushIntervalMs     int64         // log.flush.interval.ms; default none
	RetentionCheckInterval time.Duration // log.retention.check.interval.ms; default 5 min

	// Tiered storage (broker side). Store selection/credentials are parsed by cmd/strata.
	RemoteStorageSystemEnable bool          // remote.log.storage.system.enable; default true when RemoteStore != nil
	LogLocalRetentionMs       int64         // log.local.retention.ms; default -2 (= retention.ms)
	LogLocalRetentionBytes    int64         // log.local.retention.bytes; default -2
	RemoteUploadInterval      time.Duration // remote.log.upload.interval.ms; default 0 (roll only by segment.ms)
	RemoteCopyConcurrency     int           // remote.log.copier.thread.pool.size; default 4
	RemoteCopyMaxBytesPerSec  int64         // remote.log.manager.copy.max.bytes.per.second; default unlimited
	RemoteCacheBytes          int64         // remote.log.cache.bytes; default 256 MiB
	RemoteChunkBytes          int64         // remote.log.chunk.bytes; default 4 MiB
	RemoteStore               tiering.ObjectStore
	RemotePrefix              string // key prefix in the bucket; default ""

	Logger     *slog.Logger          // nil = discard
	Registerer prometheus.Registerer // nil = no metrics
}
