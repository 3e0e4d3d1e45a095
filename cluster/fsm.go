package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// snapshotMagic starts every snapshot this package writes, followed by one JSON Image.
// The "1" is the snapshot format version.
const snapshotMagic = "strata-metadata-snapshot 1\n"

// maxSnapshotBytes bounds what Restore reads (a snapshot of a million partitions fits).
const maxSnapshotBytes = 1 << 30

// fsm is the replicated state machine: raft applies committed entries to it in log order
// on one goroutine; readers take the published image without locks.
type fsm struct {
	logger *slog.Logger
	image  atomic.Pointer[Image]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every publish

	// Counters for tests and metrics.
	applied  atomic.Uint64 // entries applied since open (not counting a restore)
	restored atomic.Uint64 // image version of the last Restore

	isrShrinks, isrExpands atomic.Uint64 // ISR changes applied since open
}

var _ raft.FSM = (*fsm)(nil)

func newFSM(logger *slog.Logger) *fsm {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &fsm{logger: logger, changed: make(chan struct{})}
	f.image.Store(NewImage())
	return f
}

func (f *fsm) publish(im *Image) {
	f.mu.Lock()
	f.image.Store(im)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// current returns the published image and a channel closed when a newer one is published.
func (f *fsm) current() (*Image, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.image.Load(), f.changed
}

// Apply implements raft.FSM. Command entries carry records; other entry types only move
// the version so that it always equals the last applied index.
func (f *fsm) Apply(l *raft.Log) any {
	cur := f.image.Load()
	if l.Type != raft.LogCommand {
		return nil
	}
	recs, err := DecodeEntry(l.Data)
	if err != nil {
		// A committed entry that does not decode was written by a newer or broken
		// node; every replica skips it the same way, so images stay identical.
		f.logger.Error("skipping undecodable metadata entry", "index", l.Index, "err", err)
		skipped := *cur
		skipped.Version = max(cur.Version, l.Index)
		f.publish(&skipped)
		return applyResult{err: err}
	}
	next, res := cur.apply(l.Index, recs)
	if next != cur {
		f.applied.Add(1)
		if res.err == nil {
			f.countISRChanges(cur, recs)
		}
		f.publish(next)
	}
	return res
}

// countISRChanges counts the ISR shrinks and expansions among recs, applied to before.
func (f *fsm) countISRChanges(before *Image, recs []Record) {
	for _, r := range recs {
		pr, ok := r.(PartitionRecord)
		if !ok {
			continue
		}
		t := before.TopicByID(pr.TopicID)
		if t == nil || int(pr.Partition) >= len(t.Partitions) {
			continue // a new partition
		}
		switch old := len(t.Partitions[pr.Partition].ISR); {
		case len(pr.ISR) < old:
			f.isrShrinks.Add(1)
		case len(pr.ISR) > old:
			f.isrExpands.Add(1)
		}
	}
}

// Snapshot implements raft.FSM: the published image is immutable, so the snapshot is
// just the pointer; Persist encodes it on raft's snapshot goroutine.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return imageSnapshot{f.image.Load()}, nil
}

// Restore implements raft.FSM: it replaces the image with the snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	im, err := ReadSnapshot(rc)
	if err != nil {
		return err
	}
	f.restored.Store(im.Version)
	f.publish(im)
	return nil
}

type imageSnapshot struct{ im *Image }

func (s imageSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := WriteSnapshot(sink, s.im); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (imageSnapshot) Release() {}

// WriteSnapshot writes im as snapshotMagic followed by its JSON encoding.
func WriteSnapshot(w io.Writer, im *Image) error {
	bw := bufio.NewWriter(w)
	if _, err := io.WriteString(bw, snapshotMagic); err != nil {
		return fmt.Errorf("cannot write metadata snapshot: %w", err)
	}
	if err := json.NewEncoder(bw).Encode(im); err != nil {
		return fmt.Errorf("cannot write metadata snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write metadata snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot decodes a snapshot written by WriteSnapshot and checks it: every topic and
// partition must be one a record could have created. Errors wrap ErrBadRecord.
func ReadSnapshot(r io.Reader) (*Image, error) {
	br := bufio.NewReader(io.LimitReader(r, maxSnapshotBytes))
	head := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != snapshotMagic {
		return nil, bad("snapshot header %q", head)
	}
	im := NewImage()
	if err := json.NewDecoder(br).Decode(im); err != nil {
		return nil, bad("snapshot: %v", err)
	}
	if im.Brokers == nil {
		im.Brokers = map[int32]Broker{}
	}
	if im.Topics == nil {
		im.Topics = map[string]*Topic{}
	}
	if im.ACLs == nil {
		im.ACLs = map[string][]byte{}
	}
	if im.SCRAM == nil {
		im.SCRAM = map[string]SCRAMPayload{}
	}
	im.byID = map[TopicID]string{}
	for id, b := range im.Brokers {
		if b.NodeID != id {
			return nil, bad("snapshot: broker %d stored under %d", b.NodeID, id)
		}
	}
	for name, t := range im.Topics {
		if t == nil || t.Name != name {
			return nil, bad("snapshot: topic stored under %q", name)
		}
		if err := (TopicRecord{Name: t.Name, ID: t.ID}).validate(); err != nil {
			return nil, err
		}
		if _, dup := im.byID[t.ID]; dup {
			return nil, bad("snapshot: topic id %s used twice", t.ID)
		}
		im.byID[t.ID] = name
		for i, p := range t.Partitions {
			pr := PartitionRecord{TopicID: t.ID, Partition: int32(i), Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch}
			if err := pr.validate(); err != nil {
				return nil, fmt.Errorf("snapshot: %w", err)
			}
		}
	}
	return im, nil
}
