package broker

// Remote record sets without copies.
//
// A remote read (tiering) returns its batches as tiering.Records: slices of the cached
// chunks they lie in, never copied (the chunk cache never modifies or recycles a chunk, so
// a slice stays valid for as long as a response refers to it). fillFetch marks them in
// RecordBatches (recordBufs.markBufs) and the connection's worker writes them with the
// rest of the response in one vectored write (writev) on plain TCP, or through a buffered
// writer on TLS (sendfile.go). A response built outside a connection worker (no
// recordBufs) gets the bytes copied into RecordBatches. Before this, a cold 8 MiB fetch
// copied every byte twice (chunks into a fresh buffer, then into the encoded response).

import (
	"context"
	"time"

	"github.com/strata-io/strata/tiering"
)

// readTierRecords reads from t without copying when it can (tiering.RecordsReader), and
// wraps a plain Read otherwise.
func readTierRecords(ctx context.Context, t tiering.PartitionTier, offset int64, maxBytes int, minOneBatch bool) (tiering.Records, error) {
	if rr, ok := t.(tiering.RecordsReader); ok {
		return rr.ReadRecords(ctx, offset, maxBytes, minOneBatch)
	}
	b, err := t.Read(ctx, offset, maxBytes, minOneBatch)
	if err != nil {
		return tiering.Records{}, err
	}
	return tiering.RecordsOf(b), nil
}

// recordBytes returns the bytes of r in one slice: its only slice, or a copy.
func recordBytes(r tiering.Records) []byte {
	if len(r.Bufs) == 1 {
		return r.Bufs[0]
	}
	return r.AppendTo(make([]byte, 0, r.Len()))
}

// startRemoteReadLocked starts a background read of t at offset (bounded by
// remoteReadTimeout, cancelled by stopRemote) and makes it the partition's pending read.
// p.remoteMu must be held and p not closed.
func (p *Partition) startRemoteReadLocked(t tiering.PartitionTier, offset int64, maxBytes int, minOneBatch bool) *remoteRead {
	rctx, cancel := context.WithTimeout(context.Background(), remoteReadTimeout)
	r := &remoteRead{offset: offset, done: make(chan struct{}), cancel: cancel}
	p.remotePending = r
	if p.remoteInflight == nil {
		p.remoteInflight = make(map[*remoteRead]struct{})
	}
	p.remoteInflight[r] = struct{}{}
	p.remoteWG.Add(1)
	go func() {
		defer p.remoteWG.Done()
		defer cancel()
		r.data, r.err = readTierRecords(rctx, t, offset, maxBytes, minOneBatch)
		r.finished = time.Now()
		if r.err != nil {
			n := min(p.remoteFails.Add(1), 8)
			r.hold = min(remoteErrorHoldMin<<(n-1), remoteErrorHoldMax)
		} else {
			p.remoteFails.Store(0)
		}
		close(r.done)
		p.remoteMu.Lock()
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
// replaces it; the memory it holds is one read of remote records per partition, most of
// it chunks that read-ahead put in the cache anyway. Nothing is started past the remote
// end (those offsets are local), for a failed read, or on a closed partition.
// p.remoteMu must be held.
func (p *Partition) readNextRemoteLocked(t tiering.PartitionTier, r *remoteRead, maxBytes int, minOneBatch bool) {
	next := r.data.Next
	if r.err != nil || next <= r.offset || p.closed.Load() {
		return
	}
	if _, end, ok := t.Bounds(); !ok || next >= end {
		return
	}
	p.startRemoteReadLocked(t, next, maxBytes, minOneBatch)
}
