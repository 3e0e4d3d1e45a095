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
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/group"
	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
)

// openCoordinators opens the group coordinator and the producer-id manager.
func (b *Broker) openCoordinators() error {
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
	return nil
}

// openProducerState rebuilds the idempotence state of a partition just opened: the newest
// snapshot (<partition dir>/%020d.snapshot, written at clean shutdown and each maintenance
// tick) plus a replay of the batch headers after it. Without a snapshot the whole local log
// is replayed; history that is no longer local (retention, restore from the bucket) marks
// the state incomplete, so producers the state does not know may continue at any sequence.
// A partition restored from the bucket then gets the newest remote snapshot when its tier
// is attached (loadRemoteProducerState, prodsnap_tier.go).
func (b *Broker) openProducerState(p *Partition) *producer.State {
	newState := func() *producer.State {
		return producer.NewState(producer.StateConfig{IDExpiration: time.Duration(b.cfg.ProducerIDExpirationMs) * time.Millisecond})
	}
	st := newState()
	hw, localStart := p.HighWatermark(), p.LocalLogStartOffset()
	var (
		from  int64
		found bool
		err   error
	)
	if names := p.openListing; names != nil {
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
	p.openListing = nil
	if err != nil {
		b.logger.Warn("cannot load producer snapshot; replaying the log", "dir", p.dir, "err", err)
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
			b.logger.Warn("cannot replay producer state; marking it incomplete", "dir", p.dir, "offset", off, "err", err)
			st.MarkIncomplete()
			break
		}
		next := off
		_ = splitBatches(data, func(h segment.BatchHeader, _ []byte) (bool, error) {
			if h.BaseOffset >= off && h.Magic >= 2 {
				m := producer.BatchMeta{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
					FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(), FirstOffset: h.BaseOffset,
					LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp}
				if h.Control() {
					m.FirstSeq, m.LastSeq = -1, -1
				}
				st.ApplyBatch(m)
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
		b.logger.Debug("producer state replayed", "dir", p.dir, "from", from, "batches", replayed)
	}
	b.prodStates.Store(p, &prodState{st: st, saved: -1})
	return st
}

// saveProducerState snapshots a partition's producer state at its log end and removes
// older snapshots. The partition's append lock is held so that the state and the offset
// agree.
func (b *Broker) saveProducerState(p *Partition) {
	v, ok := b.prodStates.Load(p)
	if !ok {
		return
	}
	ps := v.(*prodState)
	st := ps.st
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	hw := p.log.NextOffset()
	if hw == ps.saved {
		return // nothing appended since the last snapshot
	}
	if err := st.Save(p.dir, hw); err != nil {
		p.warns.warn(b.logger, "save", "cannot save producer snapshot", "dir", p.dir, "err", err) // at most once a minute (fulldisk.go)
		return
	}
	if err := p.pruneProducerSnapshotsLocked(&ps.files, hw); err != nil { // prodsnap_prune.go
		b.logger.Warn("cannot remove old producer snapshots", "dir", p.dir, "err", err)
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

// groupAPI is the entry of a group API, with the versions group.SupportedVersions serves.
func groupAPI(k kmsg.Key, handle handlerFunc, authz authzHook) apiEntry {
	r, ok := group.SupportedVersions()[k.Int16()]
	if !ok {
		panic(fmt.Sprintf("broker: group.SupportedVersions lacks %s", k.Name()))
	}
	return apiEntry{key: k, min: r[0], max: r[1], handle: handle, authz: authz}
}
