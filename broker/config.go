package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/txn"
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
	LogFlushIntervalMs     int64         // log.flush.interval.ms; default Long.MAX (none)
	RetentionCheckInterval time.Duration // log.retention.check.interval.ms; default 5 min
	ConnectionsMaxIdle     time.Duration // connections.max.idle.ms; default 10 min
	QueuedMaxRequestBytes  int64         // queued.max.request.bytes; default 268435456; <= 0 unlimited (requestbudget.go)
	RequestReadTimeout     time.Duration // strata.socket.request.read.timeout.ms; default 30 s (requestbudget.go)
	DiskBudgetBytes        int64         // strata.disk.budget.bytes; default -1 (unlimited); see diskbudget.go
	DiskReserveBytes       int64         // strata.disk.reserve.bytes; default 8 MiB; 0 = none; see fulldisk.go
	MaxOpenSegmentFiles    int64         // strata.log.max.open.segment.files; default 0 (a sixteenth of the open-file limit); see segfiles.go

	// Broker-wide defaults of further topic configs (Kafka's broker synonyms).
	LogCleanupPolicy               string // log.cleanup.policy; default delete
	CompressionType                string // compression.type; default producer
	LogMessageTimestampType        string // log.message.timestamp.type; default CreateTime
	LogMessageTimestampBeforeMaxMs int64  // log.message.timestamp.before.max.ms; default Long.MAX
	LogMessageTimestampAfterMaxMs  int64  // log.message.timestamp.after.max.ms; default Long.MAX
	MinInsyncReplicas              int32  // min.insync.replicas; default 1
	DefaultReplicationFactor       int16  // default.replication.factor; only 1 is accepted

	// The log cleaner (compaction; cleaner.go).
	LogCleanerEnable              bool          // log.cleaner.enable; default true
	LogCleanerThreads             int32         // log.cleaner.threads; default 1
	LogCleanerDedupeBufferSize    int64         // log.cleaner.dedupe.buffer.size; default 134217728
	LogCleanerIOMaxBytesPerSecond float64       // log.cleaner.io.max.bytes.per.second; default unlimited
	LogCleanerBackoff             time.Duration // log.cleaner.backoff.ms; default 15 s

	// Consumer groups and idempotent producers (broker/group, broker/producer).
	GroupInitialRebalanceDelayMs int64 // group.initial.rebalance.delay.ms; default 3000; 0 = no delay
	GroupMinSessionTimeoutMs     int64 // group.min.session.timeout.ms; default 6000
	GroupMaxSessionTimeoutMs     int64 // group.max.session.timeout.ms; default 1800000
	GroupMaxSize                 int32 // group.max.size; default Int.MAX (unlimited)
	// KIP-848 consumer groups (ConsumerGroupHeartbeat).
	GroupConsumerSessionTimeoutMs    int64       // group.consumer.session.timeout.ms; default 45000
	GroupConsumerHeartbeatIntervalMs int64       // group.consumer.heartbeat.interval.ms; default 5000
	GroupConsumerAssignors           string      // group.consumer.assignors; default uniform,range
	GroupConsumerMaxSize             int32       // group.consumer.max.size; default Int.MAX (unlimited)
	GroupConsumerMigrationPolicy     string      // group.consumer.migration.policy; default bidirectional
	GroupShare                       ShareConfig // group.share.* (share groups, KIP-932; shares.go)
	OffsetsRetentionMinutes          int64       // offsets.retention.minutes; default 10080 (7 days)
	OffsetsRetentionCheckInterval    int64       // offsets.retention.check.interval.ms; default 600000
	OffsetMetadataMaxBytes           int32       // offset.metadata.max.bytes; default 4096
	ProducerIDExpirationMs           int64       // producer.id.expiration.ms; default 86400000

	// Fetch sessions (fetchsession.go).
	FetchSessionCacheSlots int32 // max.incremental.fetch.session.cache.slots; default 1000; 0 = no sessions
	FetchSessionEvictionMs int64 // min.incremental.fetch.session.eviction.ms; default 120000

	OffsetsTopicPartitions int32 // offsets.topic.num.partitions; default 50 (internaltopics.go)

	// Transactions (broker/txn).
	TransactionMaxTimeoutMs     int32 // transaction.max.timeout.ms; default 900000
	TransactionalIDExpirationMs int32 // transactional.id.expiration.ms; default 604800000
	TransactionAbortIntervalMs  int32 // transaction.abort.timed.out.transaction.cleanup.interval.ms; default 10000
	// txnAfterPrepare: crash tests stop a transaction's completion after its prepare.
	txnAfterPrepare func(txn.Txn) error

	// Tiered storage (broker side). Store selection/credentials are parsed by cmd/strata.
	RemoteStorageSystemEnable bool          // remote.log.storage.system.enable; default true (effective only when RemoteStore != nil)
	LogRemoteStorageEnable    bool          // log.remote.storage.enable (Strata): default remote.storage.enable of topics; default false
	LogLocalRetentionMs       int64         // log.local.retention.ms; default -2 (= retention.ms)
	LogLocalRetentionBytes    int64         // log.local.retention.bytes; default -2
	RemoteUploadInterval      time.Duration // remote.log.upload.interval.ms; default 1 h (0 = roll only by segment.ms)
	RemoteWatermarkInterval   time.Duration // strata.remote.log.watermark.interval.ms; default 1 min; 0 = no watermarks (tiering/watermark.go)
	RemoteVerifyHashes        bool          // strata.remote.log.verify.hashes; default true (tiering/hashcheck.go)
	RemoteObjectLockMode      string        // "", GOVERNANCE, COMPLIANCE: S3 Object Lock of uploads (tiering.Config); set by cmd/strata from strata.tier.s3.object.lock.mode, not a broker key
	RemoteObjectLockUnlimited time.Duration // lock of objects of topics with retention.ms=-1 (strata.tier.s3.object.lock.unlimited.ms)
	RemoteCopyConcurrency     int           // remote.log.copier.thread.pool.size; default 4
	RemoteCopyMaxBytesPerSec  int64         // remote.log.manager.copy.max.bytes.per.second; default Long.MAX (unlimited)
	RemoteCacheBytes          int64         // remote.log.cache.bytes; default 256 MiB
	RemoteChunkBytes          int64         // remote.log.chunk.bytes; default 4 MiB
	RemoteStore               tiering.ObjectStore
	RemotePrefix              string // key prefix in the bucket; default ""

	// RemoteGroupsUploadInterval: strata.remote.groups.upload.interval.ms; default 5 s; 0 =
	// never (groupbucket.go).
	RemoteGroupsUploadInterval time.Duration
	// Client quotas (quota.go): quota.window.num (default 11) samples of
	// quota.window.size.seconds (default 1) each; 0 = the default.
	QuotaWindowNum         int32
	QuotaWindowSizeSeconds int32

	// RemoteStoreID names where RemoteStore keeps its objects ("fs:<dir>", "s3://<bucket>
	// at <endpoint>"), without the prefix. When set, the data dir records it with the prefix
	// in meta/remote-store.json and New refuses another one (remoteident.go) unless
	// RemoteStoreChangeAllowed. Empty (tests, embedded use): not checked.
	RemoteStoreID            string
	RemoteStoreChangeAllowed bool
	// DataDirLock is the lock of DataDir when the caller took it already (strata serve does,
	// before it logs anything); New takes it otherwise. The broker releases it on Close.
	DataDirLock *DataDirLock

	// TLS, SASL and ACLs (secconfig.go).
	SecurityConfig

	Logger     *slog.Logger          // nil = discard
	Registerer prometheus.Registerer // nil = no metrics

	// explicit holds the keys ParseConfig was given (after alias resolution), so that
	// DescribeConfigs can tell STATIC_BROKER_CONFIG from DEFAULT_CONFIG.
	explicit map[string]bool
}

// ConfigKeyDoc documents one broker configuration key.
type ConfigKeyDoc struct {
	Name      string
	Default   string // "" = null / none
	Doc       string
	Sensitive bool // value is masked by DescribeConfigs
	Ignored   bool // accepted for compatibility with Kafka's server.properties; no effect
}

type brokerKey struct {
	ConfigKeyDoc
	typ   kmsg.ConfigType
	order int // application order: higher wins when several keys set one field
	set   func(c *Config, v string) error
	get   func(c *Config) string
}

const longMax = math.MaxInt64

func parseInt32(v string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	return int32(n), err
}

func parseInt64(v string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}

func i32Key(name, def, doc string, f func(c *Config) *int32) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Default: def, Doc: doc},
		typ:          kmsg.ConfigTypeInt,
		set: func(c *Config, v string) error {
			n, err := parseInt32(v)
			if err != nil {
				return err
			}
			*f(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(int64(*f(c)), 10) },
	}
}

func i64Key(name, def, doc string, f func(c *Config) *int64) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Default: def, Doc: doc},
		typ:          kmsg.ConfigTypeLong,
		set: func(c *Config, v string) error {
			n, err := parseInt64(v)
			if err != nil {
				return err
			}
			*f(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(*f(c), 10) },
	}
}

// scaledKey sets an int64 millisecond field from a value in units of mult ms.
func scaledKey(name, def, doc string, order int, mult int64, f func(c *Config) *int64) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Default: def, Doc: doc},
		typ:          kmsg.ConfigTypeLong,
		order:        order,
		set: func(c *Config, v string) error {
			n, err := parseInt64(v)
			if err != nil {
				return err
			}
			if n > 0 && n > longMax/mult {
				return fmt.Errorf("value %d overflows", n)
			}
			if n < 0 {
				*f(c) = n // -1 keeps its meaning (unlimited) in every unit
			} else {
				*f(c) = n * mult
			}
			return nil
		},
		get: func(c *Config) string {
			if *f(c) < 0 {
				return strconv.FormatInt(*f(c), 10)
			}
			return strconv.FormatInt(*f(c)/mult, 10)
		},
	}
}

func durKey(name, def, doc string, f func(c *Config) *time.Duration) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Default: def, Doc: doc},
		typ:          kmsg.ConfigTypeLong,
		set: func(c *Config, v string) error {
			n, err := parseInt64(v)
			if err != nil {
				return err
			}
			if n < 0 || n > longMax/int64(time.Millisecond) {
				return fmt.Errorf("value %d out of range", n)
			}
			*f(c) = time.Duration(n) * time.Millisecond
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(f(c).Milliseconds(), 10) },
	}
}

func boolKey(name, def, doc string, f func(c *Config) *bool) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Default: def, Doc: doc},
		typ:          kmsg.ConfigTypeBoolean,
		set: func(c *Config, v string) error {
			b, err := parseBool(v)
			if err != nil {
				return err
			}
			*f(c) = b
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*f(c)) },
	}
}

func strKey(name, def, doc string, f func(c *Config) *string) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Default: def, Doc: doc},
		typ:          kmsg.ConfigTypeString,
		set:          func(c *Config, v string) error { *f(c) = strings.TrimSpace(v); return nil },
		get:          func(c *Config) string { return *f(c) },
	}
}

func ignoredKey(name, doc string) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Doc: doc, Ignored: true},
		set:          func(*Config, string) error { return nil },
	}
}

// serveKey documents a key that strata serve reads itself (the cluster keys, see
// cmd/strata/cluster.go): the broker accepts it and leaves it alone.
func serveKey(name, def, doc string) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Default: def, Doc: doc},
		set:          func(*Config, string) error { return nil },
	}
}

// brokerKeys is the table of every broker key ParseConfig accepts.
var brokerKeys = []brokerKey{
	i32Key("node.id", "0", "The node id of this broker; the broker is the leader of every partition.", func(c *Config) *int32 { return &c.NodeID }),
	strKey("cluster.id", "", "The cluster id; generated once and persisted in <log.dirs>/meta when empty.", func(c *Config) *string { return &c.ClusterID }),
	strKey("listeners", "PLAINTEXT://127.0.0.1:9092", "Listeners, NAME://host:port separated by commas; the security protocol of NAME comes from listener.security.protocol.map. Port 0 picks a free port.", func(c *Config) *string { return &c.Listeners }),
	strKey("advertised.listeners", "", "Addresses given to clients in Metadata, per listener name; default: the bound listener address.", func(c *Config) *string { return &c.AdvertisedListeners }),
	strKey("log.dirs", "./data", "The data directory (exactly one) holding partition directories and meta.", func(c *Config) *string { return &c.DataDir }),
	i32Key("num.partitions", "1", "Partitions of auto-created topics and of CreateTopics requests with -1 partitions.", func(c *Config) *int32 { return &c.NumPartitions }),
	{
		ConfigKeyDoc: ConfigKeyDoc{Name: "default.replication.factor", Default: "1", Doc: "Replication factor of new topics; only 1 is accepted (single node)."},
		typ:          kmsg.ConfigTypeShort,
		set: func(c *Config, v string) error {
			n, err := parseInt32(v)
			if err != nil {
				return err
			}
			c.DefaultReplicationFactor = int16(n)
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(int(c.DefaultReplicationFactor)) },
	},
	boolKey("auto.create.topics.enable", "true", "Create a topic on first Metadata/Produce request for it.", func(c *Config) *bool { return &c.AutoCreateTopics }),
	i32Key("message.max.bytes", "1048588", "Largest record batch size allowed (topic synonym max.message.bytes).", func(c *Config) *int32 { return &c.MessageMaxBytes }),
	i32Key("socket.request.max.bytes", "104857600", "Largest request frame accepted; larger frames close the connection.", func(c *Config) *int32 { return &c.SocketRequestMaxBytes }),
	i64Key("log.segment.bytes", "1073741824", "Segment size at which the active segment rolls (topic synonym segment.bytes).", func(c *Config) *int64 { return &c.LogSegmentBytes }),
	scaledKey("log.roll.hours", "168", "Segment age at which the active segment rolls, in hours.", 0, 3600000, func(c *Config) *int64 { return &c.LogRollMs }),
	scaledKey("log.roll.ms", "", "Segment age at which the active segment rolls (topic synonym segment.ms); overrides log.roll.hours.", 2, 1, func(c *Config) *int64 { return &c.LogRollMs }),
	scaledKey("log.retention.hours", "168", "Retention time in hours.", 0, 3600000, func(c *Config) *int64 { return &c.LogRetentionMs }),
	scaledKey("log.retention.minutes", "", "Retention time in minutes; overrides log.retention.hours.", 1, 60000, func(c *Config) *int64 { return &c.LogRetentionMs }),
	scaledKey("log.retention.ms", "", "Retention time (topic synonym retention.ms); -1 = unlimited; overrides minutes and hours.", 2, 1, func(c *Config) *int64 { return &c.LogRetentionMs }),
	i64Key("log.retention.bytes", "-1", "Maximum size of a partition, local + remote (topic synonym retention.bytes); -1 = unlimited.", func(c *Config) *int64 { return &c.LogRetentionBytes }),
	i32Key("log.index.interval.bytes", "4096", "Bytes between sparse offset index entries.", func(c *Config) *int32 { return &c.LogIndexIntervalBytes }),
	i64Key("log.flush.interval.messages", "9223372036854775807", "Messages appended before an fsync (topic synonym flush.messages).", func(c *Config) *int64 { return &c.LogFlushIntervalMsgs }),
	i64Key("log.flush.interval.ms", "9223372036854775807", "Age of unflushed data before an fsync (topic synonym flush.ms).", func(c *Config) *int64 { return &c.LogFlushIntervalMs }),
	durKey("log.retention.check.interval.ms", "300000", "How often segment.ms rolls and retention are checked.", func(c *Config) *time.Duration { return &c.RetentionCheckInterval }),
	durKey("connections.max.idle.ms", "600000", "Close connections that send no request for this long.", func(c *Config) *time.Duration { return &c.ConnectionsMaxIdle }),
	i64Key("queued.max.request.bytes", "268435456", "Request bytes being read or queued, for all connections together. A frame reserves its declared size before its body is read and a connection waits (not reading) while the budget is used up; frames over a sixteenth of it share at most half of it, so small requests keep flowing. Must be at least socket.request.max.bytes; -1 = unlimited (Kafka's default; Strata bounds it so that clients declaring large frames cannot exhaust memory).", func(c *Config) *int64 { return &c.QueuedMaxRequestBytes }),
	durKey("strata.socket.request.read.timeout.ms", "30000", "Strata extension: once a request frame's size is read and the connection's own earlier requests leave room for it, the frame must be admitted by queued.max.request.bytes and arrive whole within this time, or the connection is closed (a stalled frame would otherwise hold memory and budget for connections.max.idle.ms). 30 s is the Java client's default request.timeout.ms: a client slower than that has given up on the request already.", func(c *Config) *time.Duration { return &c.RequestReadTimeout }),
	strKey("log.cleanup.policy", "delete", "Default cleanup.policy: delete, compact or compact,delete.", func(c *Config) *string { return &c.LogCleanupPolicy }),
	boolKey("log.cleaner.enable", "true", "Run the log cleaner, which compacts topics whose cleanup.policy has compact.", func(c *Config) *bool { return &c.LogCleanerEnable }),
	i32Key("log.cleaner.threads", "1", "Partitions the log cleaner cleans at once.", func(c *Config) *int32 { return &c.LogCleanerThreads }),
	i64Key("log.cleaner.dedupe.buffer.size", "134217728", "Memory of the cleaner's key maps, all threads together (24 bytes a key; a partition with more dirty keys than its thread's share is cleaned in several passes).", func(c *Config) *int64 { return &c.LogCleanerDedupeBufferSize }),
	f64Key("log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308", "Bytes the cleaner reads plus writes per second, all threads together.", func(c *Config) *float64 { return &c.LogCleanerIOMaxBytesPerSecond }),
	durKey("log.cleaner.backoff.ms", "15000", "How often the log cleaner looks for partitions to clean.", func(c *Config) *time.Duration { return &c.LogCleanerBackoff }),
	strKey("compression.type", "producer", "Default compression.type; batches are stored as produced.", func(c *Config) *string { return &c.CompressionType }),
	strKey("log.message.timestamp.type", "CreateTime", "Default message.timestamp.type: CreateTime or LogAppendTime.", func(c *Config) *string { return &c.LogMessageTimestampType }),
	i64Key("log.message.timestamp.before.max.ms", "9223372036854775807", "Default message.timestamp.before.max.ms.", func(c *Config) *int64 { return &c.LogMessageTimestampBeforeMaxMs }),
	i64Key("log.message.timestamp.after.max.ms", "9223372036854775807", "Default message.timestamp.after.max.ms.", func(c *Config) *int64 { return &c.LogMessageTimestampAfterMaxMs }),
	i32Key("min.insync.replicas", "1", "Default min.insync.replicas (accepted; single node).", func(c *Config) *int32 { return &c.MinInsyncReplicas }),
	boolKey("log.remote.storage.enable", "false", "Strata extension: the default remote.storage.enable of topics (strata serve sets it to true when a tier store is configured).", func(c *Config) *bool { return &c.LogRemoteStorageEnable }),
	boolKey("remote.log.storage.system.enable", "true", "Enable tiered storage on this broker (effective only when a remote store is configured).", func(c *Config) *bool { return &c.RemoteStorageSystemEnable }),
	i64Key("log.local.retention.ms", "-2", "Default local.retention.ms; -2 = retention.ms.", func(c *Config) *int64 { return &c.LogLocalRetentionMs }),
	i64Key("log.local.retention.bytes", "-2", "Default local.retention.bytes; -2 = retention.bytes.", func(c *Config) *int64 { return &c.LogLocalRetentionBytes }),
	durKey("remote.log.upload.interval.ms", "3600000", "Strata: the active segment of a tiered partition is rolled and uploaded once its oldest record is this old (checked every log.retention.check.interval.ms), so a quiet partition reaches the bucket within about this long; 0 = only when segment.bytes or segment.ms roll it.", func(c *Config) *time.Duration { return &c.RemoteUploadInterval }),
	durKey("strata.remote.groups.upload.interval.ms", "5000", "Strata extension: how often the consumer groups' committed offsets are copied to the bucket (_groups/groups.snapshot) while they change, and so how much older than the last commit the offsets a restore after a lost disk brings back may be; 0 = never.", func(c *Config) *time.Duration { return &c.RemoteGroupsUploadInterval }),
	i32Key("quota.window.num", "11", "The number of samples kept in memory for client quotas.", func(c *Config) *int32 { return &c.QuotaWindowNum }),
	i32Key("quota.window.size.seconds", "1", "The time span of each sample for client quotas.", func(c *Config) *int32 { return &c.QuotaWindowSizeSeconds }),
	boolKey("strata.remote.log.verify.hashes", "true", "Strata extension: check every chunk read from the bucket against the SHA-256 block hashes its manifest entry recorded, and refuse (KAFKA_STORAGE_ERROR) a chunk that does not match; false leaves the CRC-32C and batch header checks only.", func(c *Config) *bool { return &c.RemoteVerifyHashes }),
	durKey("strata.remote.log.watermark.interval.ms", "60000", "Strata extension: how often a tiered partition whose log end moved records it (and a reservation ahead of it) in the bucket, so that a restore after a lost disk never reuses an acknowledged offset; 0 = never.", func(c *Config) *time.Duration { return &c.RemoteWatermarkInterval }),
	{
		ConfigKeyDoc: ConfigKeyDoc{Name: "remote.log.copier.thread.pool.size", Default: "4", Doc: "Concurrent segment uploads."},
		typ:          kmsg.ConfigTypeInt,
		set: func(c *Config, v string) error {
			n, err := parseInt32(v)
			if err != nil {
				return err
			}
			c.RemoteCopyConcurrency = int(n)
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(c.RemoteCopyConcurrency) },
	},
	i64Key("remote.log.manager.copy.max.bytes.per.second", "9223372036854775807", "Upload bandwidth limit.", func(c *Config) *int64 { return &c.RemoteCopyMaxBytesPerSec }),
	i64Key("remote.log.cache.bytes", "268435456", "Bytes of remote index and data chunks cached in memory.", func(c *Config) *int64 { return &c.RemoteCacheBytes }),
	i64Key("remote.log.chunk.bytes", "4194304", "Size of the aligned chunks fetched from the bucket on a remote read.", func(c *Config) *int64 { return &c.RemoteChunkBytes }),
	i64Key("group.initial.rebalance.delay.ms", "3000", "How long the first rebalance of an empty group waits for more members; 0 = none.", func(c *Config) *int64 { return &c.GroupInitialRebalanceDelayMs }),
	i64Key("group.min.session.timeout.ms", "6000", "Smallest session timeout a group member may ask for.", func(c *Config) *int64 { return &c.GroupMinSessionTimeoutMs }),
	i64Key("group.max.session.timeout.ms", "1800000", "Largest session timeout a group member may ask for.", func(c *Config) *int64 { return &c.GroupMaxSessionTimeoutMs }),
	i32Key("group.max.size", "2147483647", "Maximum members of one consumer group.", func(c *Config) *int32 { return &c.GroupMaxSize }),
	i64Key("group.consumer.session.timeout.ms", "45000", "KIP-848 consumer groups: a member that does not heartbeat for this long is removed and its partitions reassigned.", func(c *Config) *int64 { return &c.GroupConsumerSessionTimeoutMs }),
	i64Key("group.consumer.heartbeat.interval.ms", "5000", "KIP-848 consumer groups: the heartbeat interval members are told to use.", func(c *Config) *int64 { return &c.GroupConsumerHeartbeatIntervalMs }),
	strKey("group.consumer.assignors", "uniform,range", "KIP-848 consumer groups: server-side assignors members may select (ServerAssignor), the first being the default; uniform and range (or their Kafka class names).", func(c *Config) *string { return &c.GroupConsumerAssignors }),
	i32Key("group.consumer.max.size", "2147483647", "KIP-848 consumer groups: maximum members of one group.", func(c *Config) *int32 { return &c.GroupConsumerMaxSize }),
	strKey("group.consumer.migration.policy", "bidirectional", "Online conversion of groups with members between the classic and the consumer protocol: bidirectional, upgrade (classic to consumer only), downgrade (consumer to classic only) or disabled. Empty groups always convert.", func(c *Config) *string { return &c.GroupConsumerMigrationPolicy }),
	i64Key("offsets.retention.minutes", "10080", "Committed offsets of an empty group are kept this long.", func(c *Config) *int64 { return &c.OffsetsRetentionMinutes }),
	i64Key("offsets.retention.check.interval.ms", "600000", "How often expired committed offsets are removed.", func(c *Config) *int64 { return &c.OffsetsRetentionCheckInterval }),
	i32Key("offset.metadata.max.bytes", "4096", "Largest metadata string of a committed offset.", func(c *Config) *int32 { return &c.OffsetMetadataMaxBytes }),
	i64Key("producer.id.expiration.ms", "86400000", "An idle producer's idempotence state is forgotten after this long.", func(c *Config) *int64 { return &c.ProducerIDExpirationMs }),
	i32Key("offsets.topic.num.partitions", "50", "Partitions of the internal topic __consumer_offsets as Metadata presents it (group state is kept in Strata's own store, not in a topic).", func(c *Config) *int32 { return &c.OffsetsTopicPartitions }),
	i32Key("max.incremental.fetch.session.cache.slots", "1000", "Most fetch sessions (KIP-227) kept at once; 0 = none (every fetch is a full fetch).", func(c *Config) *int32 { return &c.FetchSessionCacheSlots }),
	i64Key("min.incremental.fetch.session.eviction.ms", "120000", "A fetch session idle this long may be evicted for any new one; a younger session only by a new session with more partitions, once it is this old.", func(c *Config) *int64 { return &c.FetchSessionEvictionMs }),
	strKey("remote.log.prefix", "", "Key prefix in the bucket.", func(c *Config) *string { return &c.RemotePrefix }),
	i64Key("strata.log.max.open.segment.files", "0", "Strata extension: sealed segment .log files kept open for reads, for all partitions together (least recently read closed first; as many again may wait up to 30 s for reads in flight). 0 = a sixteenth of the process's open-file limit, at least 64.", func(c *Config) *int64 { return &c.MaxOpenSegmentFiles }),
	i64Key("strata.disk.reserve.bytes", "8388608", "Strata extension: size of a file of zeros kept in the data dir and deleted when the disk is full, so that the writes which free space (deleting a topic, DeleteRecords, config changes) still succeed; written again once twice its size is free. Partitions fenced by a full disk (ENOSPC) are unfenced by themselves once 4 MiB are free. 0 = no reserve.", func(c *Config) *int64 { return &c.DiskReserveBytes }),
	i64Key("strata.disk.budget.bytes", "-1", "Strata extension: bytes of local partition logs allowed; when reached, Produce gets the retriable KAFKA_STORAGE_ERROR, tiered partitions drop uploaded segments early, and readiness reports disk pressure, until usage falls below it. -1 or 0 = unlimited.", func(c *Config) *int64 { return &c.DiskBudgetBytes }),

	i32Key("transaction.max.timeout.ms", "900000", "Largest transaction timeout a producer may ask for (larger: INVALID_TRANSACTION_TIMEOUT).", func(c *Config) *int32 { return &c.TransactionMaxTimeoutMs }),
	i32Key("transactional.id.expiration.ms", "604800000", "A transactional id idle this long (no transaction open) is forgotten.", func(c *Config) *int32 { return &c.TransactionalIDExpirationMs }),
	i32Key("transaction.abort.timed.out.transaction.cleanup.interval.ms", "10000", "How often transactions past their timeout are aborted.", func(c *Config) *int32 { return &c.TransactionAbortIntervalMs }),

	serveKey("process.roles", "", "broker, controller or both. With controller.quorum.voters naming other nodes, strata serve runs this node in the metadata quorum (cluster/); without them (or when the only voter is this node) the node is a single combined broker, as by default."),
	serveKey("controller.quorum.voters", "", "The metadata quorum's voters, id@host:port separated by commas; read by strata serve (cluster/). Data replication between brokers is not built yet: every broker still serves its partitions alone."),
	serveKey("controller.quorum.bootstrap.servers", "", "Accepted; a static quorum (controller.quorum.voters) is required, dynamic quorums (KIP-853) are not supported."),
	serveKey("controller.listener.names", "", "The listener whose port carries the metadata quorum (Raft and controller RPC) when clustered."),
	ignoredKey("inter.broker.listener.name", "Single node; not used."),
	ignoredKey("num.network.threads", "Go schedules connections itself."),
	ignoredKey("num.io.threads", "Go schedules requests itself."),
	ignoredKey("socket.send.buffer.bytes", "Kernel defaults are used."),
	ignoredKey("socket.receive.buffer.bytes", "Kernel defaults are used."),
	ignoredKey("num.recovery.threads.per.data.dir", "Not used."),
	ignoredKey("offsets.topic.replication.factor", "Single node; not used."),
	ignoredKey("transaction.state.log.replication.factor", "Single node; not used."),
	ignoredKey("transaction.state.log.min.isr", "Single node; not used."),
	i64Key("group.share.record.lock.duration.ms", "30000", "Share groups: how long a member holds the records a ShareFetch gave it before they are delivered again.", func(c *Config) *int64 { return &c.GroupShare.RecordLockDurationMs }),
	i64Key("group.share.delivery.count.limit", "5", "Share groups: a record delivered this many times without being accepted is archived (never delivered again).", func(c *Config) *int64 { return &c.GroupShare.DeliveryCountLimit }),
	i64Key("group.share.partition.max.record.locks", "2000", "Share groups: the most records of one partition in flight (between the share-partition start and end offsets) per group.", func(c *Config) *int64 { return &c.GroupShare.PartitionMaxRecordLocks }),
	i64Key("group.share.session.timeout.ms", "45000", "Share groups: a member that does not heartbeat for this long is removed and its records released.", func(c *Config) *int64 { return &c.GroupShare.SessionTimeoutMs }),
	i64Key("group.share.heartbeat.interval.ms", "5000", "Share groups: the heartbeat interval members are told.", func(c *Config) *int64 { return &c.GroupShare.HeartbeatIntervalMs }),
	ignoredKey("share.coordinator.state.topic.replication.factor", "Not used."),
	ignoredKey("share.coordinator.state.topic.min.isr", "Not used."),
}

// Aliases accepted for a key (Kafka's older names).
var brokerKeyAliases = map[string]string{
	"broker.id": "node.id",
	"log.dir":   "log.dirs",
}

func brokerKeyByName(name string) *brokerKey {
	for i := range brokerKeys {
		if brokerKeys[i].Name == name {
			return &brokerKeys[i]
		}
	}
	return nil
}

// ConfigKeys lists every broker key ParseConfig accepts, with default and documentation.
func ConfigKeys() []ConfigKeyDoc {
	out := make([]ConfigKeyDoc, 0, len(brokerKeys))
	for _, k := range brokerKeys {
		out = append(out, k.ConfigKeyDoc)
	}
	return out
}

// ParseConfig builds a Config from Kafka broker keys (server.properties names). Keys not in
// ConfigKeys are an error naming the key. The result is validated.
func ParseConfig(props map[string]string) (Config, error) {
	var c Config
	for _, k := range brokerKeys {
		if k.Default == "" || k.Ignored {
			continue
		}
		if err := k.set(&c, k.Default); err != nil {
			panic(fmt.Sprintf("broker: bad default for %s: %v", k.Name, err))
		}
	}
	c.explicit = make(map[string]bool)
	type kv struct {
		key *brokerKey
		val string
	}
	var sets []kv
	for name, v := range props {
		canon := strings.TrimSpace(name)
		if a, ok := brokerKeyAliases[canon]; ok {
			if _, both := props[a]; both {
				continue // the canonical key wins
			}
			canon = a
		}
		k := brokerKeyByName(canon)
		if k == nil {
			if ok, err := c.setListenerOverride(canon, v); ok { // listener.name.<l>.<key> (secconfig.go)
				if err != nil {
					return Config{}, err
				}
				continue
			}
			return Config{}, fmt.Errorf("broker config: unknown key %q%s", name, didYouMean(canon, brokerKeyNames()))
		}
		sets = append(sets, kv{k, v})
	}
	sort.Slice(sets, func(i, j int) bool {
		if sets[i].key.order != sets[j].key.order {
			return sets[i].key.order < sets[j].key.order
		}
		return sets[i].key.Name < sets[j].key.Name
	})
	for _, s := range sets {
		if err := s.key.set(&c, s.val); err != nil {
			return Config{}, fmt.Errorf("broker config: invalid value %q for %s: %s", s.val, s.key.Name, valueError(err))
		}
		c.explicit[s.key.Name] = true
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("broker config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.NodeID < 0 {
		bad("node.id", "must be >= 0, got %d", c.NodeID)
	}
	if c.DataDir == "" {
		bad("log.dirs", "must be set")
	} else if strings.Contains(c.DataDir, ",") {
		bad("log.dirs", "only one directory is supported, got %q", c.DataDir)
	}
	c.validateSecurity(bad) // listeners, advertised.listeners, TLS, SASL (secconfig.go)
	if c.DiskReserveBytes < 0 {
		bad("strata.disk.reserve.bytes", "must be >= 0, got %d", c.DiskReserveBytes)
	}
	if c.MaxOpenSegmentFiles < 0 {
		bad("strata.log.max.open.segment.files", "must be >= 0, got %d", c.MaxOpenSegmentFiles)
	}
	if c.QuotaWindowNum < 0 || c.QuotaWindowNum == 1 { // 0: the default
		bad("quota.window.num", "must be >= 2, got %d", c.QuotaWindowNum)
	}
	if c.QuotaWindowSizeSeconds < 0 {
		bad("quota.window.size.seconds", "must be >= 1, got %d", c.QuotaWindowSizeSeconds)
	}
	if c.NumPartitions < 1 {
		bad("num.partitions", "must be >= 1, got %d", c.NumPartitions)
	}
	if c.DefaultReplicationFactor != 1 && c.DefaultReplicationFactor != 0 {
		bad("default.replication.factor", "only 1 is supported, got %d", c.DefaultReplicationFactor)
	}
	if c.MessageMaxBytes < 0 {
		bad("message.max.bytes", "must be >= 0, got %d", c.MessageMaxBytes)
	}
	if c.SocketRequestMaxBytes < 1 {
		bad("socket.request.max.bytes", "must be >= 1, got %d", c.SocketRequestMaxBytes)
	}
	if c.LogSegmentBytes < 14 {
		bad("log.segment.bytes", "must be >= 14, got %d", c.LogSegmentBytes)
	}
	if c.LogRollMs < 1 {
		bad("log.roll.ms", "must be >= 1, got %d", c.LogRollMs)
	}
	if c.LogRetentionMs < -1 {
		bad("log.retention.ms", "must be >= -1, got %d", c.LogRetentionMs)
	}
	if c.LogRetentionBytes < -1 {
		bad("log.retention.bytes", "must be >= -1, got %d", c.LogRetentionBytes)
	}
	if c.LogIndexIntervalBytes < 0 {
		bad("log.index.interval.bytes", "must be >= 0, got %d", c.LogIndexIntervalBytes)
	}
	if c.LogFlushIntervalMsgs < 1 {
		bad("log.flush.interval.messages", "must be >= 1, got %d", c.LogFlushIntervalMsgs)
	}
	if c.LogFlushIntervalMs < 0 {
		bad("log.flush.interval.ms", "must be >= 0, got %d", c.LogFlushIntervalMs)
	}
	if c.RetentionCheckInterval <= 0 {
		bad("log.retention.check.interval.ms", "must be >= 1")
	}
	if c.ConnectionsMaxIdle <= 0 {
		bad("connections.max.idle.ms", "must be >= 1")
	}
	if c.QueuedMaxRequestBytes > 0 && c.QueuedMaxRequestBytes < int64(c.SocketRequestMaxBytes) {
		bad("queued.max.request.bytes", "must be >= socket.request.max.bytes (%d) or -1 (unlimited), got %d", c.SocketRequestMaxBytes, c.QueuedMaxRequestBytes)
	}
	if c.RequestReadTimeout <= 0 {
		bad("strata.socket.request.read.timeout.ms", "must be >= 1")
	}
	if c.LogLocalRetentionMs < -2 {
		bad("log.local.retention.ms", "must be >= -2, got %d", c.LogLocalRetentionMs)
	}
	if c.LogLocalRetentionBytes < -2 {
		bad("log.local.retention.bytes", "must be >= -2, got %d", c.LogLocalRetentionBytes)
	}
	if c.RemoteCopyConcurrency < 1 {
		bad("remote.log.copier.thread.pool.size", "must be >= 1, got %d", c.RemoteCopyConcurrency)
	}
	if c.RemoteCopyMaxBytesPerSec < 1 {
		bad("remote.log.manager.copy.max.bytes.per.second", "must be >= 1, got %d", c.RemoteCopyMaxBytesPerSec)
	}
	if c.RemoteCacheBytes < 0 {
		bad("remote.log.cache.bytes", "must be >= 0, got %d", c.RemoteCacheBytes)
	}
	if c.RemoteChunkBytes < 1 {
		bad("remote.log.chunk.bytes", "must be >= 1, got %d", c.RemoteChunkBytes)
	}
	if c.GroupInitialRebalanceDelayMs < 0 {
		bad("group.initial.rebalance.delay.ms", "must be >= 0, got %d", c.GroupInitialRebalanceDelayMs)
	}
	if c.GroupMinSessionTimeoutMs < 0 || c.GroupMaxSessionTimeoutMs < c.GroupMinSessionTimeoutMs {
		bad("group.max.session.timeout.ms", "must be >= group.min.session.timeout.ms (%d), got %d", c.GroupMinSessionTimeoutMs, c.GroupMaxSessionTimeoutMs)
	}
	if c.GroupMaxSize < 1 {
		bad("group.max.size", "must be >= 1, got %d", c.GroupMaxSize)
	}
	if c.GroupConsumerSessionTimeoutMs < 1 || c.GroupConsumerHeartbeatIntervalMs < 1 || c.GroupConsumerHeartbeatIntervalMs >= c.GroupConsumerSessionTimeoutMs {
		bad("group.consumer.heartbeat.interval.ms", "must be >= 1 and < group.consumer.session.timeout.ms (%d), got %d", c.GroupConsumerSessionTimeoutMs, c.GroupConsumerHeartbeatIntervalMs)
	}
	if c.GroupConsumerMaxSize < 1 {
		bad("group.consumer.max.size", "must be >= 1, got %d", c.GroupConsumerMaxSize)
	}
	switch strings.ToLower(c.GroupConsumerMigrationPolicy) {
	case "bidirectional", "upgrade", "downgrade", "disabled":
	default:
		bad("group.consumer.migration.policy", "must be bidirectional, upgrade, downgrade or disabled, got %q", c.GroupConsumerMigrationPolicy)
	}
	if c.OffsetsRetentionMinutes < 1 || c.OffsetsRetentionMinutes > longMax/60000/int64(time.Millisecond) {
		bad("offsets.retention.minutes", "must be >= 1, got %d", c.OffsetsRetentionMinutes)
	}
	if c.OffsetsRetentionCheckInterval < 1 {
		bad("offsets.retention.check.interval.ms", "must be >= 1, got %d", c.OffsetsRetentionCheckInterval)
	}
	if c.OffsetMetadataMaxBytes < 0 {
		bad("offset.metadata.max.bytes", "must be >= 0, got %d", c.OffsetMetadataMaxBytes)
	}
	if c.OffsetsTopicPartitions < 0 || c.OffsetsTopicPartitions > maxPartitionsPerTopic {
		bad("offsets.topic.num.partitions", "must be in [1, %d], got %d", maxPartitionsPerTopic, c.OffsetsTopicPartitions) // 0 (hand-built Config): 50
	}
	if c.FetchSessionCacheSlots < 0 {
		bad("max.incremental.fetch.session.cache.slots", "must be >= 0, got %d", c.FetchSessionCacheSlots)
	}
	if c.FetchSessionEvictionMs < 0 {
		bad("min.incremental.fetch.session.eviction.ms", "must be >= 0, got %d", c.FetchSessionEvictionMs)
	}
	if c.ProducerIDExpirationMs < 1 {
		bad("producer.id.expiration.ms", "must be >= 1, got %d", c.ProducerIDExpirationMs)
	}
	if c.MinInsyncReplicas < 1 {
		bad("min.insync.replicas", "must be >= 1, got %d", c.MinInsyncReplicas)
	}
	// The broker-level synonyms of topic configs go through the topic validators.
	for _, tk := range topicKeys {
		if tk.brokerKey == "" {
			continue
		}
		if bk := brokerKeyByName(tk.brokerKey); bk != nil && bk.get != nil {
			if err := tk.validate(bk.get(c)); err != nil {
				bad(tk.brokerKey, "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

// parseListener splits the first non-controller listener NAME://host:port (listeners.go
// parses them all).
func parseListener(s string) (host string, port int, err error) {
	for l := range strings.SplitSeq(s, ",") {
		l = strings.TrimSpace(l)
		name, addr, ok := strings.Cut(l, "://")
		if !ok {
			return "", 0, fmt.Errorf("listener %q is not NAME://host:port", l)
		}
		if strings.EqualFold(name, "CONTROLLER") {
			continue
		}
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return "", 0, fmt.Errorf("listener %q: %w", l, err)
		}
		pn, err := strconv.Atoi(p)
		if err != nil || pn < 0 || pn > 65535 {
			return "", 0, fmt.Errorf("listener %q: bad port", l)
		}
		return h, pn, nil
	}
	return "", 0, fmt.Errorf("no listener in %q", s)
}

// listenAddr is the host:port to bind.
func (c *Config) listenAddr() (string, error) {
	h, p, err := parseListener(c.Listeners)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(h, strconv.Itoa(p)), nil
}

// isExplicit reports whether ParseConfig was given key.
func (c *Config) isExplicit(key string) bool { return c.explicit[key] }

// brokerConfigValue is the current value of a broker key, as DescribeConfigs shows it.
func (c *Config) brokerConfigValue(key string) (string, bool) {
	k := brokerKeyByName(key)
	if k == nil || k.get == nil {
		return "", false
	}
	return k.get(c), true
}
