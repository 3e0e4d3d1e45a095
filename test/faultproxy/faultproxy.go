// Package faultproxy is the fault layer of Strata's cluster tests: a TCP proxy per link
// between two nodes that can stall either direction (a network partition: bytes wait, as
// TCP retransmits them, and flow again on Heal) or reset every connection (a crashed peer
// or a firewall's RST). Tests route every node-to-node connection through one Proxy per
// directed link, so isolating a node is stalling the links that touch it; process faults
// (kill -9, SIGSTOP) are signals to the process and need no proxy.
//
// Unlike network namespaces it needs no privileges, runs in-process or in front of
// processes alike, and can cut one direction only.
package faultproxy

import (
	"errors"
	"net"
	"sync"
)

// Direction is one way through a proxy.
type Direction int

const (
	Forward  Direction = iota // from the connecting side to the target
	Backward                  // from the target back to the connecting side
)

// Proxy forwards connections accepted on Addr to its target. It is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cond    *sync.Cond
	stalled [2]bool
	conns   map[net.Conn]bool
	closed  bool
	wg      sync.WaitGroup
}

// New listens on 127.0.0.1 (a free port) and forwards to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address to connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stall stops forwarding in direction d: bytes wait in the proxy (and, once its buffer
// is full, in the kernel) until Heal. New connections are accepted and stall too.
func (p *Proxy) Stall(d Direction) {
	p.mu.Lock()
	p.stalled[d] = true
	p.mu.Unlock()
}

// Partition stalls both directions.
func (p *Proxy) Partition() { p.Stall(Forward); p.Stall(Backward) }

// Heal forwards both directions again, including the bytes that waited.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.stalled = [2]bool{}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Reset closes every open connection through the proxy; new ones are still accepted.
func (p *Proxy) Reset() {
	p.mu.Lock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, as a crashed host's kernel would answer
		}
		c.Close()
		delete(p.conns, c)
	}
	p.cond.Broadcast() // stalled pipes of the closed connections end
	p.mu.Unlock()
}

// Close stops the proxy, closes its connections and waits for its goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Reset()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.wg.Add(1)
		go p.serve(in)
	}
}

func (p *Proxy) serve(in net.Conn) {
	defer p.wg.Done()
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		in.Close()
		return
	}
	if !p.track(in, out) {
		in.Close()
		out.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(out, in, Forward) })
	wg.Go(func() { p.pipe(in, out, Backward) })
	wg.Wait()
	p.untrack(in, out)
}

// pipe copies src to dst, waiting while direction d is stalled. When either side ends,
// both connections are closed, as a proxy's peer would see.
func (p *Proxy) pipe(dst, src net.Conn, d Direction) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled[d] && p.conns[src] {
				p.cond.Wait()
			}
			open := p.conns[src]
			p.mu.Unlock()
			if !open {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: the other pipe ends with it
		}
	}
}
