package broker

// Connection handling.
//
// A frame is a big-endian int32 size followed by that many bytes. The size is checked
// against socket.request.max.bytes (and the minimum header size) before anything is
// allocated; a bad size closes the connection.
//
// Per connection (a conn, conn.go) the reader goroutine reads frames, parses the request header and decodes
// the body with kmsg; it hands decoded requests to the worker goroutine through a bounded
// queue. The worker handles requests strictly one after another, in arrival order, and
// writes each response before handling the next, so responses go out in request order.
// A long-polling fetch blocks only its own connection's worker. The reader notices a
// closed socket at once and cancels the connection's context, which ends any wait.
//
// Request header (v1, v2 for flexible versions):
//   api_key int16, api_version int16, correlation_id int32, client_id nullable string
//   (int16 length), then for v2 tagged fields (uvarint count, each uvarint tag + uvarint
//   size + bytes).
// Response header: correlation_id int32, then for flexible responses (v1) an empty
// tagged-field section (one 0 byte). ApiVersions responses always use header v0.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	minRequestSize = 8       // api key, version, correlation id
	requestQueue   = 16      // decoded requests waiting for the worker, per connection
	readBufferSize = 4 << 10 // per-connection read buffer (frame headers, small requests)
	// queueBudget bounds the bytes of requests read but not yet handled, per connection.
	// A frame larger than the budget is read only when nothing else is queued, so a
	// pipelining client holds at most max(budget, one frame) in memory.
	queueBudget = 16 << 20
)

// errProtocol marks a request that closes the connection (malformed, unknown key,
// unsupported version, oversized frame).
var errProtocol = errors.New("broker: protocol error")

// request is one decoded request.
type request struct {
	key           int16
	version       int16
	correlationID int32
	clientID      string
	req           kmsg.Request // nil for an ApiVersions request with an unsupported version
	size          int64        // frame bytes, counted against queueBudget
	rawSASL       bool         // a raw SASL token after SaslHandshake v0 (sasl.go)
	received      time.Time    // when the whole frame was read (zero: in-process request)
}

// requestInfo travels in the handler's context.
type requestInfo struct {
	ClientID      string
	ClientHost    string
	LocalHost     string // the broker address the client connected to
	CorrelationID int32
	Version       int16
}

type requestInfoKey struct{}

// requestInfoFrom returns the header data of the request being handled.
func requestInfoFrom(ctx context.Context) (requestInfo, bool) {
	ri, ok := ctx.Value(requestInfoKey{}).(requestInfo)
	return ri, ok
}

// readRequest reads and decodes one frame. admit is called with the frame size before
// anything of the body is read or allocated; the body is then read incrementally
// (requestbudget.go). On success the request counts against the queue budgets.
func (b *Broker) readRequest(br *bufio.Reader, admit func(n int64) error, maxSize int32) (*request, error) {
	var sz [4]byte
	if _, err := io.ReadFull(br, sz[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sz[:]))
	if size < minRequestSize || size > maxSize {
		return nil, fmt.Errorf("%w: frame size %d outside [%d, %d] (socket.request.max.bytes, or sasl.server.max.receive.size before authentication)",
			errProtocol, size, minRequestSize, maxSize)
	}
	if err := admit(int64(size)); err != nil {
		return nil, err
	}
	frame, err := readFrameBody(br, int(size))
	if err != nil {
		return nil, err
	}
	r, err := parseRequest(frame)
	if err != nil {
		return nil, err
	}
	r.size = int64(size)
	return r, nil
}

// parseRequest decodes a frame (without its size prefix): header, then body with kmsg.
// It never panics; every malformation is an error wrapping errProtocol.
func parseRequest(frame []byte) (*request, error) {
	if len(frame) < minRequestSize {
		return nil, fmt.Errorf("%w: request of %d bytes is shorter than a header", errProtocol, len(frame))
	}
	r := &request{
		key:           int16(binary.BigEndian.Uint16(frame[0:])),
		version:       int16(binary.BigEndian.Uint16(frame[2:])),
		correlationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	rest := frame[8:]
	api := lookupAPI(r.key)
	if api == nil {
		return nil, fmt.Errorf("%w: unsupported api key %d", errProtocol, r.key)
	}
	// Client id: nullable string with int16 length (header v1 and v2).
	if len(rest) < 2 {
		return nil, fmt.Errorf("%w: truncated client id", errProtocol)
	}
	n := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if n > 0 {
		if int(n) > len(rest) {
			return nil, fmt.Errorf("%w: truncated client id", errProtocol)
		}
		r.clientID = string(rest[:n])
		rest = rest[n:]
	} else if n < -1 {
		return nil, fmt.Errorf("%w: bad client id length %d", errProtocol, n)
	}

	if r.version < api.min || r.version > api.max {
		if r.key == int16(kmsg.ApiVersions) && r.version > api.max {
			// Answered with a v0 UNSUPPORTED_VERSION response listing what we support;
			// the client retries with a version we know. The body is not parsed.
			return r, nil
		}
		return nil, fmt.Errorf("%w: unsupported version %d of %s (supported %d-%d)",
			errProtocol, r.version, kmsg.NameForKey(r.key), api.min, api.max)
	}
	req := kmsg.RequestForKey(r.key)
	req.SetVersion(r.version)
	if req.IsFlexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return nil, err
		}
	}
	// Bound what decoding may allocate before kmsg sees the body (decodegate.go).
	gated, err := admitDecode(r.key, r.version, rest, req.IsFlexible())
	if err != nil {
		return nil, err
	}
	err = req.ReadFrom(rest)
	if gated > 0 {
		decodeGate.release(gated)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decode %s v%d: %v", errProtocol, kmsg.NameForKey(r.key), r.version, err)
	}
	r.req = req
	return r, nil
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	num, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad tagged field count", errProtocol)
	}
	b = b[n:]
	if num > uint64(len(b)) { // every field takes at least 2 bytes
		return nil, fmt.Errorf("%w: bad tagged field count %d", errProtocol, num)
	}
	for i := uint64(0); i < num; i++ {
		_, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: bad tag", errProtocol)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad tag size", errProtocol)
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// connResponseWriter is a response that writes itself, framed, to the connection (the
// zero-copy Fetch path: record sets go from segment files to the socket with sendfile).
// Its AppendTo must still encode the whole response (the copy path, used by tests and
// when the connection is not a TCP socket).
type connResponseWriter interface {
	kmsg.Response
	writeResponse(nc net.Conn, correlationID int32) error
}

// dispatch runs the handler for r with the connection's header data; d, if not nil, lets
// a Produce handler leave its durability waits pending (produce_pipeline.go). A nil
// response with a nil error means no response (acks=0). An error closes the connection.
func (c *conn) dispatch(ctx context.Context, r *request, d *produceDeferral) (kmsg.Response, error) {
	b := c.b
	if r.rawSASL {
		return c.handleRawSASL(ctx, r) // sasl.go
	}
	if r.req == nil {
		return b.unsupportedApiVersions(), nil
	}
	api := lookupAPI(r.key)
	hctx := context.WithValue(ctx, requestInfoKey{}, requestInfo{
		ClientID: r.clientID, ClientHost: c.host, LocalHost: c.local, CorrelationID: r.correlationID, Version: r.version,
	})
	if d != nil {
		hctx = withProduceDeferral(hctx, d)
	}
	if c.sec != nil && !c.sec.authenticated.Load() && !preAuthAllowed(r.key) {
		return nil, fmt.Errorf("%w: %s before SASL authentication", errProtocol, kmsg.NameForKey(r.key)) // sasl.go
	}
	if c.sec != nil && c.sec.authenticated.Load() {
		// A session is judged at the time the request arrived, as Kafka's SocketServer does,
		// so a request sent in time but queued behind slow ones is still served.
		at := r.received
		if at.IsZero() {
			at = time.Now()
		}
		if err := c.sec.checkSession(r.key, at); err != nil { // re-authentication (sasl.go)
			if errors.Is(err, errSessionExpired) {
				b.secm.SessionExpired()
			}
			return nil, err
		}
	}
	hctx, qc := c.beforeQuota(hctx, r) // quota_conn.go
	start := time.Now()
	resp, err := b.handleAuthorized(hctx, api, r.req) // authorizer.go
	if err == nil {
		c.afterQuota(qc, r, resp)
	}
	if d != nil && d.pending != nil {
		// Produce pipelining (produce_pipeline.go): metrics are taken when the waits end.
		if err == nil && resp != nil {
			b.observeDeferred(d.pending, r, resp, start)
			resp.SetVersion(r.version)
			return resp, nil
		}
		<-d.pending.done // not expected: only acks=-1 requests defer, and they answer
		d.pending = nil
	}
	b.observeRequest(r.key, r.req, resp, err, time.Since(start), c.rb) // opsmetrics.go
	if err != nil {
		return nil, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(r.key), r.version, err)
	}
	if resp == nil {
		return nil, nil
	}
	resp.SetVersion(r.version)
	return resp, nil
}

// handleRequest is dispatch plus framing for an in-process request (tests): no listener,
// so no security state. It appends the framed response to buf (nil when there is none).
func (b *Broker) handleRequest(ctx context.Context, r *request, clientHost, localHost string, buf []byte) ([]byte, error) {
	c := &conn{b: b, host: clientHost, local: localHost}
	resp, err := c.dispatch(ctx, r, nil)
	if err != nil || resp == nil {
		return nil, err
	}
	return appendResponse(buf, r.correlationID, resp), nil
}

// appendResponse frames resp: size, correlation id, header tags (flexible, not
// ApiVersions), body.
func appendResponse(buf []byte, correlationID int32, resp kmsg.Response) []byte {
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		// A fetch response is mostly record bytes: size the buffer once, instead of letting
		// append double it (copying everything encoded so far each time) on the way to
		// tens of MiB.
		buf = growResponseBuf(buf, fetchResponseSizeHint(fr))
	}
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint32(buf, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		buf = append(buf, 0)
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
	return buf
}

// largeBufs holds response buffers over 1 MiB between uses, across connections (the pool
// drops them at GC, so an idle broker pins nothing). Reusing one saves allocating and
// zeroing tens of MiB per large fetch response.
var largeBufs sync.Pool // *[]byte

// putLargeBuf gives b back once nothing refers to it any more.
func putLargeBuf(b []byte) {
	b = b[:0]
	largeBufs.Put(&b)
}

// growResponseBuf returns buf with room for n more bytes, taking a pooled buffer when buf
// is empty and too small.
func growResponseBuf(buf []byte, n int) []byte {
	if cap(buf)-len(buf) >= n {
		return buf
	}
	if len(buf) == 0 {
		if p, ok := largeBufs.Get().(*[]byte); ok {
			if cap(*p) >= n {
				return (*p)[:0]
			}
			largeBufs.Put(p) // too small for this one; another response may fit
		}
	}
	return slices.Grow(buf, n)
}

// fetchResponseSizeHint is an upper estimate of the encoded size of r: its record bytes
// plus a generous allowance for every header field.
func fetchResponseSizeHint(r *kmsg.FetchResponse) int {
	n := 64
	for i := range r.Topics {
		t := &r.Topics[i]
		n += 64 + len(t.Topic)
		for j := range t.Partitions {
			p := &t.Partitions[j]
			n += 96 + len(p.RecordBatches) + 32*len(p.AbortedTransactions)
		}
	}
	return n
}
