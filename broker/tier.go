package broker

// Wiring of the remote tier (package tiering) into the broker's lifecycle.
//
// A broker has a tiering.Manager when Config.RemoteStore is set and
// remote.log.storage.system.enable is true. Every partition of a topic with
// remote.storage.enable=true gets a tiering.RemotePartition (partition.AttachTier), whose
// upload loop runs while Broker.Run runs. The topic's topic.json in the bucket (name, ID,
// partition count, config overrides) is written when such a topic is created, grows or
// changes configs, so that a broker started on an empty data dir recreates it (restore).
//
// The bucket being unreachable never stops the broker: a partition whose manifest cannot
// be loaded stays local-only and is retried on every maintenance tick; a failed topic.json
// write is logged and retried on the next change or restart.

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/tiering"
)

// tierOpTimeout bounds a bucket operation done while an admin request or start-up waits.
const tierOpTimeout = 10 * time.Second

// newTierManager builds the manager, or returns nil when tiering is off.
func (b *Broker) newTierManager() (*tiering.Manager, error) {
	if b.cfg.RemoteStore == nil || !b.cfg.RemoteStorageSystemEnable {
		return nil, nil
	}
	tc := tiering.Config{
		Prefix:            b.cfg.RemotePrefix,
		UploadConcurrency: b.cfg.RemoteCopyConcurrency,
		ChunkBytes:        b.cfg.RemoteChunkBytes,
		CacheBytes:        b.cfg.RemoteCacheBytes,
		WatermarkInterval: b.cfg.RemoteWatermarkInterval,
		SkipHashCheck:     !b.cfg.RemoteVerifyHashes,

		ObjectLockMode:      b.cfg.RemoteObjectLockMode,
		ObjectLockUnlimited: b.cfg.RemoteObjectLockUnlimited,
	}
	if b.cfg.RemoteCopyMaxBytesPerSec > 0 && b.cfg.RemoteCopyMaxBytesPerSec < longMax {
		tc.MaxBytesPerSec = b.cfg.RemoteCopyMaxBytesPerSec
	}
	m, err := tiering.NewManager(tc, b.cfg.RemoteStore, nil, b.logger, b.cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("cannot start remote tier: %w", err)
	}
	return m, nil
}

func (b *Broker) tierPartitionConfig(tc TopicConfig) tiering.PartitionConfig {
	return tiering.PartitionConfig{CopyDisabled: tc.RemoteLogCopyDisable, UploadInterval: b.cfg.RemoteUploadInterval, RetentionMs: tc.RetentionMs}
}

// attachTier gives every partition of t that has none its remote tier, when the topic has
// remote.storage.enable. Failures are logged; maintenance retries them.
func (b *Broker) attachTier(ctx context.Context, t *Topic) {
	if b.tier == nil {
		return
	}
	tc := t.Config()
	if !tc.RemoteStorageEnable {
		return
	}
	for i, p := range t.partitions() {
		b.attachPartitionTier(ctx, t, i, p, tc)
	}
}

func (b *Broker) attachPartitionTier(ctx context.Context, t *Topic, i int, p *partition.Partition, tc TopicConfig) {
	if p.HasTier() || p.Closed() {
		return
	}
	if err := p.AttachTier(ctx, b.tier, b.tierPartitionConfig(tc)); err != nil {
		b.logger.Warn("cannot open remote tier of partition; serving local data only", "topic", t.Name, "partition", i, "err", err)
	} else if b.txns != nil { // a restore may bring open transactions (txns.go)
		b.abortOrphanTxns(t.Name, p)
	}
}

// lateTier is a partition whose remote tier is attached after start-up (attachTierLate).
type lateTier struct {
	t *Topic
	i int
}

// attachTierAtStart attaches the remote tier of the tiered topics loaded at start-up.
//
// Loading a partition's manifest costs time proportional to its remote history (a
// hundred thousand remote segments: hundreds of milliseconds), which would delay the
// listener and every produce. So only the partitions whose local log is empty are attached
// before the broker serves when that can matter (a restored partition: the manifest decides
// where its local log restarts, and its producer state may come from the bucket, both
// before the first append); an empty local log that ends at or after the remote end (read
// from the manifest's head alone) and has its producer snapshot at its end (a partition
// whose uploaded segments local retention deleted) does not need it. The others are queued
// for attachTierLate, which Run starts:
// until a partition's tier is attached it is tierPending, so the offsets below its local
// start are answered retriably (Fetch and ListOffsets; see tierPending), never as out of
// range, and its local appends, reads and fsyncs do not depend on the tier.
func (b *Broker) attachTierAtStart() {
	if b.tier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	for _, t := range b.topics {
		tc := t.Config()
		if !tc.RemoteStorageEnable {
			continue
		}
		for i, p := range t.partitions() {
			if p.TierCanWait(func() (int64, error) { return b.tier.RemoteEndOffset(ctx, t.Name, t.ID, int32(i)) }) {
				b.lateTiers = append(b.lateTiers, lateTier{t: t, i: i})
				continue
			}
			b.attachPartitionTier(ctx, t, i, p, tc)
		}
	}
}

// attachTierLate attaches the tiers attachTierAtStart left for after start-up, one
// partition at a time under adminMu (as maintenance's retries, so that the two never open
// the same partition twice and a topic deleted meanwhile is skipped).
//
// A request that needs a partition still queued (awaitTier) moves it to the front.
func (b *Broker) attachTierLate(ctx context.Context) {
	start := time.Now()
	defer b.lateAttach.Store(false)
	late := b.lateTiers
	b.lateTiers = nil
	attached := 0
	attach := func(t *Topic, i int) {
		octx, cancel := context.WithTimeout(ctx, tierOpTimeout)
		defer cancel()
		b.adminMu.Lock()
		defer b.adminMu.Unlock()
		if b.lookupTopic(t.Name) != t {
			return
		}
		tc := t.Config()
		if p := t.partition(int32(i)); p != nil && tc.RemoteStorageEnable && !p.HasTier() {
			b.attachPartitionTier(octx, t, i, p, tc)
			if p.HasTier() {
				attached++
			}
		}
	}
	for _, lt := range late {
		for {
			if ctx.Err() != nil {
				return
			}
			select {
			case p := <-b.tierUrgent:
				if t := b.lookupTopic(p.Topic()); t != nil && t.partition(p.Index()) == p {
					attach(t, int(p.Index()))
				}
				continue
			default:
			}
			break
		}
		attach(lt.t, lt.i)
	}
	b.logger.Info("remote tiers attached after start-up", "partitions", attached, "of", len(late),
		"duration", time.Since(start))
}

// tierPending reports whether p belongs to a tiered topic but has no tier attached yet
// (its manifest could not be loaded; maintenance retries): offsets below its local start
// are then unknown, not out of range.
func (b *Broker) tierPending(p *partition.Partition) bool {
	return b.tier != nil && p.Config().RemoteStorageEnable && !p.HasTier() && !p.Closed()
}

// detachTier closes the remote tier of every partition of t. With deleteRemote, the
// topic's objects are deleted from the bucket (remote.log.delete.on.disable, topic
// deletion).
func (b *Broker) detachTier(ctx context.Context, t *Topic, deleteRemote bool) {
	if b.tier == nil {
		return
	}
	for _, p := range t.partitions() {
		p.SetTier(ctx, nil)
	}
	if err := b.tier.DeleteTopic(ctx, t.Name, t.ID, !deleteRemote); err != nil {
		b.logger.Error("cannot delete remote data of topic", "topic", t.Name, "topic_id", uuid.UUID(t.ID).String(), "err", err)
	}
}

// updateTier pushes a topic's new config to its tier: attaches or detaches it when
// remote.storage.enable changed, updates copy.disable, and rewrites topic.json.
func (b *Broker) updateTier(ctx context.Context, t *Topic, was, now TopicConfig) {
	if b.tier == nil {
		return
	}
	switch {
	case now.RemoteStorageEnable && !was.RemoteStorageEnable:
		b.attachTier(ctx, t)
	case !now.RemoteStorageEnable && was.RemoteStorageEnable:
		b.detachTier(ctx, t, now.RemoteLogDeleteOnDisable)
	}
	if !now.RemoteStorageEnable {
		b.writeTopicManifest(ctx, t) // localOnly (topicbucket.go)
		return
	}
	for i := range t.numPartitions() {
		if rp, ok := b.tier.Partition(t.Name, i); ok {
			rp.UpdateConfig(b.tierPartitionConfig(now))
		}
	}
	b.writeTopicManifest(ctx, t)
}

// writeTopicManifest stores topic.json of a topic, tiered or not (a topic that is not
// tiered is marked localOnly: a restore recreates it empty, with its configs).
func (b *Broker) writeTopicManifest(ctx context.Context, t *Topic) {
	if b.tier == nil {
		return
	}
	if !t.Config().RemoteStorageEnable {
		b.queueTopicManifest(t) // in the background: the bucket never delays such a topic (topicbucket.go)
		return
	}
	b.putTopicManifest(ctx, t)
}

// putTopicManifest writes t's topic.json now.
func (b *Broker) putTopicManifest(ctx context.Context, t *Topic) {
	err := b.tier.WriteTopicManifest(ctx, tiering.TopicManifest{
		Topic: t.Name, TopicID: t.ID, Partitions: t.numPartitions(), Configs: t.configOverrides(),
		LocalOnly: !t.Config().RemoteStorageEnable,
	})
	if err != nil {
		b.logger.Warn("cannot write topic manifest", "topic", t.Name, "err", err)
	}
}

// restoreFromBucket recreates, on a data dir without topics.json, the topics whose
// topic.json is in the bucket: same names, IDs, partition counts and configs. Opening
// their partitions then restarts each local log at its remote end offset.
func (b *Broker) restoreFromBucket() error {
	if b.tier == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	tms, err := tiering.Restore(ctx, b.cfg.RemoteStore, b.cfg.RemotePrefix)
	if err != nil {
		return fmt.Errorf("cannot restore topics from the bucket: %w", err)
	}
	for _, tm := range tms {
		if err := validateTopicName(tm.Topic); err != nil || tm.Partitions < 1 || b.topics[tm.Topic] != nil || b.topicIDs[tm.TopicID] != nil {
			b.logger.Warn("skipping topic manifest", "topic", tm.Topic, "partitions", tm.Partitions, "err", err)
			continue
		}
		overrides := cloneConfigs(tm.Configs)
		if err := validateTopicConfigs(&b.cfg, nil, overrides); err != nil {
			b.logger.Warn("restored topic config no longer valid", "topic", tm.Topic, "err", err)
		}
		t := &Topic{Name: tm.Topic, ID: tm.TopicID, b: b, overrides: maps.Clone(overrides)}
		tc := effectiveTopicConfig(&b.cfg, overrides)
		t.cfg.Store(&tc)
		b.topics[t.Name] = t
		if err := b.openPartitions(t, 0, tm.Partitions); err != nil {
			return err
		}
		b.topicIDs[t.ID] = t
		if !tc.RemoteStorageEnable {
			b.restartLocalOnly(ctx, t) // localwatermark.go
		}
		b.logger.Info("topic restored from bucket", "topic", t.Name, "topic_id", uuid.UUID(t.ID).String(), "partitions", tm.Partitions)
	}
	return nil
}

// tierAwaitMax bounds how long a request waits for the start-up attach of a partition's
// tier (awaitTier) before it is answered retriably.
var tierAwaitMax = 500 * time.Millisecond // a variable for tests

// awaitTier is called by a request that needs p's remote tier (an offset below its local
// start, the earliest offset, DeleteRecords) while p is tier-pending. While the start-up
// attach (attachTierLate) runs, it asks it to attach p next and waits up to wait (at most
// tierAwaitMax) for the tier; a client would otherwise get a retriable error and back off
// for about a second after every restart. Otherwise (the bucket was unreachable:
// maintenance retries) it returns at once. It reports whether p's tier is attached.
func (b *Broker) awaitTier(ctx context.Context, p *partition.Partition, wait time.Duration) bool {
	if !b.tierPending(p) {
		return true
	}
	if !b.lateAttach.Load() || wait <= 0 {
		return false
	}
	select {
	case b.tierUrgent <- p:
	default: // full: the attach has enough to do; wait for p in its turn
	}
	timer := time.NewTimer(min(wait, tierAwaitMax))
	defer timer.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for b.tierPending(p) && b.lateAttach.Load() {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return !b.tierPending(p)
		case <-tick.C:
		}
	}
	return !b.tierPending(p)
}
