package broker

// Share groups (KIP-932, broker/share), wired in: the coordinator keeps its state in
// <data-dir>/meta/share; the handlers (76-79, 90-92) are adapters that read the log
// through the partition's normal read path (local segments or the bucket), so share
// consumers read tiered data as fetches do.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/share"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

// ShareConfig is the group.share.* broker configuration.
type ShareConfig struct {
	RecordLockDurationMs    int64 // group.share.record.lock.duration.ms; default 30000
	DeliveryCountLimit      int64 // group.share.delivery.count.limit; default 5
	PartitionMaxRecordLocks int64 // group.share.partition.max.record.locks; default 2000
	SessionTimeoutMs        int64 // group.share.session.timeout.ms; default 45000
	HeartbeatIntervalMs     int64 // group.share.heartbeat.interval.ms; default 5000
}

func (b *Broker) openShares() error {
	sc := b.cfg.GroupShare
	switch {
	case sc.RecordLockDurationMs < 0 || sc.RecordLockDurationMs > 3600000:
		return fmt.Errorf("invalid group.share.record.lock.duration.ms %d", sc.RecordLockDurationMs)
	case sc.DeliveryCountLimit < 0 || sc.DeliveryCountLimit > 10:
		return fmt.Errorf("invalid group.share.delivery.count.limit %d (Kafka allows 2-10)", sc.DeliveryCountLimit)
	case sc.PartitionMaxRecordLocks < 0 || sc.PartitionMaxRecordLocks > 1<<20:
		return fmt.Errorf("invalid group.share.partition.max.record.locks %d", sc.PartitionMaxRecordLocks)
	case sc.SessionTimeoutMs < 0 || sc.HeartbeatIntervalMs < 0:
		return errors.New("invalid group.share.session.timeout.ms or group.share.heartbeat.interval.ms")
	}
	c, err := share.New(share.Config{
		Dir:                filepath.Join(b.metaDir(), "share"),
		FS:                 b.fs(),
		LockDuration:       time.Duration(sc.RecordLockDurationMs) * time.Millisecond,
		DeliveryCountLimit: int16(sc.DeliveryCountLimit),
		MaxRecordLocks:     int(sc.PartitionMaxRecordLocks),
		SessionTimeout:     time.Duration(sc.SessionTimeoutMs) * time.Millisecond,
		HeartbeatInterval:  time.Duration(sc.HeartbeatIntervalMs) * time.Millisecond,
		Topic: func(name string) ([16]byte, int32, bool) {
			t := b.lookupTopic(name)
			if t == nil {
				return [16]byte{}, 0, false
			}
			return t.ID, t.numPartitions(), true
		},
		TopicName: func(id [16]byte) string {
			if t := b.lookupTopicID(id); t != nil {
				return t.Name
			}
			return ""
		},
		Offsets: func(tp share.TP) (int64, int64, bool) {
			p := b.sharePartition(tp)
			if p == nil {
				return 0, 0, false
			}
			return p.LogStartOffset(), p.HighWatermark(), true
		},
		OtherGroup: func(name string) bool {
			_, ok := b.groups.Describe(name)
			return ok
		},
		Logger: b.logger,
	})
	if err != nil {
		return fmt.Errorf("cannot open share group state: %w", err)
	}
	b.shares = c
	return nil
}

func (b *Broker) sharePartition(tp share.TP) *partition.Partition {
	t := b.lookupTopicID(tp.Topic)
	if t == nil {
		return nil
	}
	return topicPartition(t, tp.Partition)
}

// shareRead reads up to maxBytes of whole batches of p from off (at least one batch),
// locally or from the bucket, and returns the bytes and the batches' offset spans.
func (b *Broker) shareRead(ctx context.Context, p *partition.Partition, off int64, maxBytes int) ([]byte, []share.Batch, error) {
	var data []byte
	if p.HasTier() && off < p.LocalLogStartOffset() && !p.InRestoreGap(off) {
		recs, _, err := p.ReadRemote(ctx, off, maxBytes, true, partition.RemoteFetchMaxWait)
		if err != nil {
			return nil, nil, err
		}
		data = recordBytes(recs.Trim(maxBytes, true))
	} else {
		if p.InRestoreGap(off) {
			off = p.LocalLogStartOffset()
		}
		d, _, err := p.ReadLocal(off, maxBytes, true, nil)
		if err != nil {
			return nil, nil, err
		}
		data = d
	}
	var batches []share.Batch
	n := 0 // only whole batches are sent
	for rest := data; len(rest) >= segment.BatchHeaderSize; {
		h, err := segment.DecodeBatchHeader(rest)
		if err != nil || h.Size() > int64(len(rest)) {
			break
		}
		batches = append(batches, share.Batch{First: h.BaseOffset, Last: h.LastOffset(), Control: h.Attributes&0x20 != 0})
		rest = rest[h.Size():]
		n += int(h.Size())
	}
	return data[:n], batches, nil
}

// alterGroupConfigs applies IncrementalAlterConfigs to a GROUP resource. The one group
// config served is share.auto.offset.reset ("latest", the default, or "earliest"): where
// a share group starts reading a partition it has no state for. Needs ALTER_CONFIGS on
// the group.
func (b *Broker) alterGroupConfigs(ctx context.Context, rr kmsg.IncrementalAlterConfigsRequestResource, duplicate, validateOnly bool) error {
	switch {
	case duplicate:
		return fmt.Errorf("%w: resource appears more than once in the request", errInvalidRequest)
	case rr.ResourceName == "":
		return kerr.InvalidGroupID
	case !b.groupAllowed(ctx, kmsg.ACLOperationAlterConfigs, rr.ResourceName):
		return kerr.GroupAuthorizationFailed
	}
	reset := b.shares.AutoOffsetReset(rr.ResourceName)
	for _, c := range rr.Configs {
		if c.Name != "share.auto.offset.reset" {
			return fmt.Errorf("%w: unsupported group config: %s (Strata serves share.auto.offset.reset; the other group configs are broker-wide)", errInvalidConfig, c.Name)
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil || (*c.Value != "latest" && *c.Value != "earliest") {
				return fmt.Errorf("%w: share.auto.offset.reset must be latest or earliest", errInvalidConfig)
			}
			reset = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			reset = "latest"
		default:
			return fmt.Errorf("%w: share.auto.offset.reset is not a list", errInvalidConfig)
		}
	}
	if validateOnly {
		return nil
	}
	b.shares.SetAutoOffsetReset(rr.ResourceName, reset)
	if err := b.shares.Sync(ctx); err != nil {
		return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
	}
	return nil
}

// listShareGroups returns the share groups a ListGroups (v5+) matches: type "share",
// protocol type "share", state Stable (members) or Empty.
func (b *Broker) listShareGroups(req *kmsg.ListGroupsRequest) []kmsg.ListGroupsResponseGroup {
	matches := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	if !matches(req.TypesFilter, "share") {
		return nil
	}
	var out []kmsg.ListGroupsResponseGroup
	groups := b.shares.Groups()
	names := slices.Sorted(maps.Keys(groups))
	for _, name := range names {
		if _, other := b.groups.Describe(name); other {
			continue // a consumer group with a share.auto.offset.reset config
		}
		state := "Empty"
		if groups[name] {
			state = "Stable"
		}
		if !matches(req.StatesFilter, state) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = name, "share", state, "share"
		out = append(out, lg)
	}
	return out
}
