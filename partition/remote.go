package partition

// Remote reads: background reads of the tier that a fetch waits for a bounded time (see
// doc.go, "Reads"). What is loaded ahead of a consumer is the tier's (tiering/readahead.go).

import (
	"context"
	"errors"
	"fmt"
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
		r = p.startRemoteReadLocked(t, offset, maxBytes, minOneBatch)
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
		p.remotePending = nil // consumed: the client moves on to the next offset
		p.leftLocked(r)
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

// The memory of pending reads. A finished read keeps its records (and so the whole cached
// chunks they lie in, even once the cache has evicted them) for as long as it is the
// partition's pending read. So that a consumer that goes away (closed connection,
// rebalance, crash) does not leave them held for the life of the partition, a finished read
// that no fetch takes within remoteReadKeep is dropped (its goroutine waits for that, or
// for the read to be taken or replaced, or for close).
const remoteReadKeep = 10 * time.Second

// leftLocked notes that r is no longer the pending read (taken by a fetch, or replaced):
// its goroutine stops keeping it. p.remoteMu must be held.
func (p *Partition) leftLocked(r *remoteRead) {
	select {
	case <-r.left:
	default:
		close(r.left)
	}
}

// startRemoteReadLocked starts a background read of t at offset (bounded by
// remoteReadTimeout, cancelled by stopRemote) and makes it the partition's pending read,
// replacing the previous one. p.remoteMu must be held and p not closed.
func (p *Partition) startRemoteReadLocked(t Tier, offset int64, maxBytes int, minOneBatch bool) *remoteRead {
	life, cancel := context.WithCancel(context.Background())
	rctx, cancelRead := context.WithTimeout(life, remoteReadTimeout)
	r := &remoteRead{offset: offset, done: make(chan struct{}), cancel: cancel, left: make(chan struct{})}
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
		// Not counted: the fetch may have stopped waiting for it; the broker counts what it
		// sends (CountFetch). The read answers with the chunks already cached (at least one
		// batch) rather than wait for all the GETs; the tier's read-ahead loads the rest
		// meanwhile, bounded by the local log start (offsets read locally).
		r.data, r.err = t.ReadRecords(rctx, offset, maxBytes, minOneBatch,
			tiering.ReadOptions{Uncounted: true, ReadyOnly: true, Until: p.LocalLogStartOffset()})
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
		delete(p.remoteInflight, r) // a failed read holds no records; it stays pending for its hold
		p.remoteMu.Unlock()
	}()
	return r
}

func (p *Partition) stopRemote() {
	p.remoteMu.Lock()
	for r := range p.remoteInflight {
		r.cancel()
	}
	p.remoteMu.Unlock()
	p.remoteWG.Wait()
}
