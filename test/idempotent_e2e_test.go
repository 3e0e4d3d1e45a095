package test

import (
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dropProxy forwards Kafka connections to a broker and, for the first `drop` Produce
// requests, lets the request reach the broker but swallows its response and cuts the
// connection: the producer cannot know whether the batch was written and must retry.
type dropProxy struct {
	ln      net.Listener
	target  string
	drop    atomic.Int32 // produce responses still to drop
	dropped atomic.Int32
	wg      sync.WaitGroup
}

func startDropProxy(t *testing.T, drop int32) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln}
	p.drop.Store(drop)
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *dropProxy) port() string {
	_, port, _ := net.SplitHostPort(p.ln.Addr().String())
	return port
}

func (p *dropProxy) serve(target string) {
	p.target = target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.handle(c) }()
		}
	}()
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return nil, io.ErrUnexpectedEOF
	}
	b := make([]byte, 4+n)
	copy(b, size[:])
	_, err := io.ReadFull(r, b[4:])
	return b, err
}

func (p *dropProxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var mu sync.Mutex
	doomed := map[int32]bool{} // correlation ids whose response is dropped
	go func() {
		defer server.Close()
		defer client.Close()
		for {
			req, err := readFrame(client)
			if err != nil {
				return
			}
			if len(req) >= 12 && int16(binary.BigEndian.Uint16(req[4:])) == int16(kmsg.Produce) && p.drop.Add(-1) >= 0 {
				mu.Lock()
				doomed[int32(binary.BigEndian.Uint32(req[8:]))] = true
				mu.Unlock()
			}
			if _, err := server.Write(req); err != nil {
				return
			}
		}
	}()
	for {
		resp, err := readFrame(server)
		if err != nil {
			return
		}
		corr := int32(binary.BigEndian.Uint32(resp[4:]))
		mu.Lock()
		drop := doomed[corr]
		mu.Unlock()
		if drop {
			p.dropped.Add(1)
			return // the broker wrote the batch; the producer never hears of it
		}
		if _, err := client.Write(resp); err != nil {
			return
		}
	}
}

func TestIdempotentRetryAfterDroppedResponseNoDuplicates(t *testing.T) {
	proxy := startDropProxy(t, 2)
	gb := startGroupBroker(t, t.TempDir(), map[string]string{
		"advertised.listeners": "PLAINTEXT://127.0.0.1:" + proxy.port(),
	})
	proxy.serve(gb.addr())
	requireAPI(t, gb.addr(), kmsg.InitProducerID)
	const topic = "exactly-once"
	groupCreateTopic(t, gb.addr(), topic, 1)

	cl := groupClient(t, gb.addr(),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is franz-go's default
		kgo.ProducerLinger(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	)
	defer cl.Close()
	const n = 50
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Value: []byte("v" + strconv.Itoa(i))}
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if r.ProducerID < 0 {
			t.Fatal("producer is not idempotent")
		}
	}
	if d := proxy.dropped.Load(); d != 2 {
		t.Fatalf("proxy dropped %d responses, want 2", d)
	}

	cons := groupClient(t, gb.addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cons.Close()
	var got []string
	var offsets []int64
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		fs := cons.PollRecords(t.Context(), n)
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, string(r.Value))
			offsets = append(offsets, r.Offset)
		})
	}
	// Give a duplicate the chance to show up.
	fs := cons.PollRecords(ctxTimeout(t, time.Second), n)
	fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d (duplicates or loss): %v", len(got), n, got)
	}
	for i, v := range got {
		if v != "v"+strconv.Itoa(i) || offsets[i] != int64(i) {
			t.Fatalf("record %d: %q at offset %d", i, v, offsets[i])
		}
	}
}
