package partition

import (
	"context"
	"os"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Tier is the remote tier of one partition, as the partition uses it: the methods of
// *tiering.RemotePartition that it calls, in one interface so that tests can substitute a
// fake. There is no optional part: every tier has every method.
//
// Contract (see package tiering for the implementation):
//   - Bounds reports the remote offset range [start, end) named by the manifest; ok=false
//     when nothing has been uploaded (yet).
//   - ReadRecords returns whole record batches beginning with the batch that contains
//     offset, at most maxBytes unless minOneBatch (then the first batch whole), as slices
//     the caller must not modify. A bucket error is an error, never an empty read; an
//     offset below start is segment.ErrOffsetOutOfRange. CountFetch counts what a fetch
//     sent of an uncounted read.
//   - FindTimestamp returns the first remote batch whose max timestamp >= ts.
//   - Uploaded reports whether the manifest names seg, i.e. the local copy may be deleted
//     (subject to local retention); RollDue whether the upload interval asks for a roll;
//     OnSealed hints the uploader after a roll.
//   - SetLogStartOffset (DeleteRecords) and ApplyRetention (total retention; it returns
//     the new remote start) move the remote start, manifest first; the partition then
//     moves its local log start.
//   - The producer snapshot methods: TrackProducerSnapshots promises reports of every save
//     and removal of a snapshot file from now on (ProducerSnapshotSaved/Removed, or
//     ProducerSnapshotsChanged after a change made without reports);
//     LatestProducerSnapshot is the newest snapshot in the bucket.
//   - Entries, RemoteBytes and Fenced describe the remote part for View.
type Tier interface {
	Bounds() (start, end int64, ok bool)
	ReadRecords(ctx context.Context, offset int64, maxBytes int, minOneBatch bool, o tiering.ReadOptions) (tiering.Records, error)
	CountFetch(bytes int)
	FindTimestamp(ctx context.Context, ts int64) (batch []byte, found bool, err error)
	Uploaded(seg segment.SegmentInfo) bool
	RollDue(now time.Time) bool
	OnSealed()
	SetLogStartOffset(ctx context.Context, offset int64) error
	ApplyRetention(ctx context.Context, retentionMs, retentionBytes, localBytes int64, now time.Time) (int64, error)

	TrackProducerSnapshots()
	ProducerSnapshotSaved(offset int64)
	ProducerSnapshotRemoved(offset int64)
	ProducerSnapshotsChanged()
	LatestProducerSnapshot(ctx context.Context) (data []byte, offset int64, found bool, err error)

	Entries() []tiering.SegmentEntry
	RemoteBytes() int64
	Fenced() bool
}

var _ Tier = (*tiering.RemotePartition)(nil)

// AttachTier opens the partition's remote tier with m and attaches it (see SetTier). The
// tier's upload loop runs while m.Run runs; m.ClosePartition (or m.DeleteTopic) closes it.
func (p *Partition) AttachTier(ctx context.Context, m *tiering.Manager, pcfg tiering.PartitionConfig) error {
	rp, err := m.OpenPartition(ctx, p.topicName, p.topicID, p.index, p.log, pcfg)
	if err != nil {
		return err
	}
	p.SetTier(ctx, rp)
	return nil
}

// SetTier attaches the remote tier t (nil detaches it). If the local log is empty and the
// tier already holds data beyond it (a broker restored from the bucket), the local log
// restarts at the remote end so that new records continue the offsets, and the producer
// state comes from the bucket's newest snapshot (loadRemoteProducerState).
func (p *Partition) SetTier(ctx context.Context, t Tier) {
	if t == nil {
		p.tier.Store(nil)
		return
	}
	p.tier.Store(&tierRef{t})
	if _, end, ok := t.Bounds(); ok {
		p.mu.Lock()
		if p.log.NextOffset() < end && p.log.Size() == 0 {
			if err := p.log.SetLogStartOffset(end); err != nil {
				p.logger.Warn("cannot restart local log at remote end", "offset", end, "err", err)
			} else {
				p.logger.Info("local log restarted at remote end offset", "offset", end)
			}
		}
		p.mu.Unlock()
	}
	p.loadRemoteProducerState(ctx, t) // prodsnap_tier.go
}

// Tier returns the attached remote tier, or nil.
func (p *Partition) Tier() Tier { return p.getTier() }

// HasTier reports whether a remote tier is attached.
func (p *Partition) HasTier() bool { return p.getTier() != nil }

func (p *Partition) getTier() Tier {
	if r := p.tier.Load(); r != nil {
		return r.t
	}
	return nil
}

// TierCanWait reports whether the partition, whose tier is not attached yet, can be
// served before it is (the broker attaches such tiers after start-up): it has local data,
// or its empty log does not start at 0 (a fresh or recreated directory may be behind the
// bucket), the remote end (remoteEnd: one read of the manifest head) is not beyond it (so
// SetTier would not restart it) and it has a producer snapshot at its end (so
// loadRemoteProducerState would not look in the bucket). Any doubt (remoteEnd fails)
// answers false.
func (p *Partition) TierCanWait(remoteEnd func() (int64, error)) bool {
	if p.log.NextOffset() > p.log.LogStartOffset() {
		return true
	}
	end := p.log.NextOffset()
	if end == 0 {
		return false
	}
	if _, err := os.Stat(producer.SnapshotPath(p.dir, end)); err != nil {
		return false
	}
	re, err := remoteEnd()
	return err == nil && re <= end
}
