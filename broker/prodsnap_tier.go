package broker

// Producer-state snapshots and the remote tier (KIP-405 keeps one per segment).
//
// A partition of a tiered topic snapshots its producer state at every roll, at the new
// segment's base offset (= the sealed segment's end), under the partition lock so that the
// state and the offset agree. The uploader (package tiering) sends that file with the
// segment. Those roll snapshots stay while their segment is local; the maintenance
// snapshot at the log end replaces the others, as before.
//
// A broker restored from the bucket (its local log restarted empty at the remote end)
// loads the newest remote snapshot, replays the remote batches after it, and so keeps
// deduplicating retries of idempotent producers that wrote before the restore. Without a
// remote snapshot the state is marked incomplete (unknown producers may continue at any
// sequence), as for any history that is no longer local.

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// snapshotProducersAtRollLocked saves the producer state of a tiered partition at the
// current log end, just before the active segment is sealed. Failures are logged: the
// segment is then uploaded with the closest older snapshot, or none.
func (p *Partition) snapshotProducersAtRollLocked() {
	if p.producers == nil || !p.config().RemoteStorageEnable {
		return
	}
	s, ok := p.producers.(interface {
		Save(dir string, offset int64) error
	})
	if !ok {
		return
	}
	if err := s.Save(p.dir, p.log.NextOffset()); err != nil {
		p.warns.warn(p.logger, "save at roll", "cannot save producer snapshot at roll", "next_offset", p.log.NextOffset(), "err", err)
		return
	}
	p.rollSnaps = append(p.rollSnaps, p.log.NextOffset()) // for the next prune (prodsnap_prune.go)
	if r := p.snapshotReports(); r != nil {
		r.ProducerSnapshotSaved(p.log.NextOffset())
	}
}

// producerSnapshotReports is what a tier that keeps the set of the partition's snapshot
// files, so that its uploads need not list the directory, is told (see
// tiering/prodsnap.go): every save and removal of a snapshot file once it tracks them, or
// that the files changed (after a prune that listed the directory, or a failed removal).
// The reports are sent under the partition lock, after the file operation.
type producerSnapshotReports interface {
	TrackProducerSnapshots()
	ProducerSnapshotSaved(offset int64)
	ProducerSnapshotRemoved(offset int64)
	ProducerSnapshotsChanged()
}

var _ producerSnapshotReports = (*tiering.RemotePartition)(nil)

// snapshotReports returns the attached tier if it takes snapshot reports, else nil.
func (p *Partition) snapshotReports() producerSnapshotReports {
	r, _ := p.getTier().(producerSnapshotReports)
	return r
}

// pruneProducerSnapshots removes the snapshot files other than the one at hw; a tiered
// partition also keeps those at the base offset of a local segment (the roll snapshots the
// uploader sends with the segment before).
func (p *Partition) pruneProducerSnapshots(hw int64) error {
	if r := p.snapshotReports(); r != nil {
		defer r.ProducerSnapshotsChanged() // removed without reports
	}
	if !p.config().RemoteStorageEnable {
		return producer.DeleteSnapshots(p.dir, hw, hw)
	}
	offs, err := producer.Snapshots(p.dir)
	if err != nil {
		return err
	}
	for _, o := range offs {
		// HasSegment, not a set of Segments(): a log opened cleanly keeps a long history's
		// sealed segments lazy (segment/lazy.go), and Segments would make them all (and
		// copy 100,000 infos) at the first clean shutdown or maintenance tick.
		if o == hw || p.log.HasSegment(o) {
			continue
		}
		if err := os.Remove(producer.SnapshotPath(p.dir, o)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// remoteProducerSnapshots is what loadRemoteProducerState needs of a tier.
type remoteProducerSnapshots interface {
	LatestProducerSnapshot(ctx context.Context) (data []byte, offset int64, found bool, err error)
	Read(ctx context.Context, offset int64, maxBytes int, minOneBatch bool) ([]byte, error)
}

var _ remoteProducerSnapshots = (*tiering.RemotePartition)(nil)

// loadRemoteProducerState gives a partition whose local log is empty but does not start at
// 0 (restarted at the remote end by restore), and that has no local snapshot at its end,
// the producer state of the bucket. Called when its tier is attached.
func (b *Broker) loadRemoteProducerState(ctx context.Context, p *Partition, rt remoteProducerSnapshots) {
	// p.tier is set: every snapshot save or removal that completes from now on is reported
	// to rt (snapshotReports), and the ones before are in the directory it lists once.
	if r, ok := rt.(producerSnapshotReports); ok {
		r.TrackProducerSnapshots()
	}
	v, ok := b.prodStates.Load(p)
	if !ok {
		return
	}
	cur := v.(*prodState).st
	end := p.log.NextOffset()
	if end == 0 || p.log.LogStartOffset() != end {
		return // local history, if any, came with its own snapshots
	}
	if _, err := os.Stat(producer.SnapshotPath(p.dir, end)); err == nil {
		return // restored before and snapshotted since: openProducerState loaded it
	}
	data, snapOff, found, err := rt.LatestProducerSnapshot(ctx)
	if err == nil && found && snapOff > end {
		found = false // cannot describe a log that ends before it
	}
	if err != nil || !found {
		if err != nil {
			b.logger.Warn("cannot load remote producer snapshot; producer state incomplete", "dir", p.dir, "err", err)
		}
		cur.MarkIncomplete()
		return
	}
	st := producer.NewState(producer.StateConfig{IDExpiration: time.Duration(b.cfg.ProducerIDExpirationMs) * time.Millisecond})
	if err := st.Decode(data); err != nil {
		b.logger.Warn("remote producer snapshot unusable; producer state incomplete", "dir", p.dir, "err", err)
		cur.MarkIncomplete()
		return
	}
	replayed, err := replayRemoteBatches(ctx, rt, st, snapOff, end)
	if err != nil {
		b.logger.Warn("cannot replay remote batches after the producer snapshot; producer state incomplete", "dir", p.dir, "from", snapOff, "err", err)
		st.MarkIncomplete()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() || p.log.NextOffset() != end || p.log.LogStartOffset() != end {
		cur.MarkIncomplete() // appended meanwhile: keep what saw those appends
		return
	}
	p.producers = st
	b.prodStates.Store(p, &prodState{st: st, saved: -1})
	b.logger.Info("producer state loaded from the bucket", "dir", p.dir, "snapshot_offset", snapOff, "replayed_batches", replayed, "log_end", end)
}

// replayRemoteBatches applies the batch headers of the remote log in [from, to) to st.
func replayRemoteBatches(ctx context.Context, rt remoteProducerSnapshots, st *producer.State, from, to int64) (int, error) {
	replayed := 0
	for off := from; off < to; {
		data, err := rt.Read(ctx, off, 1<<20, true)
		if err != nil {
			return replayed, err
		}
		next := off
		if err := splitBatches(data, func(h segment.BatchHeader, _ []byte) (bool, error) {
			if h.BaseOffset >= off && h.Magic >= 2 && h.LastOffset() < to {
				st.ApplyBatch(producerBatchMeta(h))
				replayed++
			}
			next = max(next, h.LastOffset()+1)
			return true, nil
		}); err != nil {
			return replayed, err
		}
		if next <= off {
			return replayed, errRemoteReplayStuck
		}
		off = next
	}
	return replayed, nil
}

var errRemoteReplayStuck = errors.New("remote read made no progress")

// producerBatchMeta is what the producer state keeps of a batch header.
func producerBatchMeta(h segment.BatchHeader) producer.BatchMeta {
	m := producer.BatchMeta{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
		FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(), FirstOffset: h.BaseOffset,
		LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp}
	if h.Control() {
		m.FirstSeq, m.LastSeq = -1, -1
	}
	return m
}
