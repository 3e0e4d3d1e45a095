package partition

// The idempotent-producer state of a partition and its snapshot files: the one home of
// producer snapshots (the file names are segment.ProducerSnapshotPath's, the encoding is
// package producer's, the upload is package tiering's). See doc.go.

import (
	"context"
	"errors"
	"io/fs"
	"slices"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// openProducerState rebuilds the idempotence state of a partition just opened: the newest
// snapshot (<partition dir>/%020d.snapshot, written at clean shutdown and each maintenance
// tick) plus a replay of the batch headers after it. Without a snapshot the whole local log
// is replayed; history that is no longer local (retention, restore from the bucket) marks
// the state incomplete, so producers the state does not know may continue at any sequence.
// A partition restored from the bucket then gets the newest remote snapshot when its tier
// is attached (loadRemoteProducerState, prodsnap_tier.go). names are the files
// segment.Open found beside the log (nil: it did not list the directory).
func (p *Partition) openProducerState(names []string) {
	newState := p.newProducerState
	st := newState()
	hw, localStart := p.HighWatermark(), p.LocalLogStartOffset()
	var (
		from  int64
		found bool
		err   error
	)
	if names != nil {
		// The files segment.Open found beside the log: the directory of a long history
		// holds hundreds of thousands of names, not worth listing (and sorting) twice.
		from, found, err = st.LoadLatestOf(p.fs, p.dir, segment.ProducerSnapshotOffsets(names), hw)
	} else if _, serr := p.fs.Stat(producer.SnapshotPath(p.dir, hw)); serr == nil {
		// segment.Open did not list the directory (a clean shutdown): the snapshot a clean
		// shutdown leaves at the log end is the newest one at or below it, if it loads.
		if from, found, err = st.LoadLatestOf(p.fs, p.dir, []int64{hw}, hw); err != nil || !found {
			st = newState()
			from, found, err = st.LoadLatest(p.fs, p.dir, hw)
		}
	} else {
		from, found, err = st.LoadLatest(p.fs, p.dir, hw)
	}
	if err != nil {
		p.logger.Warn("cannot load producer snapshot; replaying the log", "dir", p.dir, "err", err)
		st, found = newState(), false
	}
	if !found {
		from = localStart
		if localStart > 0 {
			st.MarkIncomplete()
		}
	} else if from < localStart {
		from = localStart
		st.MarkIncomplete()
	}
	replayed := 0
	for off := from; off < hw; {
		data, local, err := p.readLocal(off, 1<<20, true)
		if err != nil || !local || len(data) == 0 {
			p.logger.Warn("cannot replay producer state; marking it incomplete", "dir", p.dir, "offset", off, "err", err)
			st.MarkIncomplete()
			break
		}
		next := off
		_ = SplitBatches(data, func(h segment.BatchHeader, batch []byte) (bool, error) {
			if h.BaseOffset >= off && h.Magic >= 2 {
				p.replayTxnBatch(st, h, batch) // txn.go: aborted-transaction index
				st.ApplyBatch(producerBatchMeta(h))
				replayed++
			}
			next = max(next, h.LastOffset()+1)
			return true, nil
		})
		if next <= off {
			st.MarkIncomplete()
			break
		}
		off = next
	}
	if replayed > 0 {
		p.logger.Debug("producer state replayed", "dir", p.dir, "from", from, "batches", replayed)
	}
	loaded := int64(-1)
	if found {
		loaded = from
	}
	p.mu.Lock()
	p.producers, p.prod = st, &prodState{st: st, saved: -1, loaded: loaded}
	p.setTxnState(st)
	p.mu.Unlock()
}

func (p *Partition) newProducerState() *producer.State {
	return producer.NewState(producer.StateConfig{IDExpiration: p.idExp})
}

// SaveProducerState snapshots the partition's producer state at its log end and removes
// older snapshots (Maintain and Close call it). The partition's append lock is held so
// that the state and the offset agree.
func (p *Partition) SaveProducerState() {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.prod
	if ps == nil || p.closed.Load() {
		return
	}
	st := ps.st
	hw := p.log.NextOffset()
	if hw == ps.saved {
		return // nothing appended since the last snapshot
	}
	if err := st.Save(p.fs, p.dir, hw); err != nil {
		p.warns.warn(p.logger, "save", "cannot save producer snapshot", "dir", p.dir, "err", err) // at most once a minute (warn.go)
		return
	}
	if err := p.pruneProducerSnapshotsLocked(&ps.files, hw); err != nil { // prodsnap_prune.go
		p.logger.Warn("cannot remove old producer snapshots", "dir", p.dir, "err", err)
	}
	ps.saved = hw
	st.Expire()
}

// prodState is a partition's producer state and the offset of its last snapshot
// (guarded by the partition's mu).
type prodState struct {
	st    *producer.State
	saved int64
	// loaded is the offset of the snapshot loaded at open (-1: none): with saved, the
	// newest snapshot on disk, below which the cleaner may remove markers (cleantxn.go).
	loaded int64
	files  snapshotFiles // guarded by the partition's mu
}

// setProducerState installs the idempotence check (nil = none); tests substitute hooks.
func (p *Partition) setProducerState(s producerState) {
	p.mu.Lock()
	p.producers = s
	p.mu.Unlock()
}

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

// snapshotProducersAtRollLocked saves the producer state of a tiered partition at the
// current log end, just before the active segment is sealed. Failures are logged: the
// segment is then uploaded with the closest older snapshot, or none.
func (p *Partition) snapshotProducersAtRollLocked() {
	if p.producers == nil || !p.config().RemoteStorageEnable {
		return
	}
	s, ok := p.producers.(interface {
		Save(fsys segment.FS, dir string, offset int64) error
	})
	if !ok {
		return
	}
	if err := s.Save(p.fs, p.dir, p.log.NextOffset()); err != nil {
		p.warns.warn(p.logger, "save at roll", "cannot save producer snapshot at roll", "next_offset", p.log.NextOffset(), "err", err)
		return
	}
	p.rollSnaps = append(p.rollSnaps, p.log.NextOffset()) // for the next prune (pruneProducerSnapshotsLocked)
	if r := p.snapshotReports(); r != nil {
		r.ProducerSnapshotSaved(p.log.NextOffset())
	}
}

// snapshotReports returns the attached tier, which keeps the set of the partition's
// snapshot files so that its uploads need not list the directory (see
// tiering/prodsnap.go), or nil. It is told every save and removal of a snapshot file once
// it tracks them, or that the files changed (after a prune that listed the directory, or a
// failed removal). The reports are sent under the partition lock, after the file operation.
func (p *Partition) snapshotReports() Tier { return p.getTier() }

// pruneProducerSnapshots removes the snapshot files other than the one at hw; a tiered
// partition also keeps those at the base offset of a local segment (the roll snapshots the
// uploader sends with the segment before).
func (p *Partition) pruneProducerSnapshots(hw int64) error {
	if r := p.snapshotReports(); r != nil {
		defer r.ProducerSnapshotsChanged() // removed without reports
	}
	if !p.config().RemoteStorageEnable {
		return producer.DeleteSnapshots(p.fs, p.dir, hw, hw)
	}
	offs, err := producer.Snapshots(p.fs, p.dir)
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
		if err := p.fs.Remove(producer.SnapshotPath(p.dir, o)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// loadRemoteProducerState gives a partition whose local log is empty but does not start at
// 0 (restarted at the remote end by restore), and that has no local snapshot at its end,
// the producer state of the bucket. Called when its tier is attached.
func (p *Partition) loadRemoteProducerState(ctx context.Context, rt Tier) {
	// p.tier is set: every snapshot save or removal that completes from now on is reported
	// to rt (snapshotReports), and the ones before are in the directory it lists once.
	rt.TrackProducerSnapshots()
	p.mu.Lock()
	ps := p.prod
	p.mu.Unlock()
	if ps == nil {
		return
	}
	cur := ps.st
	end := p.log.NextOffset()
	if end == 0 || p.log.LogStartOffset() != end {
		return // local history, if any, came with its own snapshots
	}
	if _, err := p.fs.Stat(producer.SnapshotPath(p.dir, end)); err == nil {
		return // restored before and snapshotted since: openProducerState loaded it
	}
	data, snapOff, found, err := rt.LatestProducerSnapshot(ctx)
	if err == nil && found && snapOff > end {
		found = false // cannot describe a log that ends before it
	}
	if err != nil || !found {
		if err != nil {
			p.logger.Warn("cannot load remote producer snapshot; producer state incomplete", "dir", p.dir, "err", err)
		}
		cur.MarkIncomplete()
		return
	}
	st := p.newProducerState()
	if err := st.Decode(data); err != nil {
		p.logger.Warn("remote producer snapshot unusable; producer state incomplete", "dir", p.dir, "err", err)
		cur.MarkIncomplete()
		return
	}
	replayed, err := replayRemoteBatches(ctx, rt, st, snapOff, end)
	if err != nil {
		p.logger.Warn("cannot replay remote batches after the producer snapshot; producer state incomplete", "dir", p.dir, "from", snapOff, "err", err)
		st.MarkIncomplete()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() || p.log.NextOffset() != end || p.log.LogStartOffset() != end {
		cur.MarkIncomplete() // appended meanwhile: keep what saw those appends
		return
	}
	p.producers, p.prod = st, &prodState{st: st, saved: -1}
	p.setTxnState(st)
	p.logger.Info("producer state loaded from the bucket", "dir", p.dir, "snapshot_offset", snapOff, "replayed_batches", replayed, "log_end", end)
}

// replayRemoteBatches applies the batch headers of the remote log in [from, to) to st.
func replayRemoteBatches(ctx context.Context, rt Tier, st *producer.State, from, to int64) (int, error) {
	replayed := 0
	for off := from; off < to; {
		recs, err := rt.ReadRecords(ctx, off, 1<<20, true, tiering.ReadOptions{})
		if err != nil {
			return replayed, err
		}
		data := recs.AppendTo(make([]byte, 0, recs.Len()))
		next := off
		if err := SplitBatches(data, func(h segment.BatchHeader, _ []byte) (bool, error) {
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
		LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp,
		Transactional: h.Transactional(), Control: h.Control()}
	if h.Control() {
		m.FirstSeq, m.LastSeq = -1, -1
	}
	return m
}

// snapshotFiles tracks the producer snapshot files of one partition directory, so that
// the maintenance loop's pruning after each snapshot does not list a directory that a long
// history fills with hundreds of thousands of segment files, with the partition lock held,
// on every maintenance run.
//
// The directory is listed once, at the first prune. From then on the files are known:
// those kept by the last prune (the snapshot at the then log end, and roll snapshots at the
// base offsets of local segments), the snapshot just saved, and the roll snapshots saved
// since (Partition.rollSnaps). Local segments are deleted only from the head, so the roll
// snapshots to remove are the oldest entries, up to the first that is still a segment base;
// the one other file to remove is the previous log-end snapshot. (A roll snapshot whose roll
// then failed is not a segment base: it goes once every older entry went.)
//
// The fields are guarded by the partition's mu (saveProducerState holds it).
type snapshotFiles struct {
	listed bool
	offs   []int64 // ascending: the snapshot files on disk
	hw     int64   // the snapshot at the log end kept by the last prune
}

// pruneProducerSnapshotsLocked removes the snapshot files other than the one at hw and, in
// a tiered partition, those at the base offset of a local segment (the roll snapshots the
// uploader sends with the segment before): the same files as a prune that lists the
// directory removes.
func (p *Partition) pruneProducerSnapshotsLocked(sf *snapshotFiles, hw int64) error {
	reports := p.snapshotReports()
	if reports != nil {
		reports.ProducerSnapshotSaved(hw) // saveProducerState just wrote it
	}
	if !sf.listed {
		p.rollSnaps = p.rollSnaps[:0]                        // the listing sees them
		if err := p.pruneProducerSnapshots(hw); err != nil { // lists the directory
			return err
		}
		offs, err := producer.Snapshots(p.fs, p.dir)
		if err != nil {
			return err
		}
		*sf = snapshotFiles{listed: true, offs: offs, hw: hw}
		return nil
	}
	tiered := p.config().RemoteStorageEnable
	add := func(o int64) {
		if i, found := slices.BinarySearch(sf.offs, o); !found {
			sf.offs = slices.Insert(sf.offs, i, o)
		}
	}
	for _, o := range p.rollSnaps {
		add(o)
	}
	p.rollSnaps = p.rollSnaps[:0]
	add(hw)
	keep := func(o int64) bool { return o == hw || (tiered && p.log.HasSegment(o)) }
	var errs []error
	remove := func(o int64) bool {
		if err := p.fs.Remove(producer.SnapshotPath(p.dir, o)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			return false
		}
		if reports != nil {
			reports.ProducerSnapshotRemoved(o)
		}
		return true
	}
	// The oldest entries whose segments are gone (all but hw outside a tiered partition).
	i := 0
	for i < len(sf.offs) && !keep(sf.offs[i]) {
		if !remove(sf.offs[i]) {
			break
		}
		i++
	}
	sf.offs = sf.offs[i:]
	// The previous log-end snapshot, unless it is hw or a segment base.
	if sf.hw != hw && !keep(sf.hw) {
		if j, found := slices.BinarySearch(sf.offs, sf.hw); found && remove(sf.hw) {
			sf.offs = slices.Delete(sf.offs, j, j+1)
		}
	}
	if !tiered { // entries above hw cannot exist; below it only hw is kept
		sf.offs = slices.DeleteFunc(sf.offs, func(o int64) bool { return o != hw && remove(o) })
	}
	sf.hw = hw
	if len(errs) > 0 {
		if reports != nil {
			reports.ProducerSnapshotsChanged() // a failed removal may have removed it
		}
		sf.listed = false // list again next time
		return errs[0]
	}
	return nil
}
