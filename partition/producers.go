package partition

// The idempotent-producer state of a partition (package producer): rebuilt at open from the
// newest snapshot file and the log after it, snapshotted by maintenance and at close.

import (
	"os"

	"github.com/strata-io/strata/broker/producer"
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
		from, found, err = st.LoadLatestOf(p.dir, producer.SnapshotsIn(names), hw)
	} else if _, serr := os.Stat(producer.SnapshotPath(p.dir, hw)); serr == nil {
		// segment.Open did not list the directory (a clean shutdown): the snapshot a clean
		// shutdown leaves at the log end is the newest one at or below it, if it loads.
		if from, found, err = st.LoadLatestOf(p.dir, []int64{hw}, hw); err != nil || !found {
			st = newState()
			from, found, err = st.LoadLatest(p.dir, hw)
		}
	} else {
		from, found, err = st.LoadLatest(p.dir, hw)
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
		_ = SplitBatches(data, func(h BatchHeader, _ []byte) (bool, error) {
			if h.BaseOffset >= off && h.Magic >= 2 {
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
	p.mu.Lock()
	p.producers, p.prod = st, &prodState{st: st, saved: -1}
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
	if err := st.Save(p.dir, hw); err != nil {
		p.logger.Warn("cannot save producer snapshot", "dir", p.dir, "err", err)
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
	files snapshotFiles // guarded by the partition's mu
}

// setProducerState installs the idempotence check (nil = none); tests substitute hooks.
func (p *Partition) setProducerState(s producerState) {
	p.mu.Lock()
	p.producers = s
	p.mu.Unlock()
}
