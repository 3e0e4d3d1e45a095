package broker

// Remote record sets without copies.
//
// A remote read (tiering) returns its batches as tiering.Records: slices of the cached
// chunks they lie in, never copied (the chunk cache never modifies or recycles a chunk, so
// a slice stays valid for as long as a response refers to it). fillFetch marks them in
// RecordBatches (recordBufs.mark, a recordSection of the slices) and the connection's
// worker writes them with the rest of the response in one vectored write (writev) on
// plain TCP, or through a buffered writer on TLS (sendfile.go). A response built outside
// a connection worker (no recordBufs) gets them in RecordBatches as one slice
// (recordBytes: the only slice, read-only and capped at its length, or a copy of
// several). Before this, a cold 8 MiB fetch
// copied every byte twice (chunks into a fresh buffer, then into the encoded response).

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/tiering"
)

// readTierRecords reads from t without copying when it can (tiering.RecordsReader), and
// wraps a plain Read otherwise. A tier that counts fetches (tiering.FetchCounter) is told
// not to count the read: it may be an early read no fetch takes, or a read whose fetch
// stopped waiting; fillFetch counts the records it sends (countTierFetch).
func readTierRecords(ctx context.Context, t tiering.PartitionTier, offset int64, maxBytes int, minOneBatch bool) (tiering.Records, error) {
	if rr, ok := t.(tiering.RecordsReader); ok {
		if _, ok := t.(tiering.FetchCounter); ok {
			ctx = tiering.CountLater(ctx)
		}
		return rr.ReadRecords(ctx, offset, maxBytes, minOneBatch)
	}
	b, err := t.Read(ctx, offset, maxBytes, minOneBatch)
	if err != nil {
		return tiering.Records{}, err
	}
	return tiering.RecordsOf(b), nil
}

// countTierFetch counts n record bytes sent from t in the tier's remote fetch metrics.
func countTierFetch(t tiering.PartitionTier, n int) {
	if fc, ok := t.(tiering.FetchCounter); ok {
		fc.CountFetch(n)
	}
}

// recordBytes returns the bytes of r in one slice: its only slice, or a copy.
func recordBytes(r tiering.Records) []byte {
	if len(r.Bufs) == 1 {
		return r.Bufs[0]
	}
	return r.AppendTo(make([]byte, 0, r.Len()))
}

// Early reads and the memory of pending reads. A finished read keeps its records (and so
// the whole cached chunks they lie in, even once the cache has evicted them) for as long
// as it is the partition's pending read. So that a consumer that goes away (closed
// connection, rebalance, crash) does not leave them held for the life of the partition:
//   - a finished read that no fetch takes within remoteReadKeep is dropped (its goroutine
//     waits for that, or for the read to be taken or replaced, or for close);
//   - early reads, which no client asked for yet, are charged to a broker-wide budget
//     (earlyReadBudget: their size plus two chunks they may pin at their ends) and are
//     not started when it is spent, except one when nothing else is charged; the charge
//     is released when the read is taken, replaced, dropped, fails or the partition
//     closes.
const (
	remoteReadKeep  = 10 * time.Second
	earlyReadBudget = 128 << 20
)

// earlyReads is the broker-wide charge of early reads still pending.
type earlyReads struct {
	held atomic.Int64
}

// reserve charges n bytes if they fit in earlyReadBudget (or nothing is charged).
func (e *earlyReads) reserve(n int64) bool {
	for {
		h := e.held.Load()
		if h > 0 && h+n > earlyReadBudget {
			return false
		}
		if e.held.CompareAndSwap(h, h+n) {
			return true
		}
	}
}

// leftLocked notes that r is no longer the pending read (taken by a fetch, or replaced):
// its goroutine stops keeping it and its early-read charge is released. p.remoteMu must
// be held.
func (p *Partition) leftLocked(r *remoteRead) {
	select {
	case <-r.left:
	default:
		close(r.left)
	}
	p.releaseLocked(r)
}

// releaseLocked gives r's early-read charge back. p.remoteMu must be held.
func (p *Partition) releaseLocked(r *remoteRead) {
	if r.charge > 0 {
		p.early.held.Add(-r.charge)
		r.charge = 0
	}
}

// startRemoteReadLocked starts a background read of t at offset (bounded by
// remoteReadTimeout, cancelled by stopRemote) and makes it the partition's pending read,
// replacing the previous one. charge is what the read holds of the early-read budget
// (0: a read a fetch asked for). p.remoteMu must be held and p not closed.
func (p *Partition) startRemoteReadLocked(t tiering.PartitionTier, offset int64, maxBytes int, minOneBatch bool, charge int64) *remoteRead {
	life, cancel := context.WithCancel(context.Background())
	rctx, cancelRead := context.WithTimeout(life, remoteReadTimeout)
	r := &remoteRead{offset: offset, done: make(chan struct{}), cancel: cancel, left: make(chan struct{}),
		early: charge > 0, charge: charge}
	if old := p.remotePending; old != nil {
		p.leftLocked(old) // a fetch that joined it still gets its records
	}
	p.remotePending = r
	if p.remoteInflight == nil {
		p.remoteInflight = make(map[*remoteRead]struct{})
	}
	p.remoteInflight[r] = struct{}{}
	p.remoteWG.Add(1)
	go func() {
		defer p.remoteWG.Done()
		defer cancel()
		ctx := rctx
		if !r.early {
			// A fetch is waiting: answer with the chunks already cached (at least one
			// batch) rather than wait for all the GETs; the early read of the next
			// offset, started once the fetch takes this one, waits for the rest.
			ctx = tiering.ReadyOnly(rctx)
		}
		r.data, r.err = readTierRecords(ctx, t, offset, maxBytes, minOneBatch)
		cancelRead()
		r.finished = time.Now()
		if r.err != nil {
			n := min(p.remoteFails.Add(1), 8)
			r.hold = min(remoteErrorHoldMin<<(n-1), remoteErrorHoldMax)
		} else {
			p.remoteFails.Store(0)
		}
		close(r.done)
		if r.err == nil {
			// Keep the records for the fetch that will take them, for a while.
			keep := time.NewTimer(remoteReadKeep)
			select {
			case <-r.left:
			case <-keep.C:
			case <-life.Done(): // stopRemote
			}
			keep.Stop()
		}
		p.remoteMu.Lock()
		if r.err == nil && p.remotePending == r {
			p.remotePending = nil // nobody took it: drop its records
		}
		p.releaseLocked(r) // a failed read holds no records; it stays pending for its hold
		delete(p.remoteInflight, r)
		p.remoteMu.Unlock()
	}()
	return r
}

// readNextRemoteLocked starts, once a fetch has taken the records of read r, the read a
// sequential consumer asks for next: from the offset after them, of the same size. A
// single consumer keeps one fetch in flight, so without it the broker's read (chunk
// waits, CRC checks) and the client's decoding of the previous response ran one after
// the other; now they overlap, and the next fetch finds its records ready (readRemote
// joins a pending read at the same offset). A consumer that asks for another offset
// replaces it. Nothing is started at or past the local log start (fillFetch reads those
// offsets locally, even when they are in the bucket too) or the remote end, for a failed
// read, on a closed partition, or when the early-read budget is spent (see above).
// p.remoteMu must be held.
func (p *Partition) readNextRemoteLocked(t tiering.PartitionTier, r *remoteRead, maxBytes int, minOneBatch bool) {
	next := r.data.Next
	if r.err != nil || next <= r.offset || p.closed.Load() || next >= p.LocalLogStartOffset() {
		return
	}
	if _, end, ok := t.Bounds(); !ok || next >= end {
		return
	}
	charge := int64(max(maxBytes, 1)) + max(p.earlyPin, 0)
	if !p.early.reserve(charge) {
		return
	}
	p.startRemoteReadLocked(t, next, maxBytes, minOneBatch, charge)
}
