package producer

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sentinel errors returned by State.Check. Each wraps the Kafka error the broker sends for
// the partition, so the broker's error mapping can use errors.As(err, new(*kerr.Error)).
var (
	ErrOutOfOrderSequence = fmt.Errorf("producer: out of order sequence: %w", kerr.OutOfOrderSequenceNumber)
	ErrInvalidEpoch       = fmt.Errorf("producer: fenced by a newer producer epoch: %w", kerr.InvalidProducerEpoch)
	ErrUnknownProducerID  = fmt.Errorf("producer: unknown producer id: %w", kerr.UnknownProducerID)
	ErrInvalidSequence    = errors.New("producer: invalid sequence range")
)

// MaxCachedBatches is how many of a producer's latest batches a partition remembers for
// duplicate detection. Kafka clients keep at most 5 requests in flight per partition when
// idempotence is on, so 5 is enough to answer every retry.
const MaxCachedBatches = 5

// NoSequence is the base sequence of batches written without idempotence (and of control batches).
const NoSequence int32 = -1

// BatchMeta is what the log remembers about one idempotent batch.
type BatchMeta struct {
	ProducerID    int64
	ProducerEpoch int16
	FirstSeq      int32
	LastSeq       int32
	FirstOffset   int64
	LastOffset    int64
	MaxTimestamp  int64
	// Transactional and Control are the batch's attributes: a transactional batch opens
	// the producer's transaction on the partition (if none is open), a control batch (a
	// COMMIT/ABORT marker) closes it (txn.go).
	Transactional bool
	Control       bool
}

// Entry is the state of one producer on one partition.
type Entry struct {
	ProducerID int64
	Epoch      int16
	// Batches are the latest batches of the current epoch, oldest first, at most MaxCachedBatches.
	Batches []BatchMeta
	// LastSeen is the wall-clock time of the producer's last append (unix ms); used for expiry.
	LastSeen int64
	// InTxn: the producer has a transaction open on the partition, whose first batch
	// starts at TxnFirstOffset (the partition's last stable offset cannot pass it).
	InTxn          bool
	TxnFirstOffset int64
}

// LastSeq returns the last sequence written by the current epoch, or NoSequence.
func (e *Entry) LastSeq() int32 {
	if len(e.Batches) == 0 {
		return NoSequence
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

// LastOffset returns the last offset written by the producer, or -1.
func (e *Entry) LastOffset() int64 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastOffset
}

// StateConfig configures a partition's producer state. The zero value is usable.
type StateConfig struct {
	// IDExpiration is producer.id.expiration.ms: a producer idle this long is forgotten by
	// Expire. Default 24h.
	IDExpiration time.Duration
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// State is the idempotent-producer state of one partition. It is safe for concurrent use,
// but the broker must call Check and Update for one partition under the partition's append
// lock (the check-append-update sequence must be atomic).
type State struct {
	cfg StateConfig

	mu        sync.Mutex
	producers map[int64]*Entry
	// removed remembers producers whose state was dropped by retention or expiry (pid ->
	// removal time, unix ms): such a producer may continue at any sequence, as in Kafka.
	removed map[int64]int64
	// incomplete: the state could not be rebuilt from the whole history (MarkIncomplete),
	// so a producer not seen yet may have written before; it may continue at any sequence.
	incomplete bool
	// open is the producers with InTxn set (txn.go), so that the last stable offset is
	// found without a walk over every producer.
	open map[int64]*Entry
}

// MarkIncomplete tells the state that it was not rebuilt from all of the partition's
// history (for example the partition was restored from the bucket, or the snapshot was
// lost and the local log no longer starts at the producers' first batches). Producers it
// does not know may then continue at any sequence instead of getting UNKNOWN_PRODUCER_ID.
func (s *State) MarkIncomplete() {
	s.mu.Lock()
	s.incomplete = true
	s.mu.Unlock()
}

// NewState returns an empty producer state.
func NewState(cfg StateConfig) *State {
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &State{cfg: cfg, producers: make(map[int64]*Entry), removed: make(map[int64]int64), open: make(map[int64]*Entry)}
}

// LastSeq computes the last sequence of a batch of n records starting at baseSeq, wrapping
// at MaxInt32 as Kafka does.
func LastSeq(baseSeq int32, n int32) int32 {
	if n <= 0 {
		return baseSeq
	}
	last := int64(baseSeq) + int64(n) - 1
	if last > math.MaxInt32 {
		last -= math.MaxInt32 + 1
	}
	return int32(last)
}

// inSequence reports whether next follows last, wrapping at MaxInt32.
func inSequence(last, next int32) bool {
	return next == last+1 || (last == math.MaxInt32 && next == 0)
}

// Check validates an incoming batch of producer pid at epoch with sequences
// [baseSeq, lastSeq] against the partition state. It returns:
//   - dup != nil, err == nil: the batch was already written; reply success with dup's
//     offsets and write nothing;
//   - ErrInvalidEpoch: epoch is older than the producer's current epoch (fenced);
//   - ErrOutOfOrderSequence: the sequence does not follow the last written one (or a new
//     epoch does not start at 0);
//   - ErrUnknownProducerID: the partition has never seen pid and baseSeq is not 0 (unless
//     the producer's state was removed by retention or expiry, then any sequence is taken);
//   - nil, nil: append the batch, then call Update.
//
// Batches without a producer id (pid < 0) always pass.
func (s *State) Check(pid int64, epoch int16, baseSeq, lastSeq int32) (*BatchMeta, error) {
	if pid < 0 {
		return nil, nil
	}
	if baseSeq < 0 || lastSeq < 0 {
		return nil, ErrOutOfOrderSequence
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.producers[pid]
	if !ok {
		if baseSeq == 0 {
			return nil, nil
		}
		if _, wasRemoved := s.removed[pid]; wasRemoved || s.incomplete {
			return nil, nil
		}
		return nil, ErrUnknownProducerID
	}
	if epoch == e.Epoch {
		for i := range e.Batches {
			b := &e.Batches[i]
			if b.FirstSeq == baseSeq && b.LastSeq == lastSeq {
				dup := *b
				return &dup, nil
			}
		}
	}
	if epoch < e.Epoch {
		return nil, ErrInvalidEpoch
	}
	if epoch > e.Epoch {
		if baseSeq != 0 {
			return nil, ErrOutOfOrderSequence
		}
		return nil, nil
	}
	last := e.LastSeq()
	if last == NoSequence {
		// The epoch's batches were all dropped (e.g. state rebuilt from a snapshot taken
		// after retention trimmed them): accept any sequence, as Kafka does.
		return nil, nil
	}
	if !inSequence(last, baseSeq) {
		return nil, ErrOutOfOrderSequence
	}
	return nil, nil
}

// Update records a batch that was appended after Check passed. now is the wall-clock
// time of the append (zero = the state's clock).
func (s *State) Update(b BatchMeta, now time.Time) {
	if now.IsZero() {
		now = s.cfg.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyLocked(b, now.UnixMilli())
}

// ApplyBatch replays the header of a batch found in the log after the latest snapshot
// (recovery). It performs no checks. Control batches and batches without a producer id
// or sequence only refresh the epoch. LastSeq is recomputed from FirstSeq and the batch's
// offset span (one sequence number per record, wrapping at MaxInt32 as LastSeq does), so
// a caller that added lastOffsetDelta to the base sequence without wrapping is corrected.
func (s *State) ApplyBatch(b BatchMeta) {
	if b.FirstSeq >= 0 && b.LastOffset >= b.FirstOffset && b.LastOffset-b.FirstOffset < math.MaxInt32 {
		b.LastSeq = LastSeq(b.FirstSeq, int32(b.LastOffset-b.FirstOffset)+1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyLocked(b, s.cfg.Now().UnixMilli())
}

func (s *State) applyLocked(b BatchMeta, nowMs int64) {
	if b.ProducerID < 0 {
		return
	}
	delete(s.removed, b.ProducerID)
	e, ok := s.producers[b.ProducerID]
	if !ok {
		e = &Entry{ProducerID: b.ProducerID, Epoch: b.ProducerEpoch}
		s.producers[b.ProducerID] = e
	}
	if b.ProducerEpoch > e.Epoch {
		e.Epoch = b.ProducerEpoch
		e.Batches = e.Batches[:0]
	}
	e.LastSeen = nowMs
	s.applyTxnLocked(e, b) // txn.go
	if b.FirstSeq < 0 {
		return
	}
	if len(e.Batches) == MaxCachedBatches {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:MaxCachedBatches-1]
	}
	e.Batches = append(e.Batches, b)
}

// Entry returns a copy of pid's state.
func (s *State) Entry(pid int64) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.producers[pid]
	if !ok {
		return Entry{}, false
	}
	c := *e
	c.Batches = append([]BatchMeta(nil), e.Batches...)
	return c, true
}

// Len returns the number of producers tracked.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.producers)
}

// Expire forgets producers idle for longer than producer.id.expiration.ms and returns how
// many it removed. The broker calls it periodically (Kafka: every 10 minutes).
func (s *State) Expire() int {
	now := s.cfg.Now().UnixMilli()
	limit := s.cfg.IDExpiration.Milliseconds()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for pid, e := range s.producers {
		if now-e.LastSeen >= limit && !e.InTxn {
			delete(s.producers, pid)
			s.removed[pid] = now
			n++
		}
	}
	for pid, at := range s.removed {
		if now-at >= limit {
			delete(s.removed, pid)
		}
	}
	return n
}

// TruncateBefore applies a new log start offset (retention, DeleteRecords): batches below
// it are dropped, and producers left without batches are forgotten (and then may continue
// at any sequence).
func (s *State) TruncateBefore(logStartOffset int64) {
	now := s.cfg.Now().UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, e := range s.producers {
		if e.LastOffset() >= logStartOffset || e.InTxn {
			continue
		}
		delete(s.producers, pid)
		s.removed[pid] = now
	}
}

// TruncateAfter drops batches at or after offset (the log was truncated there, e.g. torn
// tail on recovery before ApplyBatch replay). Producers left with nothing are removed.
func (s *State) TruncateAfter(offset int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, e := range s.producers {
		keep := e.Batches[:0]
		for _, b := range e.Batches {
			if b.LastOffset < offset {
				keep = append(keep, b)
			}
		}
		e.Batches = keep
		if e.InTxn && e.TxnFirstOffset >= offset {
			s.setTxnLocked(e, false, 0)
		}
		if len(keep) == 0 && !e.InTxn {
			delete(s.producers, pid)
		}
	}
}

// entriesLocked returns the producers sorted by id (deterministic snapshots).
func (s *State) entriesLocked() []*Entry {
	out := make([]*Entry, 0, len(s.producers))
	for _, e := range s.producers {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}
