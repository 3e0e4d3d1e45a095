package partition

import (
	"context"
	"fmt"
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
//     OnSealed hints the uploader after a roll; NoteLogEnd tells it the log end after an
//     append (the bucket's watermark, tiering/watermark.go), and OpenedWatermark is the
//     watermark read when the tier was opened, which an empty restored log restarts after.
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
	NoteLogEnd(next int64)
	OpenedWatermark() tiering.PartitionWatermark
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
// If the local log must restart at the remote end and cannot, the tier is closed again and
// the error returned (the broker retries at its next maintenance).
func (p *Partition) AttachTier(ctx context.Context, m *tiering.Manager, pcfg tiering.PartitionConfig) error {
	rp, err := m.OpenPartition(ctx, p.topicName, p.topicID, p.index, p.log, pcfg)
	if err != nil {
		return err
	}
	p.mu.Lock()
	err = p.restartAtRemoteLocked(rp)
	p.mu.Unlock()
	if err != nil {
		m.ClosePartition(p.topicName, p.index)
		return err
	}
	p.SetTier(ctx, rp)
	return nil
}

// restartAtRemoteLocked restarts an empty local log that the tier is ahead of: at the
// remote end, so that new records continue the offsets of a restored partition, and a
// brand-new log (next offset 0) also after the tier's watermark, so that offsets
// acknowledged before the disk was lost but never uploaded are not handed out again
// (tiering/watermark.go). p.mu must be held; nothing has been appended since the log was
// opened, or the log is not empty and nothing changes.
func (p *Partition) restartAtRemoteLocked(t Tier) error {
	l := p.log
	_, end, ok := t.Bounds()
	restarted := l.NextOffset() == 0 // a brand-new local log
	if ok && l.LogStartOffset() == l.NextOffset() && l.NextOffset() < end {
		if err := l.SetLogStartOffset(end); err != nil {
			return fmt.Errorf("cannot restart local log of %s-%d at remote end %d: %w", p.topicName, p.index, end, err)
		}
		p.logger.Info("local log restarted at remote end offset", "offset", end)
		restarted = true
	}
	wm := t.OpenedWatermark()
	if restarted && l.LogStartOffset() == l.NextOffset() && wm.ReservedEnd > l.NextOffset() {
		from := l.NextOffset()
		if err := l.SetLogStartOffset(wm.ReservedEnd); err != nil {
			return fmt.Errorf("cannot restart local log of %s-%d at watermark %d: %w", p.topicName, p.index, wm.ReservedEnd, err)
		}
		p.logger.Warn("local log restarted after the partition's watermark: offsets acknowledged before but never uploaded are skipped, not reused",
			"offset", wm.ReservedEnd, "skipped_from", from, "watermark_log_end", wm.LogEnd)
	}
	p.resyncActiveLocked()
	return nil
}

// SetTier attaches the remote tier t (nil detaches it). If the local log is empty and the
// tier already holds data beyond it (a broker restored from the bucket), the local log
// restarts at the remote end so that new records continue the offsets (see
// restartAtRemoteLocked; a failure is logged), and the producer state comes from the
// bucket's newest snapshot (loadRemoteProducerState).
func (p *Partition) SetTier(ctx context.Context, t Tier) {
	if t == nil {
		p.tier.Store(nil)
		return
	}
	p.mu.Lock()
	if err := p.restartAtRemoteLocked(t); err != nil {
		p.logger.Warn("cannot restart local log for the remote tier", "err", err)
	}
	p.tier.Store(&tierRef{t})
	p.mu.Unlock()
	p.loadRemoteProducerState(ctx, t) // prodsnap.go
}

// InRestoreGap reports whether offset lies below the local log start but at or past the
// end of the attached tier: offsets a restore skipped (acknowledged before the disk was
// lost, never uploaded; tiering/watermark.go). A fetch there is answered from the local
// start, as Kafka answers after a compacted gap.
func (p *Partition) InRestoreGap(offset int64) bool {
	t := p.getTier()
	if t == nil || offset >= p.log.LogStartOffset() {
		return false
	}
	_, end, ok := t.Bounds()
	return !ok || offset >= end
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
	if _, err := p.fs.Stat(producer.SnapshotPath(p.dir, end)); err != nil {
		return false
	}
	re, err := remoteEnd()
	return err == nil && re <= end
}
