package partition

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/partition/partitiontest"
	"github.com/strata-io/strata/segment"
)

// fakeTier is the in-memory tier of package partitiontest.
type fakeTier = partitiontest.Tier

// testConfig is the broker's default topic config with overrides (the keys the tests use).
func testConfig(t testing.TB, overrides map[string]string) Config {
	t.Helper()
	c := Config{
		SegmentBytes: 1 << 30, SegmentMs: 7 * 24 * 3600 * 1000,
		RetentionMs: 7 * 24 * 3600 * 1000, RetentionBytes: -1,
		LocalRetentionMs: -2, LocalRetentionBytes: -2,
		CleanupPolicy: "delete", IndexIntervalBytes: 4096,
		FlushMessages: 1<<63 - 1, FlushMs: 1<<63 - 1,
	}
	for k, v := range overrides {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "segment.bytes":
			c.SegmentBytes = n
		case "segment.ms":
			c.SegmentMs = n
		case "retention.ms":
			c.RetentionMs = n
		case "retention.bytes":
			c.RetentionBytes = n
		case "local.retention.ms":
			c.LocalRetentionMs = n
		case "local.retention.bytes":
			c.LocalRetentionBytes = n
		case "remote.storage.enable":
			c.RemoteStorageEnable = v == "true"
		case "message.timestamp.type":
			c.LogAppendTime = v == "LogAppendTime"
		case "cleanup.policy":
			c.CleanupPolicy = v
		default:
			panic(fmt.Sprintf("testConfig: unknown key %q", k))
		}
	}
	return c
}

// validateBatch parses the header of a test batch (the broker's checks are its own).
func validateBatch(b []byte, _ Config, _ time.Time) (segment.BatchHeader, error) {
	return segment.DecodeBatchHeader(b)
}

func (p *Partition) append(batch []byte, h segment.BatchHeader, now time.Time) (AppendResult, error) {
	return p.Append(batch, h, now, true)
}

// runMaintenance is Maintain without the producer snapshot.
func (p *Partition) runMaintenance(now time.Time) { p.maintain(now, false) }

func (p *Partition) deleteRecords(ctx context.Context, offset int64) (int64, error) {
	return p.DeleteRecords(ctx, offset)
}

func (p *Partition) setTier(t Tier) { p.SetTier(context.Background(), t) }

func (p *Partition) waitDurable(ctx context.Context, offset int64) error {
	return p.WaitDurable(ctx, offset)
}

// installProducerState makes st the partition's producer state, snapshotted by
// SaveProducerState.
func (p *Partition) installProducerState(st *producer.State) {
	p.mu.Lock()
	p.producers, p.prod = st, &prodState{st: st, saved: -1}
	p.setTxnState(st)
	p.mu.Unlock()
}
