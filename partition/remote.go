package partition

// Remote reads: background reads of the tier that a fetch waits for a bounded time, and
// early reads ahead of a sequential consumer (see doc.go, "Reads").

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Remote reads. A fetch waits at most RemoteFetchMaxWait (Kafka's remote.fetch.max.wait.ms
// default) for a remote read; if the bucket is slower the partition is answered empty,
// the read carries on in the background (bounded by remoteReadTimeout) and the client's
// next fetch at the same offset picks up its result.
const (
	RemoteFetchMaxWait = 500 * time.Millisecond
	remoteReadTimeout  = 30 * time.Second
	// A failed remote read answers fetches at the same offset with its error for a while
	// instead of starting a new read, so consumers retrying against a bucket that is down
	// cost a few GETs per partition per second, not one per fetch. The hold starts at
	// remoteErrorHoldMin and doubles with each consecutive failure of the partition up to
	// remoteErrorHoldMax, so one transient error costs a consumer little.
	remoteErrorHoldMin = 50 * time.Millisecond
	remoteErrorHoldMax = time.Second
)

// remoteRead is one background read from the tier.
type remoteRead struct {
	offset   int64
	done     chan struct{}
	cancel   context.CancelFunc
	left     chan struct{}   // closed once r is no longer the pending read (leftLocked)
	early    bool            // started by readNextRemoteLocked, not asked for by a fetch
	charge   int64           // guarded by remoteMu: bytes charged to the early-read budget, not yet released
	data     tiering.Records // valid after done (aliases the tier's chunk cache: read-only)
	err      error           // valid after done
	finished time.Time       // valid after done
	hold     time.Duration   // valid after done: how long a failure is answered without a new read
}

// heldError reports whether r is a finished, failed read younger than its hold.
func (r *remoteRead) heldError(now time.Time) bool {
	select {
	case <-r.done:
		return r.err != nil && !errors.Is(r.err, segment.ErrOffsetOutOfRange) && now.Sub(r.finished) < r.hold
	default:
		return false
	}
}

// ReadRemote starts (or joins) a background read from the tier at offset and waits for it
// at most wait, or until ctx is done (ctx bounds only the waiting, not the read). done=false
// means the read is still running; the caller answers the partition empty and the
// client's next fetch joins the same read. The records alias the tier's chunk cache:
// read-only. They are not counted in the remote fetch metrics: the caller counts what it
// sends (CountRemoteFetch). Errors: segment.ErrOffsetOutOfRange (below the remote start,
// or no tier), ErrRemote (the bucket failed; answered again for a while without a new
// read, see remoteErrorHoldMin), ErrClosed.
func (p *Partition) ReadRemote(ctx context.Context, offset int64, maxBytes int, minOneBatch bool, wait time.Duration) (data tiering.Records, done bool, err error) {
	t := p.getTier()
	if t == nil {
		return tiering.Records{}, true, fmt.Errorf("%w: %s-%d has no remote tier", segment.ErrOffsetOutOfRange, p.topicName, p.index)
	}
	p.remoteMu.Lock()
	r := p.remotePending
	if r != nil && r.offset == offset && !r.heldError(time.Now()) {
		select {
		case <-r.done:
			if r.err != nil {
				r = nil // a failed read whose hold is over: try the bucket again
			}
		default:
		}
	}
	if r == nil || r.offset != offset || p.closed.Load() {
		// A read for another offset is left to finish (bounded by remoteReadTimeout): a
		// second consumer of this partition may still be waiting for it.
		if p.closed.Load() {
			p.remoteMu.Unlock()
			return tiering.Records{}, true, ErrClosed
		}
		r = p.startRemoteReadLocked(t, offset, maxBytes, minOneBatch, 0)
	}
	p.remoteMu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	select {
	case <-r.done: // a finished read wins over a simultaneous timeout
	default:
		return tiering.Records{}, false, nil
	}

	p.remoteMu.Lock()
	if p.remotePending == r && !r.heldError(time.Now()) {
		// Consumed; the client moves on to the next offset, which is read meanwhile.
		p.remotePending = nil
		p.leftLocked(r)
		p.readNextRemoteLocked(t, r, maxBytes, minOneBatch)
	}
	p.remoteMu.Unlock()
	if r.err != nil {
		if errors.Is(r.err, segment.ErrOffsetOutOfRange) {
			return tiering.Records{}, true, r.err
		}
		return tiering.Records{}, true, fmt.Errorf("%w: remote read %s-%d at %d: %w", ErrRemote, p.topicName, p.index, offset, r.err)
	}
	return r.data.Trim(maxBytes, minOneBatch), true, nil
}

// CountRemoteFetch counts n record bytes of a remote read sent to a consumer in the
// tier's remote fetch metrics.
func (p *Partition) CountRemoteFetch(n int) {
	if t := p.getTier(); t != nil {
		t.CountFetch(n)
	}
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

// EarlyReads is the charge of early reads still pending, shared by the partitions of a
// broker (Options.EarlyReads). The zero value is ready to use.
type EarlyReads struct {
	held atomic.Int64
}

// reserve charges n bytes if they fit in earlyReadBudget (or nothing is charged).
func (e *EarlyReads) reserve(n int64) bool {
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

// Held returns the bytes charged to the budget now.
func (e *EarlyReads) Held() int64 { return e.held.Load() }

// startRemoteReadLocked starts a background read of t at offset (bounded by
// remoteReadTimeout, cancelled by stopRemote) and makes it the partition's pending read,
// replacing the previous one. charge is what the read holds of the early-read budget
// (0: a read a fetch asked for). p.remoteMu must be held and p not closed.
func (p *Partition) startRemoteReadLocked(t Tier, offset int64, maxBytes int, minOneBatch bool, charge int64) *remoteRead {
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
		// Not counted: it may be an early read no fetch takes, or a read whose fetch stopped
		// waiting; the broker counts what it sends (CountFetch). A read a fetch waits for
		// answers with the chunks already cached (at least one batch) rather than wait for
		// all the GETs; the early read of the next offset, started once the fetch takes
		// this one, waits for the rest.
		r.data, r.err = t.ReadRecords(rctx, offset, maxBytes, minOneBatch, tiering.ReadOptions{Uncounted: true, ReadyOnly: !r.early})
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
// replaces it. Nothing is started at or past the local log start (a fetch reads those
// offsets locally, even when they are in the bucket too) or the remote end, for a failed
// read, on a closed partition, or when the early-read budget is spent (see above).
// p.remoteMu must be held.
func (p *Partition) readNextRemoteLocked(t Tier, r *remoteRead, maxBytes int, minOneBatch bool) {
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

func (p *Partition) stopRemote() {
	p.remoteMu.Lock()
	for r := range p.remoteInflight {
		r.cancel()
	}
	p.remoteMu.Unlock()
	p.remoteWG.Wait()
}
