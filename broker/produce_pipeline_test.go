package broker

import (
	"bufio"
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment"
)

// gatedFS is the OS filesystem whose .log fsyncs wait until allowOne lets one through or
// open all of them.
type gatedFS struct {
	segment.OSFS
	mu      sync.Mutex
	gate    chan struct{} // closed: fsyncs pass
	tokens  chan struct{} // one fsync passes per token
	started chan string   // gets the name of every .log fsync that starts waiting
}

func newGatedFS() *gatedFS {
	return &gatedFS{gate: make(chan struct{}), tokens: make(chan struct{}), started: make(chan string, 1024)}
}

func (g *gatedFS) allowOne() { g.tokens <- struct{}{} }

func (g *gatedFS) open() {
	g.mu.Lock()
	select {
	case <-g.gate:
	default:
		close(g.gate)
	}
	g.mu.Unlock()
}

func (g *gatedFS) OpenFile(name string, flag int, perm os.FileMode) (segment.File, error) {
	f, err := g.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return gatedFile{f.(*os.File), g}, nil
}

type gatedFile struct {
	*os.File
	g *gatedFS
}

func (f gatedFile) Sync() error {
	f.g.mu.Lock()
	gate := f.g.gate
	f.g.mu.Unlock()
	select {
	case <-gate:
	default:
		f.g.started <- f.Name()
		select {
		case <-gate:
		case <-f.g.tokens:
		}
	}
	return f.File.Sync()
}

// readWatch wraps a broker's listener so that a test can tell when the broker has read,
// decoded and queued every request written to a connection: the connection's reader calls
// Read again only once it has handed every complete frame it holds to the worker, so a
// Read that starts with all the bytes written already read means they are all queued.
type readWatch struct {
	net.Listener
	mu   sync.Mutex
	last *watchedConn
}

func (w *readWatch) Accept() (net.Conn, error) {
	nc, err := w.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &watchedConn{Conn: nc}
	c.waiting.Store(-1)
	w.mu.Lock()
	w.last = c
	w.mu.Unlock()
	return c, nil
}

// queued reports whether the broker's reader of the latest connection has queued the
// first n bytes' worth of requests and waits for more.
func (w *readWatch) queued(n int64) bool {
	w.mu.Lock()
	c := w.last
	w.mu.Unlock()
	return c != nil && c.waiting.Load() == n
}

type watchedConn struct {
	net.Conn
	read    atomic.Int64 // bytes returned by Read so far
	waiting atomic.Int64 // bytes read before the Read in progress started; -1: none
}

func (c *watchedConn) Read(p []byte) (int, error) {
	c.waiting.Store(c.read.Load())
	n, err := c.Conn.Read(p)
	c.waiting.Store(-1)
	c.read.Add(int64(n))
	return n, err
}

// startGatedBroker is startCoreBroker with partition logs on fs.
func startGatedBroker(t *testing.T, fs segment.FS) *Broker {
	t.Helper()
	b, _ := startWatchedGatedBroker(t, fs)
	return b
}

// startWatchedGatedBroker is startGatedBroker with a readWatch on its listener (its
// connections are not *net.TCPConn, so fetch responses take the copy path, not sendfile).
func startWatchedGatedBroker(t *testing.T, fs segment.FS) (*Broker, *readWatch) {
	t.Helper()
	cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.segmentFS = fs
	w := &readWatch{Listener: b.listeners[0].ln}
	b.listeners[0].ln = w
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	if g, ok := fs.(*gatedFS); ok {
		t.Cleanup(g.open) // runs first: a failed test must not leave the close stuck in an fsync
	}
	return b, w
}

func produceFrame(t *testing.T, topic string, partition int32, acks int16, timeoutMs int32, ts int64, corr int32) []byte {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = acks
	req.TimeoutMillis = timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = testBatch(t, codecNone, ts, []int64{0}, false)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return encodeRequest(req, corr, "pipe")
}

// readProduceResponse reads one response and checks that it answers corr.
func readProduceResponse(t *testing.T, br *bufio.Reader, corr int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	got, body := readResponse(t, br, true)
	if got != corr {
		t.Fatalf("response to correlation id %d, want %d: responses out of request order", got, corr)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(9)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode produce response %d: %v", corr, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response %d: %+v", corr, resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestProducePipelining: while an acks=-1 produce waits for its fsync with more requests
// queued behind it, the connection's next produce requests are appended (not queued behind
// the wait), and every response still goes out in request order, each only once its own
// records are durable; a request of another API waits for the pending produce responses.
func TestProducePipelining(t *testing.T) {
	fs := newGatedFS()
	b, w := startWatchedGatedBroker(t, fs)
	topic, err := b.createTopic("pipe", 2, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := topic.partition(0), topic.partition(1)
	c := dialCore(t, b)
	br := bufio.NewReader(c)
	var written int64
	write := func(frame []byte) {
		written += int64(len(frame))
		c.Write(frame)
	}

	// Request 1 comes alone: the worker waits for its fsync itself, so requests 2-5
	// queue up behind it.
	write(produceFrame(t, "pipe", 0, -1, 30000, 1000, 1))
	<-fs.started
	write(produceFrame(t, "pipe", 0, -1, 30000, 2000, 2))
	write(produceFrame(t, "pipe", 1, -1, 30000, 3000, 3))
	write(produceFrame(t, "pipe", 0, 1, 30000, 4000, 4)) // acks=1: answered after 1-3
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(9)
	write(encodeRequest(meta, 5, "pipe"))
	// All read and queued (a fixed 50 ms sleep was a guess that a loaded machine can miss).
	waitFor(t, "requests 2-5 queued", func() bool { return w.queued(written) })
	if hw := p0.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d while request 1 waits alone, want 1", hw)
	}
	fs.allowOne() // request 1's fsync finishes; request 2's is held again

	if rp := readProduceResponse(t, br, 1); rp.ErrorCode != 0 || rp.BaseOffset != 0 {
		t.Fatalf("response 1: error %d, base offset %d; want 0, 0", rp.ErrorCode, rp.BaseOffset)
	}
	// Requests 3 and 4 are appended while request 2 waits for its fsync.
	waitFor(t, "requests 3-4 appended during the fsync of request 2", func() bool {
		return p0.HighWatermark() == 3 && p1.HighWatermark() == 1
	})
	if d := p0.LogForTesting().DurableOffset(); d != 1 {
		t.Fatalf("partition 0 durable offset %d while request 2's fsync is held, want 1", d)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var one [1]byte
	if n, err := c.Read(one[:]); n != 0 || err == nil {
		t.Fatalf("a response (%d bytes, err %v) while request 2's fsync is held", n, err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))

	fs.open()
	for i, want := range []int64{1, 0, 2} {
		corr := int32(i + 2)
		rp := readProduceResponse(t, br, corr)
		if rp.ErrorCode != 0 || rp.BaseOffset != want {
			t.Fatalf("response %d: error %d, base offset %d; want 0, %d", corr, rp.ErrorCode, rp.BaseOffset, want)
		}
		if corr == 2 && p0.LogForTesting().DurableOffset() < 2 {
			t.Fatalf("response 2 sent with partition 0 durable below 2 (%d)", p0.LogForTesting().DurableOffset())
		}
		if corr == 3 && p1.LogForTesting().DurableOffset() < 1 {
			t.Fatalf("response 3 sent with partition 1 not durable")
		}
	}
	if corr, _ := readResponse(t, br, true); corr != 5 {
		t.Fatalf("metadata response has correlation id %d, want 5", corr)
	}
}

// TestProducePipeliningTimeout: a pending produce whose wait outlasts its timeout answers
// REQUEST_TIMED_OUT after the earlier responses, and the connection goes on.
func TestProducePipeliningTimeout(t *testing.T) {
	fs := newGatedFS()
	b, w := startWatchedGatedBroker(t, fs)
	topic, err := b.createTopic("pipe", 2, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	c := dialCore(t, b)
	br := bufio.NewReader(c)
	var written int64
	write := func(frame []byte) {
		written += int64(len(frame))
		c.Write(frame)
	}

	write(produceFrame(t, "pipe", 0, -1, 30000, 1000, 1))
	<-fs.started // the worker waits for request 1's fsync
	write(produceFrame(t, "pipe", 0, -1, 30000, 2000, 2))
	write(produceFrame(t, "pipe", 1, -1, 30000, 2500, 3))
	waitFor(t, "requests 2-3 queued", func() bool { return w.queued(written) })
	fs.allowOne()
	<-fs.started // request 2 runs partition 0's next fsync, deferred
	<-fs.started // request 3 runs partition 1's
	c.Write(produceFrame(t, "pipe", 0, -1, 100, 3000, 4))
	waitFor(t, "request 4 appended", func() bool { return topic.partition(0).HighWatermark() == 3 })
	time.Sleep(300 * time.Millisecond) // request 4 times out waiting behind request 2's fsync
	fs.open()
	for i, want := range []int64{0, 1, 0} {
		corr := int32(i + 1)
		if rp := readProduceResponse(t, br, corr); rp.ErrorCode != 0 || rp.BaseOffset != want {
			t.Fatalf("response %d: error %d, base offset %d; want 0, %d", corr, rp.ErrorCode, rp.BaseOffset, want)
		}
	}
	if rp := readProduceResponse(t, br, 4); rp.ErrorCode != kerr.RequestTimedOut.Code || rp.BaseOffset != -1 {
		t.Fatalf("response 4: error %d, base offset %d; want REQUEST_TIMED_OUT, -1", rp.ErrorCode, rp.BaseOffset)
	}
	c.Write(produceFrame(t, "pipe", 0, -1, 30000, 4000, 5))
	if rp := readProduceResponse(t, br, 5); rp.ErrorCode != 0 || rp.BaseOffset != 3 {
		t.Fatalf("response 5: error %d, base offset %d; want 0, 3", rp.ErrorCode, rp.BaseOffset)
	}
}

// TestProducePipeliningClose: a connection that goes away with produce responses pending
// leaves no goroutine behind and the broker closes cleanly (startGatedBroker's cleanup).
func TestProducePipeliningClose(t *testing.T) {
	fs := newGatedFS()
	b := startGatedBroker(t, fs)
	if _, err := b.createTopic("pipe", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write(produceFrame(t, "pipe", 0, -1, 30000, 1000, 1))
	<-fs.started
	c.Write(produceFrame(t, "pipe", 0, -1, 30000, 2000, 2))
	c.Write(produceFrame(t, "pipe", 0, -1, 30000, 3000, 3))
	time.Sleep(20 * time.Millisecond)
	fs.allowOne()
	<-fs.started // request 2 pending, request 3 waiting behind it
	c.Close()
	time.Sleep(20 * time.Millisecond)
	fs.open()
}

// TestProduceWakesFetchesWhenDurable: an acks=-1 produce makes its batch visible at once
// but wakes the fetches long-polling its partition only once the batch is fsynced (or its
// wait failed); acks=1 wakes them right after the append.
func TestProduceWakesFetchesWhenDurable(t *testing.T) {
	fs := newGatedFS()
	b := startGatedBroker(t, fs)
	topic, err := b.createTopic("wake", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	woken := make(chan struct{}, 1)
	p.Subscribe(woken)
	defer p.Unsubscribe(woken)
	isWoken := func() bool {
		select {
		case <-woken:
			return true
		default:
			return false
		}
	}
	produce := func(acks int16, timeoutMs int32, ts int64) *kmsg.ProduceResponse {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks = acks
		req.TimeoutMillis = timeoutMs
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "wake"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = testBatch(t, codecNone, ts, []int64{0}, false)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleProduce(t.Context(), req)
		if err != nil {
			t.Fatalf("produce acks=%d: %v", acks, err)
		}
		return resp.(*kmsg.ProduceResponse)
	}

	done := make(chan *kmsg.ProduceResponse, 1)
	go func() { done <- produce(-1, 30000, 1000) }()
	<-fs.started // appended; its fsync is held
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d while the fsync is held, want 1 (visible before durable)", hw)
	}
	if isWoken() {
		t.Fatal("fetches woken before the acks=-1 batch is durable")
	}
	fs.allowOne()
	if resp := <-done; resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("acks=-1 produce: error %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
	if !isWoken() {
		t.Fatal("fetches not woken once the acks=-1 batch is durable")
	}

	// acks=1 does not wait for the (still gated) fsync and wakes at once.
	if resp := produce(1, 30000, 2000); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("acks=1 produce: error %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
	if !isWoken() {
		t.Fatal("fetches not woken by an acks=1 append")
	}

	// A wait that times out (behind a held fsync) still wakes them: the batch stays in
	// the log.
	go func() { done <- produce(-1, 30000, 3000) }()
	<-fs.started
	isWoken() // whatever the first of these two did before its fsync started
	if resp := produce(-1, 50, 4000); resp.Topics[0].Partitions[0].ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("acks=-1 produce behind a held fsync: error %d, want REQUEST_TIMED_OUT", resp.Topics[0].Partitions[0].ErrorCode)
	}
	if !isWoken() {
		t.Fatal("fetches not woken after an acks=-1 wait timed out")
	}
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d, want 4", hw)
	}
	fs.open()
	if resp := <-done; resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("acks=-1 produce: error %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
}
