package broker

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TopicConfig is the effective configuration of one topic: its overrides on top of the
// broker defaults, typed, with Kafka's semantics (-1 = unlimited, -2 for the local.* keys =
// same as the total). Partitions receive it through applyConfig.
type TopicConfig struct {
	CleanupPolicy               string // cleanup.policy: "delete", "compact" or "compact,delete"
	RetentionMs                 int64  // retention.ms; -1 unlimited
	RetentionBytes              int64  // retention.bytes (local + remote); -1 unlimited
	LocalRetentionMs            int64  // local.retention.ms; -2 = RetentionMs
	LocalRetentionBytes         int64  // local.retention.bytes; -2 = RetentionBytes
	SegmentBytes                int64  // segment.bytes
	SegmentMs                   int64  // segment.ms
	SegmentJitterMs             int64  // segment.jitter.ms (accepted, not applied)
	SegmentIndexBytes           int32  // segment.index.bytes
	MaxMessageBytes             int32  // max.message.bytes
	MessageTimestampType        string // message.timestamp.type: "CreateTime" | "LogAppendTime"
	MessageTimestampBeforeMaxMs int64  // message.timestamp.before.max.ms
	MessageTimestampAfterMaxMs  int64  // message.timestamp.after.max.ms
	IndexIntervalBytes          int32  // index.interval.bytes
	FlushMessages               int64  // flush.messages; Long.MAX = never
	FlushMs                     int64  // flush.ms; Long.MAX = never
	RemoteStorageEnable         bool   // remote.storage.enable
	RemoteLogCopyDisable        bool   // remote.log.copy.disable
	RemoteLogDeleteOnDisable    bool   // remote.log.delete.on.disable
	CompressionType             string // compression.type (accepted; batches are stored as produced)
	MinInsyncReplicas           int32  // min.insync.replicas (accepted; single node)
	UncleanLeaderElection       bool   // unclean.leader.election.enable (accepted)
	FileDeleteDelayMs           int64  // file.delete.delay.ms (accepted)
	Preallocate                 bool   // preallocate (accepted)

	// Compaction (partition/cleaner.go).
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	DeleteRetentionMs      int64   // delete.retention.ms
}

// EffectiveLocalRetentionMs resolves -2.
func (c TopicConfig) EffectiveLocalRetentionMs() int64 {
	if c.LocalRetentionMs == -2 {
		return c.RetentionMs
	}
	return c.LocalRetentionMs
}

// EffectiveLocalRetentionBytes resolves -2.
func (c TopicConfig) EffectiveLocalRetentionBytes() int64 {
	if c.LocalRetentionBytes == -2 {
		return c.RetentionBytes
	}
	return c.LocalRetentionBytes
}

// topicKey describes one topic config: its Kafka name and type, the broker key it defaults
// to (synonym), or its own default, how to validate and how to store it in TopicConfig.
type topicKey struct {
	name      string
	typ       kmsg.ConfigType
	brokerKey string // synonym; "" = def is the default
	def       string
	doc       string
	sensitive bool
	check     func(v string) error // range/enum check after the type check; may be nil
	apply     func(c *TopicConfig, v string)
}

func (k *topicKey) validate(v string) error {
	switch k.typ {
	case kmsg.ConfigTypeBoolean:
		if _, err := parseBool(v); err != nil {
			return errors.New("Expected value to be either true or false")
		}
	case kmsg.ConfigTypeInt:
		if _, err := parseInt32(v); err != nil {
			return errors.New("Not a number of type INT")
		}
	case kmsg.ConfigTypeLong:
		if _, err := parseInt64(v); err != nil {
			return errors.New("Not a number of type LONG")
		}
	case kmsg.ConfigTypeDouble:
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return errors.New("Not a number of type DOUBLE")
		}
	}
	if k.check != nil {
		return k.check(v)
	}
	return nil
}

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, _ := parseInt64(v)
		if n < min {
			return fmt.Errorf("Value must be at least %d", min)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(vals, strings.TrimSpace(v)) {
			return fmt.Errorf("String must be one of: %s", strings.Join(vals, ", "))
		}
		return nil
	}
}

func checkCleanupPolicy(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		switch strings.TrimSpace(p) {
		case "delete", "compact":
		default:
			return fmt.Errorf("invalid cleanup.policy %q (delete, compact)", v)
		}
	}
	return nil
}

func checkRatio(v string) error {
	f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if f < 0 || f > 1 {
		return fmt.Errorf("value %v must be in [0,1]", f)
	}
	return nil
}

func setI64(f func(*TopicConfig) *int64) func(*TopicConfig, string) {
	return func(c *TopicConfig, v string) { n, _ := parseInt64(v); *f(c) = n }
}

func setI32(f func(*TopicConfig) *int32) func(*TopicConfig, string) {
	return func(c *TopicConfig, v string) { n, _ := parseInt32(v); *f(c) = n }
}

func setBool(f func(*TopicConfig) *bool) func(*TopicConfig, string) {
	return func(c *TopicConfig, v string) { b, _ := parseBool(v); *f(c) = b }
}

func setStr(f func(*TopicConfig) *string) func(*TopicConfig, string) {
	return func(c *TopicConfig, v string) { *f(c) = strings.TrimSpace(v) }
}

func ignore(*TopicConfig, string) {}

// topicKeys lists every topic config a topic may override, in Kafka's names.
var topicKeys = []topicKey{
	{name: "cleanup.policy", typ: kmsg.ConfigTypeList, brokerKey: "log.cleanup.policy", check: checkCleanupPolicy,
		apply: setStr(func(c *TopicConfig) *string { return &c.CleanupPolicy }), doc: "delete, compact or compact,delete"},
	{name: "compression.type", typ: kmsg.ConfigTypeString, brokerKey: "compression.type",
		check: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
		apply: setStr(func(c *TopicConfig) *string { return &c.CompressionType })},
	{name: "compression.gzip.level", typ: kmsg.ConfigTypeInt, def: "-1", apply: ignore},
	{name: "compression.lz4.level", typ: kmsg.ConfigTypeInt, def: "9", apply: ignore},
	{name: "compression.zstd.level", typ: kmsg.ConfigTypeInt, def: "3", apply: ignore},
	{name: "delete.retention.ms", typ: kmsg.ConfigTypeLong, def: "86400000", check: atLeast(0),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.DeleteRetentionMs })},
	{name: "file.delete.delay.ms", typ: kmsg.ConfigTypeLong, def: "60000", check: atLeast(0),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.FileDeleteDelayMs })},
	{name: "flush.messages", typ: kmsg.ConfigTypeLong, brokerKey: "log.flush.interval.messages", check: atLeast(1),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.FlushMessages })},
	{name: "flush.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.flush.interval.ms", check: atLeast(0),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.FlushMs })},
	{name: "follower.replication.throttled.replicas", typ: kmsg.ConfigTypeList, def: "", apply: ignore},
	{name: "index.interval.bytes", typ: kmsg.ConfigTypeInt, brokerKey: "log.index.interval.bytes", check: atLeast(0),
		apply: setI32(func(c *TopicConfig) *int32 { return &c.IndexIntervalBytes })},
	{name: "leader.replication.throttled.replicas", typ: kmsg.ConfigTypeList, def: "", apply: ignore},
	{name: "local.retention.bytes", typ: kmsg.ConfigTypeLong, brokerKey: "log.local.retention.bytes", check: atLeast(-2),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.LocalRetentionBytes })},
	{name: "local.retention.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.local.retention.ms", check: atLeast(-2),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.LocalRetentionMs })},
	{name: "max.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: "9223372036854775807", check: atLeast(1),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.MaxCompactionLagMs })},
	{name: "max.message.bytes", typ: kmsg.ConfigTypeInt, brokerKey: "message.max.bytes", check: atLeast(0),
		apply: setI32(func(c *TopicConfig) *int32 { return &c.MaxMessageBytes })},
	{name: "message.timestamp.after.max.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.message.timestamp.after.max.ms", check: atLeast(0),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.MessageTimestampAfterMaxMs })},
	{name: "message.timestamp.before.max.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.message.timestamp.before.max.ms", check: atLeast(0),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.MessageTimestampBeforeMaxMs })},
	{name: "message.timestamp.type", typ: kmsg.ConfigTypeString, brokerKey: "log.message.timestamp.type",
		check: oneOf("CreateTime", "LogAppendTime"),
		apply: setStr(func(c *TopicConfig) *string { return &c.MessageTimestampType })},
	{name: "min.cleanable.dirty.ratio", typ: kmsg.ConfigTypeDouble, def: "0.5", check: checkRatio,
		apply: func(c *TopicConfig, v string) {
			c.MinCleanableDirtyRatio, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}},
	{name: "min.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: "0", check: atLeast(0),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.MinCompactionLagMs })},
	{name: "min.insync.replicas", typ: kmsg.ConfigTypeInt, brokerKey: "min.insync.replicas", check: atLeast(1),
		apply: setI32(func(c *TopicConfig) *int32 { return &c.MinInsyncReplicas })},
	{name: "preallocate", typ: kmsg.ConfigTypeBoolean, def: "false",
		apply: setBool(func(c *TopicConfig) *bool { return &c.Preallocate })},
	{name: "remote.log.copy.disable", typ: kmsg.ConfigTypeBoolean, def: "false",
		apply: setBool(func(c *TopicConfig) *bool { return &c.RemoteLogCopyDisable })},
	{name: "remote.log.delete.on.disable", typ: kmsg.ConfigTypeBoolean, def: "false",
		apply: setBool(func(c *TopicConfig) *bool { return &c.RemoteLogDeleteOnDisable })},
	{name: "remote.storage.enable", typ: kmsg.ConfigTypeBoolean, brokerKey: "log.remote.storage.enable",
		apply: setBool(func(c *TopicConfig) *bool { return &c.RemoteStorageEnable })},
	{name: "retention.bytes", typ: kmsg.ConfigTypeLong, brokerKey: "log.retention.bytes", check: atLeast(-1),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.RetentionBytes })},
	{name: "retention.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.retention.ms", check: atLeast(-1),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.RetentionMs })},
	{name: "segment.bytes", typ: kmsg.ConfigTypeInt, brokerKey: "log.segment.bytes", check: atLeast(14),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.SegmentBytes })},
	{name: "segment.index.bytes", typ: kmsg.ConfigTypeInt, def: "10485760", check: atLeast(4),
		apply: setI32(func(c *TopicConfig) *int32 { return &c.SegmentIndexBytes })},
	{name: "segment.jitter.ms", typ: kmsg.ConfigTypeLong, def: "0", check: atLeast(0),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.SegmentJitterMs })},
	{name: "segment.ms", typ: kmsg.ConfigTypeLong, brokerKey: "log.roll.ms", check: atLeast(1),
		apply: setI64(func(c *TopicConfig) *int64 { return &c.SegmentMs })},
	{name: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean, def: "false",
		apply: setBool(func(c *TopicConfig) *bool { return &c.UncleanLeaderElection })},
}

func topicKeyByName(name string) *topicKey {
	for i := range topicKeys {
		if topicKeys[i].name == name {
			return &topicKeys[i]
		}
	}
	return nil
}

// defaultValue is the value a topic without an override has, and where it comes from.
func (k *topicKey) defaultValue(bc *Config) (val string, src kmsg.ConfigSource) {
	if k.brokerKey != "" {
		if v, ok := bc.brokerConfigValue(k.brokerKey); ok {
			if bc.isExplicit(k.brokerKey) || (k.brokerKey == "log.retention.ms" && (bc.isExplicit("log.retention.hours") || bc.isExplicit("log.retention.minutes"))) ||
				(k.brokerKey == "log.roll.ms" && bc.isExplicit("log.roll.hours")) {
				return v, kmsg.ConfigSourceStaticBrokerConfig
			}
			return v, kmsg.ConfigSourceDefaultConfig
		}
	}
	return k.def, kmsg.ConfigSourceDefaultConfig
}

// effectiveTopicConfig computes the typed config of a topic with the given overrides.
// Overrides must have been validated.
func effectiveTopicConfig(bc *Config, overrides map[string]string) TopicConfig {
	var tc TopicConfig
	for i := range topicKeys {
		k := &topicKeys[i]
		v, ok := overrides[k.name]
		if !ok {
			v, _ = k.defaultValue(bc)
		}
		k.apply(&tc, v)
	}
	return tc
}

// validateTopicConfigs checks a complete set of overrides (new, or old for a change) and
// returns an error wrapping kerr.InvalidConfig naming the culprit.
func validateTopicConfigs(bc *Config, old, overrides map[string]string) error {
	for name, v := range overrides {
		k := topicKeyByName(name)
		if k == nil {
			return fmt.Errorf("%w: unknown topic config name: %s%s", errInvalidConfig, name, didYouMean(name, topicKeyNames()))
		}
		if err := k.validate(v); err != nil {
			return fmt.Errorf("%w: Invalid value %s for configuration %s: %v", errInvalidConfig, v, name, err)
		}
	}
	tc := effectiveTopicConfig(bc, overrides)
	if tc.RemoteStorageEnable {
		if bc.RemoteStore == nil || !bc.RemoteStorageSystemEnable {
			return fmt.Errorf("%w: tiered storage is disabled on this broker (no remote store configured); cannot set remote.storage.enable=true", errInvalidConfig)
		}
	}
	if tc.RetentionMs != -1 && tc.LocalRetentionMs != -2 && (tc.LocalRetentionMs == -1 || tc.LocalRetentionMs > tc.RetentionMs) {
		return fmt.Errorf("%w: local.retention.ms (%d) must be <= retention.ms (%d), or -2", errInvalidConfig, tc.LocalRetentionMs, tc.RetentionMs)
	}
	if tc.RetentionBytes != -1 && tc.LocalRetentionBytes != -2 && (tc.LocalRetentionBytes == -1 || tc.LocalRetentionBytes > tc.RetentionBytes) {
		return fmt.Errorf("%w: local.retention.bytes (%d) must be <= retention.bytes (%d), or -2", errInvalidConfig, tc.LocalRetentionBytes, tc.RetentionBytes)
	}
	if old != nil {
		was := effectiveTopicConfig(bc, old)
		if was.RemoteStorageEnable && !tc.RemoteStorageEnable && !(tc.RemoteLogCopyDisable && tc.RemoteLogDeleteOnDisable) {
			return fmt.Errorf("%w: disabling remote.storage.enable requires remote.log.copy.disable=true and remote.log.delete.on.disable=true (remote data is deleted)", errInvalidConfig)
		}
	}
	return nil
}

// normalizeTopicConfig trims the value the way it will be stored.
func normalizeTopicConfig(v string) string { return strings.TrimSpace(v) }

func cloneConfigs(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}
