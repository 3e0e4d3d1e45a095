package compat

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// dropProxy sits between clients and the broker (which advertises the proxy's address, so
// clients reach the broker only through it) and loses Produce responses: the responses to
// Produce requests 1, 1+dropEvery, 1+2*dropEvery ..., up to maxDrops of them, are
// swallowed and both sides of that connection are closed. The broker has written the batch; the client never hears
// so and must retry, and an idempotent producer's retry must not write the batch again.
type dropProxy struct {
	ln        net.Listener
	target    string
	dropEvery int64
	maxDrops  int64
	produces  atomic.Int64
	dropped   atomic.Int64
	wg        sync.WaitGroup
}

func startDropProxy(t *testing.T, dropEvery, maxDrops int64) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, dropEvery: dropEvery, maxDrops: maxDrops}
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *dropProxy) addr() string { return p.ln.Addr().String() }

// serve forwards connections to target until the listener is closed.
func (p *dropProxy) serve(target string) {
	p.target = target
	p.wg.Go(func() {
		var conns []net.Conn
		var mu sync.Mutex
		defer func() {
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		}()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, b)
			mu.Unlock()
			p.wg.Go(func() { p.pipe(c, b) })
		}
	})
}

func (p *dropProxy) pipe(client, broker net.Conn) {
	defer client.Close()
	defer broker.Close()
	var mu sync.Mutex
	produceCorr := map[int32]bool{}
	p.wg.Go(func() { // client -> broker: note the correlation ids of Produce requests
		defer broker.Close()
		for {
			frame, err := readFrame(client)
			if err != nil {
				return
			}
			if len(frame) >= 8 && binary.BigEndian.Uint16(frame[0:2]) == 0 {
				mu.Lock()
				produceCorr[int32(binary.BigEndian.Uint32(frame[4:8]))] = true
				mu.Unlock()
			}
			if writeFrame(broker, frame) != nil {
				return
			}
		}
	})
	for { // broker -> client: maybe lose a Produce response
		frame, err := readFrame(broker)
		if err != nil || len(frame) < 4 {
			return
		}
		corr := int32(binary.BigEndian.Uint32(frame[0:4]))
		mu.Lock()
		isProduce := produceCorr[corr]
		delete(produceCorr, corr)
		mu.Unlock()
		if isProduce && p.produces.Add(1)%p.dropEvery == 1 && p.dropped.Load() < p.maxDrops {
			p.dropped.Add(1)
			return // the response is lost with the connection
		}
		if writeFrame(client, frame) != nil {
			return
		}
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	buf := make([]byte, n)
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func writeFrame(w io.Writer, frame []byte) error {
	buf := make([]byte, 4+len(frame))
	binary.BigEndian.PutUint32(buf, uint32(len(frame)))
	copy(buf[4:], frame)
	_, err := w.Write(buf)
	return err
}
