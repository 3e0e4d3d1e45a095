package broker

// One client connection (the framing and request header are described in server.go).
//
// A conn runs two goroutines. The reader (readLoop) reads frames, admitting each against
// the connection's queue budget and the broker-wide one before reading its body, decodes
// it and queues it. The worker (workLoop) handles queued requests one at a time, in
// arrival order, and writes each response before handling the next, except that acks=-1
// produce responses may wait for their fsyncs while the next produce requests are handled
// (produce_pipeline.go); they are still written in request order. When either goroutine
// stops, the connection's context is cancelled and the socket closed, which ends the other.
//
// Ownership: the fields set by newConn and serve are read-only afterwards; the reader owns
// br and rawSASL; the worker owns buf, rb and pending; queued, budget and freed are shared
// and safe for concurrent use. Handlers reach the connection's security state through
// their context (connStateFrom), put there once by serve; the connection code itself uses
// the fields.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one client connection.
type conn struct {
	b        *Broker
	nc       net.Conn   // the TLS connection after handshake on SSL listeners
	listener *listener  // nil for in-process requests (handleRequest)
	sec      *connState // security state (sasl.go); nil for in-process requests: authenticated User:ANONYMOUS
	remote   string     // client address
	host     string     // client host
	local    string     // broker host the client connected to
	log      *slog.Logger

	ctx    context.Context // cancelled when the connection ends; carries sec for handlers
	cancel context.CancelFunc

	queue        chan *request // read and decoded, waiting for the worker; closed when the reader ends
	queued       atomic.Int64  // bytes of requests read, not yet answered
	budget       connBudget    // the same bytes in the broker-wide budget (requestbudget.go)
	freed        chan struct{} // the worker answered a request (wakes an admit waiting for queueBudget)
	workerDone   chan struct{}
	frameTimeout time.Duration // an admitted frame's body must arrive within it

	// Reader only.
	br      *bufio.Reader
	rawSASL bool // SaslHandshake v0 was accepted: frames are raw SASL tokens

	// Worker only.
	buf     []byte            // framing buffer for responses
	rb      *recordBufs       // pooled record buffers of the response being built (recordbufs.go)
	hctx    context.Context   // handler context: ctx plus rb
	pending []pendingResponse // deferred produce responses, in request order
	// mutedUntil: no request is handled before it (a quota throttle; quota_conn.go).
	mutedUntil time.Time
}

// newConn returns the connection nc accepted on l (nil for in-process requests).
func (b *Broker) newConn(nc net.Conn, l *listener) *conn {
	c := &conn{b: b, nc: nc, listener: l}
	if l != nil {
		c.sec = newConnState(l)
	}
	if nc != nil {
		c.remote = nc.RemoteAddr().String()
		c.host = c.remote
		if h, _, err := net.SplitHostPort(c.remote); err == nil {
			c.host = h
		}
		c.local = nc.LocalAddr().String()
		if lh, _, err := net.SplitHostPort(c.local); err == nil {
			c.local = lh
		}
	}
	c.log = b.logger.With("remote", c.remote)
	return c
}

// handshake runs TLS on SSL listeners and settles the initial principal; false: the
// handshake failed and the socket is closed.
func (c *conn) handshake(ctx context.Context) bool {
	if c.listener.tls != nil {
		tc, err := c.b.tlsHandshake(ctx, c.nc, c.listener)
		if err != nil {
			return false
		}
		c.sec.principal = tc.principal
		c.nc = tc.conn
	}
	c.sec.authenticated.Store(!c.listener.spec.sasl())
	return true
}

// serve runs the connection until it closes, ctx ends or a protocol error occurs.
func (c *conn) serve(ctx context.Context) {
	if c.sec != nil {
		ctx = withConnState(ctx, c.sec) // for handlers (SASL, Metadata, authorization)
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	defer c.cancel()
	defer c.nc.Close()
	c.log.Debug("connection opened")
	c.queue = make(chan *request, requestQueue)
	c.budget.g = c.b.reqBudget
	c.freed = make(chan struct{}, 1)
	c.workerDone = make(chan struct{})
	c.frameTimeout = c.b.frameReadTimeout()
	go c.workLoop()
	c.readLoop()
	c.close()
}

// close runs when the reader is done: the peer closed, the broker stops, or the input was
// bad. Cancelling ends any long poll; pending responses to a closed peer are moot.
func (c *conn) close() {
	c.abort()
	close(c.queue)
	<-c.workerDone
	c.budget.releaseAll()
	c.log.Debug("connection closed")
}

// abort cancels the connection's context and closes the socket, which ends both loops.
func (c *conn) abort() {
	c.cancel()
	c.nc.Close()
}

// readLoop reads requests and queues them for the worker until reading fails or ctx ends.
func (c *conn) readLoop() {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("bug: panic while reading request", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	// A small read buffer: an idle connection holds it for its whole life (64 KiB each
	// made 2,000 idle clients cost 150 MiB; test/reliability), and frames larger than it
	// are read straight from the socket into their own buffer.
	c.br = bufio.NewReaderSize(c.nc, readBufferSize)
	for {
		r, err := c.readFrame()
		if err != nil {
			c.logReadError(err)
			return
		}
		r.received = time.Now() // SASL session expiry is judged at arrival (sasl.go)
		select {
		case c.queue <- r:
		case <-c.ctx.Done():
			return
		}
		if c.sec != nil && (c.rawSASL || (r.key == 17 && r.version == 0)) {
			// Whether the next frame is a raw token depends on this one's outcome.
			if c.rawSASL, err = c.sec.awaitSASLStep(c.ctx); err != nil {
				return
			}
		}
	}
}

// readFrame reads the next request. An idle connection (no request for
// connections.max.idle.ms) is closed: the deadline covers reading the next whole frame.
func (c *conn) readFrame() (*request, error) {
	c.nc.SetReadDeadline(time.Now().Add(c.b.cfg.ConnectionsMaxIdle))
	if c.rawSASL {
		return c.b.readRawSASL(c.br, c.admit, c.b.frameLimit(c.sec)) // sasl.go
	}
	return c.b.readRequest(c.br, c.admit, c.b.frameLimit(c.sec))
}

// logReadError logs why reading stopped, at a level fitting the cause.
func (c *conn) logReadError(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errProtocol):
		c.log.Info("closing connection", "err", err)
	case errors.Is(err, errFrameIncomplete) && (errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()):
		c.log.Info("closing connection: request frame not received in time (strata.socket.request.read.timeout.ms)", "err", err)
	case !errors.Is(err, io.EOF) && c.ctx.Err() == nil:
		c.log.Debug("connection read failed", "err", err)
	}
}

// admit waits until a frame of n bytes fits the connection's queue budget, then for the
// broker-wide one (queued.max.request.bytes). From the end of the first wait (which only
// waits for this client's own earlier requests), the frame has frameTimeout to be
// admitted and arrive (requestbudget.go).
func (c *conn) admit(n int64) error {
	for {
		if q := c.queued.Load(); q == 0 || q+n <= queueBudget {
			break
		}
		select {
		case <-c.freed:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
	deadline := time.Now().Add(c.frameTimeout)
	actx, cancel := context.WithDeadline(c.ctx, deadline)
	err := c.budget.acquire(actx, n)
	cancel()
	if err != nil {
		if c.ctx.Err() == nil {
			return fmt.Errorf("%w: waited %v for %d bytes of queued.max.request.bytes: %w", errFrameIncomplete, c.frameTimeout, n, os.ErrDeadlineExceeded)
		}
		return err
	}
	c.queued.Add(n)
	c.nc.SetReadDeadline(deadline)
	return nil
}

// handled gives r's bytes back to the queue budgets.
func (c *conn) handled(r *request) {
	c.queued.Add(-r.size)
	c.budget.release(r.size)
	select {
	case c.freed <- struct{}{}:
	default:
	}
}

// workLoop handles queued requests in order until the queue closes or a response
// cannot be written.
func (c *conn) workLoop() {
	defer close(c.workerDone)
	// Pending produce responses: when the worker stops, their waits end with the
	// connection's context and are waited for.
	defer func() {
		c.cancel()
		for _, p := range c.pending {
			<-p.wait.done
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("bug: panic while handling request", "panic", r, "stack", string(debug.Stack()))
			c.abort()
		}
	}()
	// Local fetch reads borrow pooled buffers (recordbufs.go); they are given back once
	// the response is written, or dropped, and nothing refers to them. On plain TCP (not
	// TLS) local record sets go out with sendfile (sendfile.go).
	c.rb = &recordBufs{}
	_, c.rb.splice = c.nc.(*net.TCPConn)
	c.hctx = context.WithValue(c.ctx, recordBufsKey{}, c.rb)
	for {
		r, ok := c.next()
		if !ok || !c.handle(r) {
			return
		}
	}
}

// next returns the next queued request, writing pending responses whose waits end
// meanwhile; false: the queue closed or a response could not be written.
func (c *conn) next() (*request, bool) {
	for len(c.pending) > 0 {
		select {
		case <-c.pending[0].wait.done:
			if !c.writeFirst() {
				return nil, false
			}
		case r, ok := <-c.queue:
			return r, ok
		}
	}
	r, ok := <-c.queue
	return r, ok
}

// handle runs r's handler and writes its response, or keeps it pending; false: the
// connection is closed.
//
// Only produce requests go ahead of pending responses; anything else waits until they
// are written. A produce request is deferred only when there is something to overlap
// its wait with (a queued request, or pending ones); alone, it waits here
// (produce_pipeline.go).
func (c *conn) handle(r *request) bool {
	if !c.waitMuted() { // a quota throttle (quota_conn.go)
		return false
	}
	var d *produceDeferral
	if r.key == int16(kmsg.Produce) && len(c.pending) < maxPendingProduces && (len(c.pending) > 0 || len(c.queue) > 0) {
		d = &produceDeferral{}
	} else if !c.flushPending() {
		return false
	}
	resp, err := c.dispatch(c.hctx, r, d)
	if d != nil && d.pending != nil {
		c.pending = append(c.pending, pendingResponse{r: r, resp: resp, wait: d.pending})
		return true // its bytes stay counted against the budget until it is answered
	}
	c.handled(r)
	if !c.flushPending() { // responses go out in request order
		return false
	}
	return c.respond(r, resp, err)
}

// flushPending writes every pending response, waiting for each; false: the connection
// is closed.
func (c *conn) flushPending() bool {
	for len(c.pending) > 0 {
		if !c.writeFirst() {
			return false
		}
	}
	return true
}

// writeFirst writes the oldest pending response once its waits are over.
func (c *conn) writeFirst() bool {
	p := c.pending[0]
	<-p.wait.done
	c.pending[0] = pendingResponse{}
	c.pending = c.pending[1:]
	p.wait.finish()
	c.handled(p.r)
	return c.respond(p.r, p.resp, nil)
}

// respond writes the outcome of r: an error closes the connection, a nil response
// (acks=0 produce) writes nothing. False: the connection is closed.
func (c *conn) respond(r *request, resp kmsg.Response, err error) bool {
	if err != nil {
		if c.ctx.Err() == nil {
			c.log.Info("closing connection", "err", err, "api_key", r.key, "api_version", r.version)
		}
		c.abort()
		return false
	}
	if resp == nil {
		c.rb.release()
		return true
	}
	err = c.write(r, resp)
	c.rb.release()
	if err != nil {
		c.abort()
		return false
	}
	if c.sec != nil && c.sec.closeAfter { // failed SASL handshake/authentication (sasl.go)
		c.abort()
		return false
	}
	return true
}

// write frames and writes resp at once, never buffered behind the next request: that one
// may be a long-polling fetch, and the client is waiting for this response. A client that
// reads nothing for connections.max.idle.ms (a stuck or hostile consumer) is
// disconnected, as Kafka does, rather than holding the connection, its queued requests
// and this response forever.
func (c *conn) write(r *request, resp kmsg.Response) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.ConnectionsMaxIdle))
	if fr, ok := resp.(*kmsg.FetchResponse); ok && len(c.rb.secs) > 0 {
		return writeSplicedResponse(c.nc, r.correlationID, fr, c.rb) // sendfile.go
	}
	if sw, ok := resp.(connResponseWriter); ok {
		return sw.writeResponse(c.nc, r.correlationID)
	}
	c.buf = appendResponse(c.buf[:0], r.correlationID, resp)
	_, err := c.nc.Write(c.buf)
	if cap(c.buf) > 1<<20 {
		// Do not pin one large fetch response for the connection's life; the next large
		// response (of any connection) reuses it.
		putLargeBuf(c.buf)
		c.buf = nil
	}
	return err
}
