package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

// The log cleaner: compaction of the topics whose cleanup.policy has compact runs in
// partition.Cleaner's background goroutines (log.cleaner.threads of them at most), which
// look for partitions to clean every log.cleaner.backoff.ms until the broker stops.

var (
	cleanersMu sync.Mutex
	cleaners   = map[weak.Pointer[Broker]]*partition.Cleaner{}
)

// cleaner returns the broker's log cleaner (made once, its metrics on Config.Registerer).
func (b *Broker) cleaner() *partition.Cleaner {
	key := weak.Make(b)
	cleanersMu.Lock()
	defer cleanersMu.Unlock()
	if c, ok := cleaners[key]; ok {
		return c
	}
	c := partition.NewCleaner(partition.CleanerConfig{
		Enable:              b.cfg.LogCleanerEnable,
		Threads:             int(b.cfg.LogCleanerThreads),
		DedupeBufferBytes:   b.cfg.LogCleanerDedupeBufferSize,
		IOMaxBytesPerSecond: b.cfg.LogCleanerIOMaxBytesPerSecond,
		Backoff:             b.cfg.LogCleanerBackoff,
		Logger:              b.logger,
	}, b.cfg.Registerer)
	cleaners[key] = c
	return c
}

// runCleaner runs the log cleaner until ctx ends.
func (b *Broker) runCleaner(ctx context.Context) {
	c := b.cleaner()
	defer func() {
		cleanersMu.Lock()
		delete(cleaners, weak.Make(b))
		cleanersMu.Unlock()
	}()
	c.Run(ctx, b.compactedPartitions)
}

// compactedPartitions lists the open partitions of the topics with compact in their
// cleanup.policy.
func (b *Broker) compactedPartitions() []*partition.Partition {
	var out []*partition.Partition
	for _, t := range b.allTopics() {
		if !strings.Contains(t.Config().CleanupPolicy, "compact") {
			continue
		}
		for _, p := range t.partitions() {
			out = append(out, p)
		}
	}
	return out
}

func f64Key(name, def, doc string, f func(c *Config) *float64) brokerKey {
	return brokerKey{
		ConfigKeyDoc: ConfigKeyDoc{Name: name, Default: def, Doc: doc},
		typ:          kmsg.ConfigTypeDouble,
		set: func(c *Config, v string) error {
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return err
			}
			*f(c) = x
			return nil
		},
		get: func(c *Config) string { return strconv.FormatFloat(*f(c), 'G', -1, 64) },
	}
}

// checkKeys refuses a batch with a record without a key for a compacted topic, as Kafka
// does: INVALID_RECORD, and from Produce v8 the indexes of the keyless records in the
// partition's error records. A batch whose records cannot be decoded is INVALID_RECORD too.
func checkKeys(records []byte, h segment.BatchHeader, cfg TopicConfig, topic string, part int32, sp *kmsg.ProduceResponseTopicPartition, version int16) error {
	if !strings.Contains(cfg.CleanupPolicy, "compact") {
		return nil
	}
	keyless, err := partition.KeylessRecords(h, records)
	if err != nil {
		return fmt.Errorf("%w: %w", kerr.InvalidRecord, err)
	}
	if len(keyless) == 0 {
		return nil
	}
	msg := fmt.Sprintf("Compacted topic cannot accept message without key in topic partition %s-%d.", topic, part)
	if version >= 8 {
		for _, i := range keyless {
			sp.ErrorRecords = append(sp.ErrorRecords, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: i, ErrorMessage: &msg})
		}
	}
	return fmt.Errorf("%w: %s", kerr.InvalidRecord, msg)
}
