package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// rpcMagic is the first byte of a controller-RPC connection. Raft's own connections start
// with an RPC type byte (0-4), so one port serves both, as Kafka's controller listener
// serves both the quorum and the brokers.
const rpcMagic = 0xC5

// Transport is a node's controller listener: hashicorp/raft's NetworkTransport over TCP
// for the quorum, and on the same port the controller RPC (rpc.go) that brokers use.
type Transport struct {
	net *raft.NetworkTransport
	mux *muxLayer
}

// Listen opens a controller listener on bind (host:port; port 0 picks one). advertise is
// the host:port the other voters reach it at (its controller.quorum.voters entry); empty
// means the bound address, which must then name a host.
func Listen(bind, advertise string, logger *slog.Logger) (*Transport, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the metadata quorum on %q: %w", bind, err)
	}
	var adv net.Addr = ln.Addr()
	if advertise != "" {
		adv = strAddr(advertise)
	} else if ln.Addr().(*net.TCPAddr).IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("cannot listen for the metadata quorum on %q: name the host the other voters reach this node at", bind)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &muxLayer{ln: ln, advertise: adv, raftConns: make(chan net.Conn), closed: make(chan struct{}), conns: map[net.Conn]bool{}, ctx: ctx, cancel: cancel}
	m.wg.Add(1)
	go m.serve()
	return &Transport{net: raft.NewNetworkTransportWithLogger(m, 3, 10*time.Second, hclogFor(logger)), mux: m}, nil
}

type strAddr string

func (a strAddr) Network() string { return "tcp" }
func (a strAddr) String() string  { return string(a) }

// Addr returns the advertised host:port.
func (t *Transport) Addr() string { return t.mux.advertise.String() }

// Close stops listening and closes open RPC connections.
func (t *Transport) Close() error { return t.net.Close() }

// muxLayer is a raft.StreamLayer that hands raft the connections whose first byte is not
// rpcMagic and gives the others to the RPC handler.
type muxLayer struct {
	ln        net.Listener
	advertise net.Addr
	raftConns chan net.Conn
	handler   atomic.Pointer[func(context.Context, net.Conn)]
	// dial, when set (tests), replaces the TCP dial to a peer: the fault layer routes
	// each link through its own proxy.
	dial      func(addr string, timeout time.Duration) (net.Conn, error)
	ctx       context.Context // cancelled by Close: ends RPC handlers (a waiting Watch)
	cancel    context.CancelFunc
	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]bool // open accepted connections (Raft's and RPC), closed by Close
}

var _ raft.StreamLayer = (*muxLayer)(nil)

func (m *muxLayer) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		m.wg.Add(1)
		go m.route(c)
	}
}

func (m *muxLayer) route(c net.Conn) {
	defer m.wg.Done()
	var b [1]byte
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	if b[0] != rpcMagic {
		// Raft's handler closes the connection when done; Close closes the rest, so
		// a closed node drops its peers' connections as a dead process would.
		pc := &prefixConn{Conn: c, prefix: b[0], pending: true, m: m}
		if !m.track(c) {
			c.Close()
			return
		}
		select {
		case m.raftConns <- pc:
		case <-m.closed:
			pc.Close()
		}
		return
	}
	h := m.handler.Load()
	if h == nil || !m.track(c) {
		c.Close()
		return
	}
	(*h)(m.ctx, c)
	m.untrack(c)
	c.Close()
}

// track records an open connection for Close; false when the layer is closed.
func (m *muxLayer) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns == nil {
		return false
	}
	m.conns[c] = true
	return true
}

func (m *muxLayer) untrack(c net.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns != nil {
		delete(m.conns, c)
	}
}

func (m *muxLayer) setHandler(h func(context.Context, net.Conn)) { m.handler.Store(&h) }

// Accept implements net.Listener for raft.
func (m *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftConns:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: it stops accepting, closes every accepted connection and
// waits for its goroutines.
func (m *muxLayer) Close() error {
	m.closeOnce.Do(func() {
		close(m.closed)
		m.cancel()
		m.ln.Close()
		m.mu.Lock()
		for c := range m.conns {
			c.Close()
		}
		m.conns = nil
		m.mu.Unlock()
		m.wg.Wait()
	})
	return nil
}

// Addr is the advertised address: raft sends it to peers as this node's address.
func (m *muxLayer) Addr() net.Addr { return m.advertise }

// Dial implements raft.StreamLayer.
func (m *muxLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if m.dial != nil {
		return m.dial(string(addr), timeout)
	}
	return net.DialTimeout("tcp", string(addr), timeout)
}

// prefixConn returns the peeked first byte before the rest of the connection.
type prefixConn struct {
	net.Conn
	prefix  byte
	pending bool
	m       *muxLayer
}

func (c *prefixConn) Close() error {
	c.m.untrack(c.Conn)
	return c.Conn.Close()
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		p[0] = c.prefix
		c.pending = false
		return 1, nil
	}
	return c.Conn.Read(p)
}
