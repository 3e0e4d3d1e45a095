package partition

import (
	"slices"
	"sort"
	"time"

	"github.com/strata-io/strata/segment"
)

// Transactions and compaction (Kafka's LogCleaner rules, KIP-98 and KIP-534):
//
//   - The cleaner works below the last stable offset only (cleanableLocked), so every
//     transaction it sees is decided: aborted when the aborted-transaction index has an
//     entry of its producer whose [FirstOffset, LastOffset] holds the batch, committed
//     otherwise.
//   - Aborted data is never put in the key map and is removed; committed transactional
//     records take part in the key map like any other record (the latest committed value
//     of a key wins, an aborted later value does not hide it).
//   - A control batch (COMMIT or ABORT marker) stays while any batch of its transaction
//     is in the log. The first clean that finds none stamps the marker with a delete
//     horizon (attribute bit 6 set, first timestamp = clean time + delete.retention.ms,
//     Kafka's on-disk format); a later clean past that time removes it. A consumer that
//     read the transaction's data before it went thus has delete.retention.ms to read the
//     marker. A marker is removed only below the newest producer snapshot, so that the
//     producer state rebuilt at open never replays an open transaction whose end is gone.
//   - The aborted-transaction index entry of a transaction with no batch left is dropped
//     (before the segments are swapped: its data is already gone from the log read), so
//     that a read_committed consumer never holds an abort whose marker may disappear. An
//     aborted transaction that started below the local log start keeps its entry and its
//     marker: its data may still be read from the bucket (a tiered partition keeps the
//     history), and the reader needs the marker that ends it.
//   - The last batch of an idempotent or transactional producer is kept, empty if need be
//     (lastOfProducer), as before; other batches left empty go.

// attrDeleteHorizon is the batch attribute bit saying that the first timestamp is the
// delete horizon of the batch's markers (KIP-534).
const attrDeleteHorizon = 0x40

// abortedSet answers whether a transactional batch of a producer belongs to an aborted
// transaction, from a copy of the aborted-transaction index.
type abortedSet map[int64][]AbortedTxn // by producer, ascending FirstOffset

func (p *Partition) abortedTxnSet() abortedSet {
	p.txn.mu.Lock()
	defer p.txn.mu.Unlock()
	s := abortedSet{}
	for _, e := range p.txn.entries {
		s[e.ProducerID] = append(s[e.ProducerID], e)
	}
	for _, es := range s {
		sort.Slice(es, func(i, j int) bool { return es[i].FirstOffset < es[j].FirstOffset })
	}
	return s
}

// aborted reports whether the transactional batch h is data of an aborted transaction.
func (s abortedSet) aborted(h segment.BatchHeader) bool {
	if !h.Transactional() || h.Control() {
		return false
	}
	es := s[h.ProducerID]
	i := sort.Search(len(es), func(i int) bool { return es[i].FirstOffset > h.BaseOffset })
	return i > 0 && h.BaseOffset <= es[i-1].LastOffset
}

// txnCleanState follows the transactions during one rewrite of the log from its start:
// which producers have a batch of their current transaction in the log.
type txnCleanState struct {
	aborted  abortedSet
	hasData  map[int64]uint8 // producer -> dataRead | dataKept for its current transaction
	drop     map[int64]bool  // marker offsets of aborted transactions whose index entry goes
	snapshot int64           // markers at or above it are kept (the newest producer snapshot)
	logStart int64           // the local log start when the clean began
	markers  int64           // markers removed
}

func newTxnCleanState(aborted abortedSet, snapshot, logStart int64) *txnCleanState {
	return &txnCleanState{aborted: aborted, hasData: map[int64]uint8{}, drop: map[int64]bool{}, snapshot: snapshot, logStart: logStart}
}

// entry returns the index entry of the ABORT marker at off of producer pid.
func (s abortedSet) entry(pid, off int64) (AbortedTxn, bool) {
	es := s[pid]
	i := sort.Search(len(es), func(i int) bool { return es[i].FirstOffset > off })
	if i > 0 && es[i-1].LastOffset == off {
		return es[i-1], true
	}
	return AbortedTxn{}, false
}

// dataBatch notes a transactional data batch read (kept or not: Kafka counts it).
func (t *txnCleanState) dataBatch(h segment.BatchHeader) {
	if h.Transactional() && !h.Control() && h.ProducerID >= 0 {
		t.hasData[h.ProducerID] |= dataRead
	}
}

// dataKept notes that the transactional data batch h is kept by this clean.
func (t *txnCleanState) dataKept(h segment.BatchHeader) {
	if h.Transactional() && !h.Control() && h.ProducerID >= 0 {
		t.hasData[h.ProducerID] |= dataKept
	}
}

const (
	dataRead = 1 << iota // a batch of the transaction was read
	dataKept             // and one was kept
)

// markerAction is what the cleaner does with a control batch.
type markerAction int

const (
	markerKeep    markerAction = iota // as it is
	markerStamp                       // rewritten with a delete horizon
	markerDiscard                     // removed
)

// controlBatch decides on the control batch h/b read at time now; due is when the next
// clean should look at the marker again (-1: not before its transaction's data goes).
func (t *txnCleanState) controlBatch(h segment.BatchHeader, b []byte, now time.Time, retentionMs int64) (markerAction, int64) {
	pid := h.ProducerID
	data := t.hasData[pid]
	delete(t.hasData, pid)
	if data&dataKept != 0 {
		return markerKeep, -1
	}
	if data != 0 {
		// This clean removed the transaction's last batches: the next one stamps the
		// marker (Kafka's second pass); it is due now.
		return markerKeep, now.UnixMilli()
	}
	if commit, ok := MarkerType(b); ok && !commit {
		if e, ok := t.aborted.entry(pid, h.BaseOffset); ok && e.FirstOffset < t.logStart {
			// Data of the transaction may be below the local log start (in the bucket
			// of a tiered partition, which keeps the history): a read_committed consumer
			// reading it needs the entry and the marker that ends it.
			return markerKeep, -1
		}
		t.drop[h.BaseOffset] = true
	}
	if h.Attributes&attrDeleteHorizon == 0 {
		return markerStamp, now.UnixMilli() + retentionMs
	}
	if h.FirstTimestamp <= now.UnixMilli() && h.LastOffset() < t.snapshot {
		t.markers++
		return markerDiscard, -1
	}
	return markerKeep, h.FirstTimestamp
}

// stampMarker returns a copy of the control batch b with the delete horizon horizonMs.
func stampMarker(h segment.BatchHeader, b []byte, horizonMs int64) []byte {
	out := slices.Clone(b)
	nh := h
	nh.Attributes |= attrDeleteHorizon
	nh.FirstTimestamp = horizonMs
	nh.Put(out)
	segment.PutBatchCRC(out)
	return out
}

// dropTxnEntries removes the index entries whose marker offsets are in drop.
func (p *Partition) dropTxnEntries(drop map[int64]bool) error {
	if len(drop) == 0 {
		return nil
	}
	x := &p.txn
	x.mu.Lock()
	defer x.mu.Unlock()
	keep := x.entries[:0:0]
	for _, e := range x.entries {
		if !drop[e.LastOffset] {
			keep = append(keep, e)
		}
	}
	if len(keep) == len(x.entries) {
		return nil
	}
	x.entries = keep
	if x.fs == nil {
		return nil
	}
	return x.rewriteLocked()
}

// snapshotOffset is the offset of the newest producer snapshot the partition saved or
// loaded at open (0: none known).
func (p *Partition) snapshotOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prod == nil {
		return 0
	}
	return max(p.prod.saved, p.prod.loaded, 0)
}
