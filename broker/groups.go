package broker

// Consumer groups (broker/group) and producer ids (broker/producer), wired in.
//
// Every group API is a one-line adapter onto the group.Coordinator; its version ranges
// are group.SupportedVersions(). The coordinator keeps its state in <data-dir>/meta/groups,
// producer-id blocks live in <data-dir>/meta/producer. Each partition gets an idempotent-
// producer state (producer.State); without a rebuilt history it is marked incomplete, so
// producers that wrote before a restart may continue at any sequence (Kafka's behaviour
// for unknown producers since KIP-360) rather than being refused.

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/group"
	"github.com/strata-io/strata/broker/producer"
)

// openCoordinators opens the group coordinator and the producer-id manager.
func (b *Broker) openCoordinators() error {
	b.newGroupsBucketMetrics()
	if err := b.restoreGroups(filepath.Join(b.metaDir(), "groups")); err != nil { // groupbucket.go
		return err
	}
	store, err := group.OpenFileStore(group.FileConfig{Dir: filepath.Join(b.metaDir(), "groups"), Logger: b.logger, FS: b.fs()})
	if err != nil {
		return fmt.Errorf("cannot open group store: %w", err)
	}
	delay := time.Duration(b.cfg.GroupInitialRebalanceDelayMs) * time.Millisecond
	if delay == 0 {
		delay = -1 // Kafka's 0 means no delay; group.Config's 0 means its default
	}
	gcfg := group.Config{
		InitialRebalanceDelay:  delay,
		MinSessionTimeout:      time.Duration(b.cfg.GroupMinSessionTimeoutMs) * time.Millisecond,
		MaxSessionTimeout:      time.Duration(b.cfg.GroupMaxSessionTimeoutMs) * time.Millisecond,
		OffsetsRetention:       time.Duration(b.cfg.OffsetsRetentionMinutes) * time.Minute,
		RetentionCheckInterval: time.Duration(b.cfg.OffsetsRetentionCheckInterval) * time.Millisecond,
		MaxMetadataBytes:       int(b.cfg.OffsetMetadataMaxBytes),
		TopicExists:            func(t string) bool { return b.lookupTopic(t) != nil },
		PartitionExists: func(t string, p int32) bool {
			tp := b.lookupTopic(t)
			return tp != nil && tp.partition(p) != nil
		},
		ConsumerSessionTimeout:    time.Duration(b.cfg.GroupConsumerSessionTimeoutMs) * time.Millisecond,
		ConsumerHeartbeatInterval: time.Duration(b.cfg.GroupConsumerHeartbeatIntervalMs) * time.Millisecond,
		MigrationPolicy:           b.cfg.GroupConsumerMigrationPolicy,
		Topics: func() []group.TopicInfo {
			ts := b.allTopics()
			out := make([]group.TopicInfo, len(ts))
			for i, t := range ts {
				out[i] = group.TopicInfo{Name: t.Name, ID: t.ID, Partitions: t.numPartitions()}
			}
			return out
		},
	}
	for _, a := range strings.Split(b.cfg.GroupConsumerAssignors, ",") {
		if a = strings.TrimSpace(a); a != "" {
			gcfg.ConsumerAssignors = append(gcfg.ConsumerAssignors, a)
		}
	}
	if b.cfg.GroupConsumerMaxSize > 0 && b.cfg.GroupConsumerMaxSize < 1<<31-1 {
		gcfg.ConsumerMaxSize = int(b.cfg.GroupConsumerMaxSize)
	}
	if b.cfg.GroupMaxSize > 0 && b.cfg.GroupMaxSize < 1<<31-1 {
		gcfg.MaxGroupSize = int(b.cfg.GroupMaxSize)
	}
	if b.cfg.Registerer != nil {
		gcfg.Metrics = group.NewMetrics(b.cfg.Registerer)
	}
	groups, err := group.New(gcfg, store, b.logger)
	if err != nil {
		store.Close()
		return fmt.Errorf("cannot start group coordinator: %w", err)
	}
	pids, err := producer.NewManager(producer.Config{Dir: filepath.Join(b.metaDir(), "producer"), Logger: b.logger, FS: b.fs()})
	if err != nil {
		store.Close()
		return fmt.Errorf("cannot open producer id manager: %w", err)
	}
	b.groupStore, b.groups, b.producerIDs = store, groups, pids
	if err := b.openTxnCoordinator(); err != nil { // txns.go
		store.Close()
		return err
	}
	if err := b.openShares(); err != nil { // shares.go
		b.txns.Close()
		store.Close()
		return err
	}
	return nil
}

// groupAPI is the entry of a group API, with the versions group.SupportedVersions serves.
func groupAPI(k kmsg.Key, handle handlerFunc, authz authzHook) apiEntry {
	r, ok := group.SupportedVersions()[k.Int16()]
	if !ok {
		panic(fmt.Sprintf("broker: group.SupportedVersions lacks %s", k.Name()))
	}
	return apiEntry{key: k, min: r[0], max: r[1], handle: handle, authz: authz}
}
