package tiering

// Read-ahead: the one read-ahead of the broker's remote reads. A partition asks ReadRecords
// for a range and gets slices of cached chunks; everything loaded before a reader asks for
// it is decided here, by one policy:
//
//   - A read is sequential when it starts at the offset where the partition's previous read
//     ended. Only sequential reads load ahead.
//   - The chunks of a sequential read after its first are loaded in parallel with it, as
//     runs (one ranged GET each), when they fit in the per-reader limit (see aheadChunks).
//   - Past the read, enough chunks to cover the reader's next two reads of the same size
//     are loaded (at least Config.ReadAheadChunks, at most an eighth of the chunk cache
//     budget per reader), crossing into the next segments but never into a segment at or
//     past ReadOptions.Until (offsets the partition reads locally).
//   - They are fetched in runs of up to Config.ReadAheadRunChunks chunks aligned in the
//     object (chunks [k*run, (k+1)*run)), the last run completed to its group's end, so
//     that a sequential reader's GETs stay large: each read-ahead finds the chunks of the
//     previous one claimed and starts whole groups after them. Every run is its own GET,
//     so a read-ahead of several runs has several GETs in flight.
//   - The read-ahead of all partitions shares one budget, a quarter of the chunk cache
//     budget (the cache's LRU admission window, which every loaded chunk enters first, so
//     that no prefetched chunk is pushed out before its reader gets to it). A reader holds
//     a lease on what its last sequential read asked ahead for; it lapses when the reader
//     reads elsewhere, after aheadLeaseTTL without a sequential read, or when the partition
//     closes. While every reader gets what it asks for, each does; once some reader gets
//     less, every reader is held to an equal share of the budget as it renews its lease, so
//     that a consumer of many partitions, whose fetch waits for its slowest partition, does
//     not have some of them read ahead in full and others not at all.
//
// The cache (package cache) only loads what it is asked to, once per chunk; it decides
// nothing about what comes next.

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/segment"
)

// aheadLeaseTTL is how long a reader's read-ahead lease lasts without a sequential read.
const aheadLeaseTTL = 10 * time.Second

// defaultRunChunks is the default of Config.ReadAheadRunChunks, the most chunks one
// read-ahead GET fetches. A request has a fixed cost in the broker (AWS SDK, HTTP) and the
// bucket (which opens and checks the object per request), so fewer, larger GETs cost less
// CPU per byte (BenchmarkGetShape in tiering/s3store measures it).
const defaultRunChunks = 4

// aheadState is the read-ahead state of one partition.
type aheadState struct {
	next atomic.Int64 // the offset after the previous read: a read there is sequential
}

// aheadBudget bounds the read-ahead of all partitions of a Manager (see above).
type aheadBudget struct {
	mu     sync.Mutex
	held   int64
	leases map[*RemotePartition]aheadLease
}

type aheadLease struct {
	bytes int64 // granted
	want  int64 // asked for
	until time.Time
}

// reserve replaces p's lease with one of at most want bytes, within limit bytes for all
// leases, and returns the bytes granted, a multiple of unit: want if it fits; when another
// reader holds less than it asked for, at most an equal share of limit.
func (b *aheadBudget) reserve(p *RemotePartition, want, limit, unit int64, now time.Time) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.leases == nil {
		b.leases = make(map[*RemotePartition]aheadLease)
	}
	b.releaseLocked(p)
	short := false // some other reader holds less than it asked for
	for q, l := range b.leases {
		if now.After(l.until) {
			b.releaseLocked(q)
		} else if l.bytes < l.want {
			short = true
		}
	}
	grant := min(want, limit-b.held)
	if short {
		grant = min(grant, limit/int64(len(b.leases)+1))
	}
	grant = max(grant/unit*unit, 0)
	b.leases[p] = aheadLease{bytes: grant, want: want, until: now.Add(aheadLeaseTTL)}
	b.held += grant
	return grant
}

// release drops p's lease.
func (b *aheadBudget) release(p *RemotePartition) {
	b.mu.Lock()
	b.releaseLocked(p)
	b.mu.Unlock()
}

func (b *aheadBudget) releaseLocked(p *RemotePartition) {
	if l, ok := b.leases[p]; ok {
		b.held -= l.bytes
		delete(b.leases, p)
	}
}

// ReadAheadHeld returns the bytes of read-ahead leased now by all partitions of m.
func (m *Manager) ReadAheadHeld() int64 {
	m.ahead.mu.Lock()
	defer m.ahead.mu.Unlock()
	return m.ahead.held
}

// aheadRead is the read-ahead decided for one read.
type aheadRead struct {
	p      *RemotePartition
	st     *remoteState
	i      int   // the entry read
	chunks int   // chunks leased past the read (0: none)
	run    int   // chunks per GET
	until  int64 // ReadOptions.Until
}

// startRead decides the read-ahead of a read at offset, position pos of entry i, of at
// most maxBytes, and starts the parallel loads of the read's own chunks.
func (p *RemotePartition) startRead(ctx context.Context, st *remoteState, i int, offset, pos int64, maxBytes int, until int64) aheadRead {
	r := aheadRead{p: p, st: st, i: i, until: until}
	want := p.aheadChunks(maxBytes)
	if want <= 0 || p.ahead.next.Load() != offset {
		p.m.ahead.release(p) // not sequential: no read-ahead
		return r
	}
	p.prefetchRead(ctx, st, i, pos, maxBytes)
	cb := p.m.cfg.ChunkBytes
	run := p.runChunks(want)
	grant := p.m.ahead.reserve(p, int64(want+run-1)*cb, p.aheadBudgetBytes(), cb, time.Now())
	if got := int(grant / cb); got < want+run-1 {
		// Less than asked: keep the GETs as large as the grant allows, the last run
		// completed to its group's end within it.
		run = max(min(run, got), 1)
		want = got - (run - 1)
	}
	r.chunks, r.run = want, run
	return r
}

// done notes where the read ended (the next sequential read starts there).
func (r aheadRead) done(next int64) { r.p.ahead.next.Store(next) }

// after starts the read-ahead past the read, which ended at position pos of its entry.
func (r aheadRead) after(ctx context.Context, pos int64) {
	if r.chunks <= 0 {
		return
	}
	cb := r.p.m.cfg.ChunkBytes
	r.p.readAhead(ctx, r.st, r.i, (pos+cb-1)/cb, r.chunks, r.run, true, r.until) // after the chunk holding pos-1
}

// aheadChunks is how many chunks a sequential reader asking for maxBytes at a time gets
// loaded ahead: Config.ReadAheadChunks, raised to cover its next two reads, at most
// aheadLimit.
func (p *RemotePartition) aheadChunks(maxBytes int) int {
	n := p.m.cfg.ReadAheadChunks
	if n <= 0 {
		return n
	}
	cb := p.m.cfg.ChunkBytes
	want := int((2*int64(maxBytes) + cb - 1) / cb)
	return max(n, min(want, p.aheadLimit()))
}

// aheadLimit is the most chunks one reader loads ahead: an eighth of the chunk cache
// budget (half of the shared read-ahead budget).
func (p *RemotePartition) aheadLimit() int {
	return int(p.m.cache.MaxBytes() / 8 / p.m.cfg.ChunkBytes)
}

// aheadBudgetBytes is the read-ahead budget of all partitions: a quarter of the chunk
// cache budget, at least one chunk.
func (p *RemotePartition) aheadBudgetBytes() int64 {
	return max(p.m.cache.MaxBytes()/4, p.m.cfg.ChunkBytes)
}

// runChunks is how many chunks a read-ahead GET covers: Config.ReadAheadRunChunks, fewer
// when the read-ahead of ahead chunks plus a run's overhang (run-1 chunks) would not fit
// in aheadLimit.
func (p *RemotePartition) runChunks(ahead int) int {
	return max(1, min(p.m.cfg.ReadAheadRunChunks, p.aheadLimit()-ahead+1))
}

// prefetchRead starts the loads of the chunks a sequential read from position pos of
// entry i needs after the first, so that they run in parallel with it rather than one GET
// after another; only when they fit in aheadLimit (a small cache's admission window would
// push parallel loads out before they are read).
func (p *RemotePartition) prefetchRead(ctx context.Context, st *remoteState, i int, pos int64, maxBytes int) {
	cb := p.m.cfg.ChunkBytes
	e := &st.entries[i]
	next := pos/cb + 1 // the chunk holding pos is read at once
	end := pos + min(int64(maxBytes), e.Size-pos)
	if end <= next*cb {
		return
	}
	if n := int((end-1-next*cb)/cb + 1); n <= p.aheadLimit() {
		p.readAhead(ctx, st, i, next, n, p.runChunks(n), false, 0)
	}
}

// readAhead prefetches n chunks of entry i from chunk index next on, crossing into the
// next segments but not into one whose base offset is at or past until (0: no bound),
// with one ranged GET per run: the chunks of one segment are grouped in runs of run chunks
// aligned in the object (chunk indexes [k*run, (k+1)*run)), and with extend the last run
// is completed to its group's end (at most run-1 chunks past the n).
func (p *RemotePartition) readAhead(ctx context.Context, st *remoteState, i int, next int64, n int, run int, extend bool, until int64) {
	cb := p.m.cfg.ChunkBytes
	r := int64(max(run, 1))
	for n > 0 {
		e := &st.entries[i]
		chunks := (e.Size + cb - 1) / cb
		if next >= chunks {
			if i+1 >= len(st.entries) || (until > 0 && st.entries[i+1].BaseOffset >= until) {
				return
			}
			i, next = i+1, 0
			continue
		}
		end := min(next+int64(n), chunks)
		n -= int(end - next)
		if n == 0 && extend {
			end = min((end+r-1)/r*r, chunks)
		}
		for next < end {
			stop := min((next/r+1)*r, end)
			p.prefetchRun(ctx, e, next, int(stop-next))
			next = stop
		}
	}
}

// prefetchRun prefetches chunks first..first+n-1 of e's data object with one ranged GET.
func (p *RemotePartition) prefetchRun(ctx context.Context, e *SegmentEntry, first int64, n int) {
	cb := p.m.cfg.ChunkBytes
	key, size := e.Log.Key, e.Size
	if p.tamper.Load().refuse(e) != nil {
		return
	}
	p.m.cache.PrefetchRun(ctx, key, first, n, func(ctx context.Context, first int64, n int, put func([]byte)) error {
		off := first * cb
		end := min((first+int64(n))*cb, size)
		if off >= end {
			return fmt.Errorf("%w: remote segment %q: chunk %d past its %d bytes", segment.ErrCorrupt, key, first, size)
		}
		rc, err := p.m.store.GetRange(ctx, key, off, end-off)
		if err != nil {
			return fmt.Errorf("cannot get %q [%d, +%d): %w", key, off, end-off, err)
		}
		defer rc.Close()
		for ; off < end; off += cb {
			b := make([]byte, min(cb, end-off))
			if _, err := io.ReadFull(rc, b); err != nil {
				return fmt.Errorf("cannot read %q [%d, +%d): %w", key, off, len(b), err)
			}
			if err := p.verifyChunk(ctx, e, off, b); err != nil {
				return err
			}
			put(b)
		}
		return nil
	})
}
