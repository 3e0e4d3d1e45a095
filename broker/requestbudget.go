package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Bounding the memory of requests being read (queued.max.request.bytes).
//
// A frame's size is known from its 4-byte prefix long before its bytes arrive. Four
// limits keep a client that declares large frames and then stalls from holding memory:
//
//   - Broker-wide budget. Every frame reserves its declared size from a budget of
//     queued.max.request.bytes shared by all connections before its body is read, and gives
//     it back when its request has been handled (answered, for pipelined produces). As in
//     Kafka (SimpleMemoryPool in non-strict mode), a reservation succeeds whenever the
//     budget is not yet used up, so it may overshoot by one frame, and a frame larger than
//     what is left is still served; a connection whose reservation does not succeed waits,
//     without reading, until another request gives bytes back. Like Kafka, the budget must
//     be at least socket.request.max.bytes, so every frame the broker accepts fits it.
//   - Large frames share half of it. A frame larger than a sixteenth of the budget
//     (largeFrameShare) is large; large frames are admitted only while the large frames
//     already admitted hold less than half the budget. A crowd of connections declaring
//     maximum-size frames therefore waits for a turn while ordinary requests (a produce of
//     a few MiB, a fetch, a heartbeat) keep getting through. Kafka has no such split; its
//     broker mutes every connection when the pool is empty.
//   - Incremental reads. The body is read into a buffer that grows with what has arrived
//     (eightfold from frameChunk, then to the declared size once that is within reach),
//     never allocated at the declared size up front: a frame that stalls holds at most
//     eight times what it sent (and at most its declared size), and the budget bounds it.
//   - Unfinished-frame deadline (strata.socket.request.read.timeout.ms). Once the frame
//     fits the connection's own queue (server.go: that wait is for the client's earlier
//     requests), it has this long to be admitted by the broker-wide budget and for its
//     whole body to arrive; otherwise the connection is closed and its reservation given
//     back. Without it a stalled frame would hold its reservation, and a waiting one its
//     connection, for connections.max.idle.ms (10 minutes). The default, 30 s, is the
//     Java client's request.timeout.ms: a client whose request has not gone out by then
//     has given up on it and will retry on a new connection anyway.
//
// A budget of -1 disables the broker-wide limit (Kafka's default); the per-connection
// queueBudget (server.go) and the incremental reads still apply.
const (
	largeFrameShare = 16      // a frame over limit/largeFrameShare is large
	frameChunk      = 1 << 20 // first allocation for a frame body that does not fit the read buffer
	growFactor      = 8       // a frame body's buffer grows eightfold as bytes arrive
)

// errFrameIncomplete marks a frame whose body stopped arriving (peer closed, or the
// unfinished-frame deadline passed).
var errFrameIncomplete = errors.New("broker: request frame incomplete")

// frameReadTimeout is strata.socket.request.read.timeout.ms, never longer than the idle
// timeout.
func (b *Broker) frameReadTimeout() time.Duration {
	if t := b.cfg.RequestReadTimeout; t > 0 && t < b.cfg.ConnectionsMaxIdle {
		return t
	}
	return b.cfg.ConnectionsMaxIdle
}

// requestBudget is the broker-wide budget of request bytes being read or queued. The zero
// value (limit 0) and a negative limit are unlimited.
type requestBudget struct {
	limit int64
	mu    sync.Mutex
	used  int64         // guarded by mu: bytes reserved by admitted frames
	large int64         // guarded by mu: of used, bytes reserved by large frames
	wake  chan struct{} // guarded by mu: closed (and replaced) when bytes are given back
}

func newRequestBudget(limit int64) *requestBudget {
	return &requestBudget{limit: limit, wake: make(chan struct{})}
}

// acquire reserves n bytes, waiting until the budget admits them or ctx ends. It reports
// whether the frame counts as large; give the bytes back with give.
func (g *requestBudget) acquire(ctx context.Context, n int64) (large bool, err error) {
	if g == nil || g.limit <= 0 {
		return false, nil
	}
	large = n > g.limit/largeFrameShare
	for {
		g.mu.Lock()
		if g.used < g.limit && (!large || g.large < g.limit/2) {
			g.used += n
			if large {
				g.large += n
			}
			g.mu.Unlock()
			return large, nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// give returns bytes reserved by acquire: n in all, large of them by large frames.
func (g *requestBudget) give(n, large int64) {
	if g == nil || g.limit <= 0 || n == 0 {
		return
	}
	g.mu.Lock()
	g.used -= n
	g.large -= large
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

// connBudget is one connection's share of the broker-wide budget: what its frames hold,
// so that whatever is left when the connection ends (requests read but never handled, a
// frame cut off mid-read) goes back in one call.
type connBudget struct {
	g     *requestBudget
	used  atomic.Int64
	large atomic.Int64
}

func (c *connBudget) acquire(ctx context.Context, n int64) error {
	large, err := c.g.acquire(ctx, n)
	if err != nil {
		return err
	}
	c.used.Add(n)
	if large {
		c.large.Add(n)
	}
	return nil
}

// release gives back the n bytes of one frame.
func (c *connBudget) release(n int64) {
	if c.g == nil || c.g.limit <= 0 || n == 0 {
		return
	}
	var large int64
	if n > c.g.limit/largeFrameShare {
		large = n
	}
	c.used.Add(-n)
	c.large.Add(-large)
	c.g.give(n, large)
}

// releaseAll gives back everything the connection still holds. Call it once the
// connection's reader and worker have stopped.
func (c *connBudget) releaseAll() {
	c.g.give(c.used.Swap(0), c.large.Swap(0))
}

// inUse returns the bytes reserved now (for metrics and tests).
func (g *requestBudget) inUse() int64 {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.used
}

// readFrameBody reads a frame body of size bytes from r. Its buffer grows with the bytes
// received (see frameChunk), so a peer that declares a large frame and stops sending holds
// about as much memory as it sent.
func readFrameBody(r io.Reader, size int) ([]byte, error) {
	buf := make([]byte, 0, min(size, frameChunk))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			// Grow eightfold, straight to the whole frame once that is within reach: a
			// frame of 100 MiB takes buffers of 1, 8 and 100 MiB, 109 MiB allocated in all
			// (doubling would allocate twice the frame and churn the GC).
			next := min(size, growFactor*cap(buf))
			if next >= size/2 {
				next = size
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if len(buf) == size {
				break
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("%w: %d of %d bytes received: %w", errFrameIncomplete, len(buf), size, err)
		}
	}
	return buf, nil
}
