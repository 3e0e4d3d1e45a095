package group

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config configures the Coordinator. The zero value is usable (Kafka's defaults).
type Config struct {
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long the first
	// rebalance of an empty group waits for more members. Default 3s; < 0 means no delay.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout is group.min.session.timeout.ms; default 6s.
	MinSessionTimeout time.Duration
	// MaxSessionTimeout is group.max.session.timeout.ms; default 30 min.
	MaxSessionTimeout time.Duration
	// MaxGroupSize is group.max.size; default 0 = unlimited.
	MaxGroupSize int
	// OffsetsRetention is offsets.retention.minutes; default 7 days.
	OffsetsRetention time.Duration
	// RetentionCheckInterval is offsets.retention.check.interval.ms; default 10 min.
	RetentionCheckInterval time.Duration
	// MaxMetadataBytes is offset.metadata.max.bytes; default 4096.
	MaxMetadataBytes int
	// TopicExists reports whether a topic exists (OffsetCommit answers
	// UNKNOWN_TOPIC_OR_PARTITION otherwise); nil = every topic exists.
	TopicExists func(topic string) bool
	// PartitionExists optionally refines TopicExists per partition; nil = every partition of
	// an existing topic exists.
	PartitionExists func(topic string, partition int32) bool
	// Metrics receives the coordinator's metrics (NewMetrics); nil = none.
	Metrics *Metrics

	// KIP-848 consumer groups (consumer.go).
	// ConsumerSessionTimeout is group.consumer.session.timeout.ms; default 45s.
	ConsumerSessionTimeout time.Duration
	// ConsumerHeartbeatInterval is group.consumer.heartbeat.interval.ms; default 5s.
	ConsumerHeartbeatInterval time.Duration
	// ConsumerAssignors is group.consumer.assignors (names or Kafka class names of
	// "uniform" and "range"); the first is the default. Default uniform, range.
	ConsumerAssignors []string
	// ConsumerMaxSize is group.consumer.max.size; 0 = unlimited.
	ConsumerMaxSize int
	// MigrationPolicy is group.consumer.migration.policy: which online conversions of a
	// group with members are done: "bidirectional" (default), "upgrade" (classic to
	// consumer), "downgrade" (consumer to classic) or "disabled". Empty groups always
	// convert.
	MigrationPolicy string
	// Topics lists the existing topics (name, id, partitions) for assignment; nil = none,
	// so consumer-group members get no partitions.
	Topics func() []TopicInfo
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.MinSessionTimeout < 0 || c.MaxSessionTimeout < 0 || c.OffsetsRetention < 0 || c.RetentionCheckInterval < 0 {
		return errors.New("group: negative duration in Config")
	}
	if c.MaxSessionTimeout > 0 && c.MinSessionTimeout > c.MaxSessionTimeout {
		return errors.New("group: MinSessionTimeout > MaxSessionTimeout")
	}
	if c.MaxGroupSize < 0 || c.MaxMetadataBytes < 0 || c.ConsumerMaxSize < 0 {
		return errors.New("group: negative size in Config")
	}
	if c.ConsumerSessionTimeout < 0 || c.ConsumerHeartbeatInterval < 0 {
		return errors.New("group: negative consumer group timeout in Config")
	}
	switch strings.ToLower(c.MigrationPolicy) {
	case "", "bidirectional", "upgrade", "downgrade", "disabled":
	default:
		return fmt.Errorf("group: group.consumer.migration.policy %q is not one of disabled, upgrade, downgrade, bidirectional", c.MigrationPolicy)
	}
	for _, a := range c.ConsumerAssignors {
		if _, ok := assignorName(a); !ok {
			return fmt.Errorf("group: unknown assignor %q in group.consumer.assignors (Strata has uniform and range)", a)
		}
	}
	return nil
}

func (c *Config) setDefaults() {
	switch {
	case c.InitialRebalanceDelay == 0:
		c.InitialRebalanceDelay = 3 * time.Second
	case c.InitialRebalanceDelay < 0:
		c.InitialRebalanceDelay = 0
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = 10 * time.Minute
	}
	if c.MaxMetadataBytes == 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.ConsumerSessionTimeout == 0 {
		c.ConsumerSessionTimeout = 45 * time.Second
	}
	if c.ConsumerHeartbeatInterval == 0 {
		c.ConsumerHeartbeatInterval = 5 * time.Second
	}
	c.MigrationPolicy = strings.ToLower(c.MigrationPolicy)
	if c.MigrationPolicy == "" {
		c.MigrationPolicy = "bidirectional"
	}
	if len(c.ConsumerAssignors) == 0 {
		c.ConsumerAssignors = []string{AssignorUniform, AssignorRange}
	}
	names := make([]string, len(c.ConsumerAssignors))
	for i, a := range c.ConsumerAssignors {
		names[i], _ = assignorName(a)
	}
	c.ConsumerAssignors = names
}
