package partition

// Transactions on a partition (KIP-98): control batches, the last stable offset and the
// aborted-transaction index.
//
// A transactional batch opens its producer's transaction on the partition (the producer
// state remembers its first offset, broker/producer/txn.go); the transaction coordinator
// closes it with a control batch (WriteTxnMarker): one record whose key is (version 0,
// type 0 ABORT / 1 COMMIT) and whose value is (version 0, coordinator epoch), Kafka's
// layout. The last stable offset (LSO) is the smallest first offset of the open
// transactions, or the high watermark when none is open; read_committed fetches read
// only below it.
//
// # Aborted-transaction index (<partition dir>/aborted.txnindex)
//
// One file per partition, Kafka's .txnindex entry format, in marker order:
//
//	34-byte entries: 2 version (0), 8 producer id, 8 first offset, 8 last offset (the
//	ABORT marker's offset), 8 last stable offset (the LSO once the abort completed)
//
// An entry is written and fsynced when an ABORT marker is appended for a producer that
// had data in its transaction, under the partition lock, before the next producer
// snapshot can cover the marker; so at open the file holds every abort marker below the
// snapshot's offset, and the replay of the batches after the snapshot adds the rest (an
// entry already present, by last offset, is not added twice). Entries past the log end
// (a torn tail) are dropped at open. Retention removes the entries whose marker is below
// the local log start: a tiered partition deletes a segment locally only once it is
// uploaded, and the upload copies the segment's entries into its manifest entry
// (tiering/txnindex.go), where AbortedTxns finds them for remote reads. A torn entry at
// the end is cut.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// TxnIndexFile is the name of the aborted-transaction index in a partition directory.
const TxnIndexFile = "aborted.txnindex"

const txnEntryLen = 34

// AbortedTxn is one aborted transaction of a partition: its producer, its first offset
// and the offset of its ABORT marker (LastOffset).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// txnIndex is the partition's aborted-transaction index (guarded by its mu; the writer
// also holds the partition's mu).
type txnIndex struct {
	fs   segment.FS
	path string

	mu      sync.Mutex
	entries []AbortedTxn // by LastOffset
	f       segment.File // open for appends; nil until the first entry
	size    int64
	state   *producer.State // the producer state whose open transactions bound the LSO
}

func encodeTxnEntry(b []byte, e AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(e.LastStableOffset))
}

// DecodeTxnIndex decodes index bytes (a torn last entry is ignored).
func DecodeTxnIndex(b []byte) []AbortedTxn {
	var out []AbortedTxn
	for ; len(b) >= txnEntryLen; b = b[txnEntryLen:] {
		out = append(out, AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		})
	}
	return out
}

// openTxnIndex loads the aborted-transaction index of a partition just opened, dropping
// entries at or past the log end.
func (p *Partition) openTxnIndex(fsys segment.FS) {
	if fsys == nil {
		fsys = segment.OSFS{}
	}
	x := &p.txn
	x.fs, x.path = fsys, filepath.Join(p.dir, TxnIndexFile)
	b, err := segment.ReadFile(fsys, x.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			p.logger.Warn("cannot read aborted transaction index; rebuilding from the log", "err", err)
		}
		return
	}
	all := DecodeTxnIndex(b)
	hw := p.log.NextOffset()
	keep := all[:0]
	for _, e := range all {
		if e.LastOffset < hw {
			keep = append(keep, e)
		}
	}
	sort.SliceStable(keep, func(i, j int) bool { return keep[i].LastOffset < keep[j].LastOffset })
	x.entries = keep
	if len(keep)*txnEntryLen != len(b) {
		if err := x.rewriteLocked(); err != nil {
			p.logger.Warn("cannot rewrite aborted transaction index", "err", err)
		}
	}
}

// rewriteLocked replaces the file with the entries in memory (atomically).
func (x *txnIndex) rewriteLocked() error {
	if x.f != nil {
		x.f.Close()
		x.f = nil
	}
	var b []byte
	for _, e := range x.entries {
		b = encodeTxnEntry(b, e)
	}
	if len(b) == 0 {
		if err := x.fs.Remove(x.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		x.size = 0
		return nil
	}
	if err := segment.WriteFileAtomic(x.fs, x.path, b, 0o644); err != nil {
		return err
	}
	x.size = int64(len(b))
	return nil
}

// addLocked records an aborted transaction unless one with its marker offset is known;
// persist makes it durable in the file.
func (x *txnIndex) addLocked(e AbortedTxn) error {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].LastOffset >= e.LastOffset })
	if i < len(x.entries) && x.entries[i].LastOffset == e.LastOffset {
		return nil
	}
	x.entries = append(x.entries, AbortedTxn{})
	copy(x.entries[i+1:], x.entries[i:])
	x.entries[i] = e
	if x.f == nil {
		f, err := x.fs.OpenFile(x.path, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("cannot open %q: %w", x.path, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("cannot stat %q: %w", x.path, err)
		}
		x.f, x.size = f, st.Size()/txnEntryLen*txnEntryLen
	}
	b := encodeTxnEntry(nil, e)
	if _, err := x.f.WriteAt(b, x.size); err != nil {
		return fmt.Errorf("cannot write %q: %w", x.path, err)
	}
	x.size += int64(len(b))
	if err := x.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %q: %w", x.path, err)
	}
	return nil
}

// trimLocked drops the entries whose marker is below start.
func (x *txnIndex) trimLocked(start int64) error {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].LastOffset >= start })
	if i == 0 {
		return nil
	}
	x.entries = append([]AbortedTxn(nil), x.entries[i:]...)
	return x.rewriteLocked()
}

func (x *txnIndex) close() {
	x.mu.Lock()
	if x.f != nil {
		x.f.Close()
		x.f = nil
	}
	x.mu.Unlock()
}

// setTxnState tells the index which producer state bounds the LSO.
func (p *Partition) setTxnState(st *producer.State) {
	p.txn.mu.Lock()
	p.txn.state = st
	p.txn.mu.Unlock()
}

// LastStableOffset is the first offset of the oldest open transaction, or the high
// watermark when no transaction is open: read_committed consumers read below it. As in
// Kafka, it is never below the log start (retention or DeleteRecords may remove the
// start of an open transaction).
func (p *Partition) LastStableOffset() int64 {
	hw := p.log.NextOffset()
	p.txn.mu.Lock()
	st := p.txn.state
	p.txn.mu.Unlock()
	if st != nil {
		if first, ok := st.FirstUnstableOffset(); ok && first < hw {
			return max(first, p.LogStartOffset())
		}
	}
	return hw
}

// AbortedTxns returns the aborted transactions that may have data in [from, upper): those
// whose marker is at or after from and whose first offset is below upper, as Kafka's
// fetch collects them (the scan ends at the first entry whose LSO reached upper: every
// transaction started below upper ended before it). Markers below the local log start
// come from the remote tier's manifest (tiering/txnindex.go), the others from the local
// index.
func (p *Partition) AbortedTxns(from, upper int64) []AbortedTxn {
	var out []AbortedTxn
	localStart := p.log.LogStartOffset()
	if t := p.getTier(); t != nil && from < localStart {
		var done bool
		if out, done = remoteAbortedTxns(t.Entries(), from, upper, localStart); done {
			return out
		}
	}
	x := &p.txn
	x.mu.Lock()
	defer x.mu.Unlock()
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].LastOffset >= max(from, localStart) })
	for ; i < len(x.entries); i++ {
		e := x.entries[i]
		if e.FirstOffset < upper {
			out = append(out, e)
		}
		if e.LastStableOffset >= upper {
			break
		}
	}
	return out
}

// remoteAbortedTxns collects AbortedTxns' answer from the manifest entries whose markers
// are below localStart; done reports that the scan ended there.
func remoteAbortedTxns(es []tiering.SegmentEntry, from, upper, localStart int64) (out []AbortedTxn, done bool) {
	i := sort.Search(len(es), func(i int) bool { return es[i].LastOffset >= from })
	for ; i < len(es) && es[i].BaseOffset < localStart; i++ {
		if es[i].AbortedTxns == nil {
			continue
		}
		for _, a := range *es[i].AbortedTxns {
			if a.LastOffset < from || a.LastOffset >= localStart {
				continue
			}
			if a.FirstOffset < upper {
				out = append(out, AbortedTxn(a))
			}
			if a.LastStableOffset >= upper {
				return out, true
			}
		}
	}
	return out, false
}

// OpenTxns returns the transactions open on the partition (DescribeProducers).
func (p *Partition) OpenTxns() []producer.OpenTxn {
	p.txn.mu.Lock()
	st := p.txn.state
	p.txn.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.OpenTxns()
}

// Producers returns the state of the partition's active producers (DescribeProducers).
func (p *Partition) Producers() []producer.Entry {
	p.txn.mu.Lock()
	st := p.txn.state
	p.txn.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.Entries()
}

// ErrTxnState: a marker was asked for with an epoch older than the producer's on the
// partition.
var ErrTxnState = errors.New("partition: transaction marker for an older producer epoch")

// WriteTxnMarker appends a COMMIT (commit) or ABORT marker closing producer pid's
// transaction at epoch, and returns the offset after it (for WaitDurable). An ABORT of a
// transaction that wrote data here is recorded in the aborted-transaction index (fsynced)
// before WriteTxnMarker returns. A marker for a producer with no open transaction is
// written all the same, as Kafka does (the coordinator retries markers after a crash).
func (p *Partition) WriteTxnMarker(pid int64, epoch int16, commit bool, coordinatorEpoch int32, now time.Time) (int64, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	if now.IsZero() {
		now = time.Now()
	}
	cfg := p.config()
	p.mu.Lock()
	defer p.mu.Unlock()
	st, _ := p.producers.(*producer.State)
	if st != nil {
		if e, ok := st.Entry(pid); ok && e.Epoch > epoch {
			return 0, fmt.Errorf("%w: marker epoch %d, producer %d is at %d", ErrTxnState, epoch, pid, e.Epoch)
		}
	}
	batch := ControlBatch(pid, epoch, commit, coordinatorEpoch, now.UnixMilli())
	if p.activeSize > 0 {
		bySize := cfg.SegmentBytes > 0 && p.activeSize+int64(len(batch)) > cfg.SegmentBytes
		byTime := cfg.SegmentMs > 0 && now.Sub(p.activeCreated) >= time.Duration(cfg.SegmentMs)*time.Millisecond
		if bySize || byTime {
			if err := p.rollLocked(); err != nil {
				return 0, err
			}
		}
	}
	first, inTxn := int64(-1), false
	if st != nil {
		first, inTxn = st.TxnFirstOffset(pid)
	}
	info, err := p.log.Append(batch, segment.AppendOptions{Now: now, LogAppendTime: cfg.LogAppendTime})
	if err != nil {
		return 0, classifyLogError(err)
	}
	if p.activeSize == 0 {
		p.activeCreated = now
	}
	p.activeSize += int64(info.Size)
	if p.producers != nil {
		p.producers.Update(producer.BatchMeta{ProducerID: pid, ProducerEpoch: epoch, FirstSeq: -1, LastSeq: -1,
			FirstOffset: info.BaseOffset, LastOffset: info.LastOffset, MaxTimestamp: info.MaxTimestamp,
			Transactional: true, Control: true}, now)
	}
	var ierr error
	if !commit && inTxn {
		p.txn.mu.Lock()
		ierr = p.txn.addLocked(AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: info.BaseOffset,
			LastStableOffset: p.lsoLocked(info.LastOffset + 1)})
		p.txn.mu.Unlock()
	}
	if t := p.getTier(); t != nil {
		t.NoteLogEnd(info.LastOffset + 1)
	}
	p.notify.broadcast()
	if ierr != nil {
		return 0, fmt.Errorf("%w: %w", ErrStorage, ierr)
	}
	return info.LastOffset + 1, nil
}

// lsoLocked is LastStableOffset for a log ending at hw, with txn.mu held.
func (p *Partition) lsoLocked(hw int64) int64 {
	if p.txn.state != nil {
		if first, ok := p.txn.state.FirstUnstableOffset(); ok && first < hw {
			return first
		}
	}
	return hw
}

// beginTxnLocked opens the transaction of a transactional batch about to be appended at
// next, before the append makes it visible; it returns the undo for a failed append.
func (p *Partition) beginTxnLocked(h segment.BatchHeader, next int64) func() {
	st, ok := p.producers.(*producer.State)
	if !ok || !h.Transactional() || h.ProducerID < 0 {
		return func() {}
	}
	if st.BeginTxn(h.ProducerID, h.ProducerEpoch, next) {
		return func() { st.AbortBegin(h.ProducerID) }
	}
	return func() {}
}

// replayTxnBatch is called by the replay of batch headers at open before the batch is
// applied to st: an ABORT marker of a transaction st has open is added to the index.
func (p *Partition) replayTxnBatch(st *producer.State, h segment.BatchHeader, batch []byte) {
	if !h.Control() || h.ProducerID < 0 {
		return
	}
	commit, ok := MarkerType(batch)
	if !ok || commit {
		return
	}
	first, open := st.TxnFirstOffset(h.ProducerID)
	if !open {
		return
	}
	p.txn.mu.Lock()
	defer p.txn.mu.Unlock()
	lso := h.LastOffset() + 1
	for _, t := range st.OpenTxns() {
		if t.ProducerID != h.ProducerID && t.FirstOffset < lso {
			lso = t.FirstOffset
		}
	}
	if err := p.txn.addLocked(AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.BaseOffset, LastStableOffset: lso}); err != nil {
		p.logger.Warn("cannot write aborted transaction index", "err", err)
	}
}

// trimTxnIndexLocked drops index entries below the local log start (after retention or
// DeleteRecords); those of a tiered partition are in the manifest.
func (p *Partition) trimTxnIndexLocked() {
	p.txn.mu.Lock()
	defer p.txn.mu.Unlock()
	if err := p.txn.trimLocked(p.log.LogStartOffset()); err != nil {
		p.logger.Warn("cannot trim aborted transaction index", "err", err)
	}
}

// ControlBatch encodes a v2 control batch (base offset 0: the log assigns it) holding one
// COMMIT or ABORT marker of producer pid at epoch.
func ControlBatch(pid int64, epoch int16, commit bool, coordinatorEpoch int32, tsMs int64) []byte {
	var rec []byte
	rec = append(rec, 0)                        // attributes
	rec = binary.AppendVarint(rec, 0)           // timestamp delta
	rec = binary.AppendVarint(rec, 0)           // offset delta
	rec = binary.AppendVarint(rec, 4)           // key length
	rec = binary.BigEndian.AppendUint16(rec, 0) // key version
	typ := uint16(0)
	if commit {
		typ = 1
	}
	rec = binary.BigEndian.AppendUint16(rec, typ)
	rec = binary.AppendVarint(rec, 6)           // value length
	rec = binary.BigEndian.AppendUint16(rec, 0) // value version
	rec = binary.BigEndian.AppendUint32(rec, uint32(coordinatorEpoch))
	rec = binary.AppendVarint(rec, 0) // headers
	body := binary.AppendVarint(nil, int64(len(rec)))
	body = append(body, rec...)
	b := make([]byte, segment.BatchHeaderSize, segment.BatchHeaderSize+len(body))
	b = append(b, body...)
	segment.BatchHeader{
		BatchLength:    int32(len(b) - segment.LogOverhead),
		Magic:          2,
		Attributes:     0x30, // transactional | control
		FirstTimestamp: tsMs, MaxTimestamp: tsMs,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1, NumRecords: 1,
	}.Put(b)
	segment.PutBatchCRC(b)
	return b
}

// MarkerType decodes the marker type of a control batch: commit true for COMMIT, false
// for ABORT; ok false when the batch holds no readable marker.
func MarkerType(batch []byte) (commit, ok bool) {
	if len(batch) < segment.BatchHeaderSize+1 {
		return false, false
	}
	b := batch[segment.BatchHeaderSize:]
	if h, _ := segment.DecodeBatchHeader(batch); h.Codec() != 0 {
		return false, false // control batches are never compressed
	}
	var n int
	read := func() int64 {
		v, k := binary.Varint(b)
		if k <= 0 {
			n = -1
			return 0
		}
		b = b[k:]
		return v
	}
	read() // record length
	if len(b) < 1 {
		return false, false
	}
	b = b[1:] // attributes
	read()    // timestamp delta
	read()    // offset delta
	kl := read()
	if n < 0 || kl < 4 || int64(len(b)) < kl {
		return false, false
	}
	switch binary.BigEndian.Uint16(b[2:4]) {
	case 0:
		return false, true
	case 1:
		return true, true
	}
	return false, false
}
