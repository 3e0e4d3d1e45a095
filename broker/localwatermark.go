package broker

// Log ends of topics that are not tiered, in the bucket.
//
// A topic with remote.storage.enable=false has no records in the bucket, so a restore
// recreates it empty (topicbucket.go). So that the restored partitions do not hand out
// again the offsets acknowledged before the disk was lost (a consumer that read offset 7
// would otherwise find other data at 7), the broker records each such partition's log end
// in its watermark.json, in the format and with the reservation of a tiered partition's
// (tiering/watermark.go): every strata.remote.log.watermark.interval.ms (default 1 min)
// for the partitions whose log end moved, reservedEnd = logEnd + 2 x what the last interval
// appended, and the exact end on a clean stop. A restore restarts each empty partition at
// its reservedEnd (partition.RestartEmptyAt). Unlike a tiered partition's, it is not
// rewritten at once when appends pass the reservation: more records than the reservation
// appended within one interval before the disk is lost may reuse offsets.

import (
	"context"
	"sync"
	"time"

	"github.com/strata-io/strata/tiering"
)

type localWMKey struct {
	id        [16]byte
	partition int32
}

type localWMState struct{ written, reserved int64 }

// localWatermarks is the bookkeeping of the log ends written.
type localWatermarks struct {
	mu   sync.Mutex // serialises writes
	last map[localWMKey]localWMState
}

// localWatermarkLoop writes the watermarks every interval until ctx ends.
func (b *Broker) localWatermarkLoop(ctx context.Context) {
	if b.cfg.RemoteWatermarkInterval <= 0 {
		return
	}
	tick := time.NewTicker(b.cfg.RemoteWatermarkInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			b.writeLocalWatermarks(ctx, false)
		}
	}
}

// writeLocalWatermarks writes the watermark of every partition of a topic that is not
// tiered whose log end moved since the last one (final: the exact end, no reservation).
// Failures are logged once per pass and retried on the next.
func (b *Broker) writeLocalWatermarks(ctx context.Context, final bool) {
	if b.tier == nil || b.cfg.RemoteWatermarkInterval <= 0 {
		return
	}
	lw := &b.localWM
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.last == nil {
		lw.last = map[localWMKey]localWMState{}
	}
	var failed error
	for _, t := range b.allTopics() {
		if t.Config().RemoteStorageEnable {
			continue
		}
		for i, p := range t.partitions() {
			k := localWMKey{t.ID, int32(i)}
			prefix := tiering.PartitionPrefix(b.cfg.RemotePrefix, t.Name, t.ID, int32(i))
			end := p.HighWatermark()
			st, seen := lw.last[k]
			if !seen {
				if end == 0 {
					continue // nothing to record (yet)
				}
				// The first time since start: what the bucket holds, so that the
				// reservation counts the records appended since.
				octx, cancel := context.WithTimeout(ctx, tierOpTimeout)
				wm, err := tiering.ReadWatermark(octx, b.cfg.RemoteStore, prefix)
				cancel()
				if err != nil {
					failed = err
					continue
				}
				st = localWMState{written: wm.LogEnd, reserved: wm.ReservedEnd}
				lw.last[k] = st
			}
			if end == st.written && (!final || st.reserved == end) || end < st.written {
				continue
			}
			// Records appended since the last write (a restored log starts after a gap,
			// which is not appended records).
			appended := max(end-max(st.written, p.LogStartOffset()), 0)
			reserved := max(end+2*appended, st.reserved)
			if final {
				reserved = end
			}
			octx, cancel := context.WithTimeout(ctx, tierOpTimeout)
			err := tiering.WriteWatermark(octx, b.cfg.RemoteStore, prefix,
				tiering.PartitionWatermark{Topic: t.Name, TopicID: tiering.TopicIDString(t.ID), Partition: int32(i),
					LogEnd: end, ReservedEnd: reserved, Updated: time.Now().UTC()})
			cancel()
			if err != nil {
				failed = err
				continue
			}
			lw.last[k] = localWMState{written: end, reserved: reserved}
		}
	}
	if failed != nil && ctx.Err() == nil {
		b.logger.Warn("cannot record log ends of topics that are not tiered in the bucket", "err", failed)
	}
}

// restartLocalOnly restarts the empty partitions of a restored topic that is not tiered
// after the log ends recorded in the bucket.
func (b *Broker) restartLocalOnly(ctx context.Context, t *Topic) {
	for i, p := range t.partitions() {
		wm, err := tiering.ReadWatermark(ctx, b.cfg.RemoteStore, tiering.PartitionPrefix(b.cfg.RemotePrefix, t.Name, t.ID, int32(i)))
		if err != nil {
			b.logger.Warn("cannot read the recorded log end of a restored partition; it restarts at 0", "topic", t.Name, "partition", i, "err", err)
			continue
		}
		if _, err := p.RestartEmptyAt(wm.ReservedEnd); err != nil {
			b.logger.Warn("cannot restart restored partition after its recorded log end", "topic", t.Name, "partition", i, "err", err)
		}
	}
}
