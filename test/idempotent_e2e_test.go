package test

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// dropProxy forwards Kafka connections to a broker and, for the Produce requests whose
// ordinal (1-based, over all connections) is in drop, lets the request reach the broker
// but swallows its response and cuts the connection: the producer cannot know whether
// the batch was written and must retry.
type dropProxy struct {
	ln       net.Listener
	target   string
	drop     map[int32]bool
	produces atomic.Int32
	dropped  atomic.Int32
	wg       sync.WaitGroup
}

func startDropProxy(t *testing.T, drop ...int32) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, drop: map[int32]bool{}}
	for _, d := range drop {
		p.drop[d] = true
	}
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
			if len(req) >= 12 && int16(binary.BigEndian.Uint16(req[4:])) == int16(kmsg.Produce) && p.drop[p.produces.Add(1)] {
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
	proxy := startDropProxy(t, 1, 2) // the first produce and its first retry
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

// rawBatch builds a v2 record batch of n records for producer pid/epoch starting at
// sequence seq (uncompressed, CRC-32C over attributes onward).
func rawBatch(pid int64, epoch int16, seq int32, n int) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		var r []byte
		r = append(r, 0)                     // attributes
		r = binary.AppendVarint(r, 0)        // timestamp delta
		r = binary.AppendVarint(r, int64(i)) // offset delta
		r = binary.AppendVarint(r, -1)       // null key
		v := []byte("seq-" + strconv.Itoa(int(seq)+i))
		r = binary.AppendVarint(r, int64(len(v)))
		r = append(r, v...)
		r = binary.AppendVarint(r, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	now := time.Now().UnixMilli()
	var tail []byte // from attributes to the end: what the CRC covers
	tail = binary.BigEndian.AppendUint16(tail, 0)
	tail = binary.BigEndian.AppendUint32(tail, uint32(n-1))
	tail = binary.BigEndian.AppendUint64(tail, uint64(now))
	tail = binary.BigEndian.AppendUint64(tail, uint64(now))
	tail = binary.BigEndian.AppendUint64(tail, uint64(pid))
	tail = binary.BigEndian.AppendUint16(tail, uint16(epoch))
	tail = binary.BigEndian.AppendUint32(tail, uint32(seq))
	tail = binary.BigEndian.AppendUint32(tail, uint32(n))
	tail = append(tail, recs...)
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(4+1+4+len(tail)))
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // partition leader epoch
	b = append(b, 2)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(tail, crc32.MakeTable(crc32.Castagnoli)))
	return append(b, tail...)
}

// rawProduce sends one batch (acks=all) and returns the partition's error code and base offset.
func rawProduce(t *testing.T, cl *kgo.Client, topic string, batch []byte) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

func rawClientFor(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(kmsg.Produce), 12) // v13 names topics by id
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(vs), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestIdempotentDedupSurvivesRestart: the producer state of a partition (last 5 batches
// per producer) must be rebuilt on restart (snapshot + replay of the log tail), or a retry
// that crosses a broker restart is written twice.
func TestIdempotentDedupSurvivesRestart(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), nil)
	requireAPI(t, gb.addr(), kmsg.InitProducerID)
	const topic = "idem-restart"
	groupCreateTopic(t, gb.addr(), topic, 1)
	cl := rawClientFor(t, gb.addr())
	ir, err := kmsgInitProducerID(t, cl)
	if err != nil {
		t.Fatal(err)
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch
	f := func(cl *kgo.Client, seq int32, n int, wantCode int16, wantBase int64) {
		t.Helper()
		code, base := rawProduce(t, cl, topic, rawBatch(pid, epoch, seq, n))
		if code != wantCode || (wantCode == 0 && base != wantBase) {
			t.Fatalf("produce seq %d: code %d base %d, want code %d base %d", seq, code, base, wantCode, wantBase)
		}
	}
	f(cl, 0, 3, 0, 0)
	f(cl, 3, 1, 0, 3)
	f(cl, 3, 1, 0, 3) // duplicate before restart
	cl.Close()

	gb.restart()
	cl = rawClientFor(t, gb.addr())
	f(cl, 3, 1, 0, 3) // duplicate after restart: same offset, nothing written
	f(cl, 0, 3, 0, 0)
	f(cl, 4, 2, 0, 4)
	f(cl, 7, 1, kerr.OutOfOrderSequenceNumber.Code, 0)

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1}}}}
	lr, err := lo.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if end := lr.Topics[0].Partitions[0].Offset; end != 6 {
		t.Fatalf("log end offset %d, want 6 (a duplicate was written)", end)
	}
}

// Many batches in flight (franz-go keeps up to 5 per partition) while responses are
// dropped: every retry is recognised, nothing is written twice and order holds.
func TestIdempotentInFlightRetriesKeepOrder(t *testing.T) {
	proxy := startDropProxy(t, 3, 6, 10)
	gb := startGroupBroker(t, t.TempDir(), map[string]string{
		"advertised.listeners": "PLAINTEXT://127.0.0.1:" + proxy.port(),
	})
	proxy.serve(gb.addr())
	requireAPI(t, gb.addr(), kmsg.InitProducerID)
	const topic, n = "in-flight", 3000
	groupCreateTopic(t, gb.addr(), topic, 2)

	cl := groupClient(t, gb.addr(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProducerBatchMaxBytes(4<<10),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	defer cl.Close()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		v := strconv.Itoa(i)
		cl.Produce(t.Context(), &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d produces failed", f)
	}
	// A request doomed to lose its response may instead die with the connection an
	// earlier drop cut, so at least one (usually two or three) responses were dropped.
	if d := proxy.dropped.Load(); d < 1 {
		t.Fatal("no response was dropped")
	}
	cons := groupClient(t, gb.addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cons.Close()
	last := map[int32]int{0: -2, 1: -1}
	got := 0
	deadline := time.Now().Add(20 * time.Second)
	for got < n && time.Now().Before(deadline) {
		cons.PollFetches(ctxTimeout(t, 2*time.Second)).EachRecord(func(r *kgo.Record) {
			v, _ := strconv.Atoi(string(r.Value))
			if v != last[r.Partition]+2 {
				t.Fatalf("partition %d: %d after %d (duplicate, loss or reorder)", r.Partition, v, last[r.Partition])
			}
			last[r.Partition] = v
			got++
		})
	}
	if got != n {
		t.Fatalf("consumed %d of %d", got, n)
	}
	t.Logf("%d produce responses dropped", proxy.dropped.Load())
}

func kmsgInitProducerID(t *testing.T, cl *kgo.Client) (*kmsg.InitProducerIDResponse, error) {
	t.Helper()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionTimeoutMillis = 60000
	ir, err := init.RequestWith(t.Context(), cl)
	if err == nil {
		err = kerr.ErrorForCode(ir.ErrorCode)
	}
	return ir, err
}
