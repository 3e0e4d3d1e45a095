package test

// An idempotent franz-go producer whose batch was written by a broker that then went away
// retries it against a broker restored from the bucket on an empty data dir: the producer
// snapshot uploaded with the segment lets the new broker recognise the retry, so the record
// is not written twice and the producer carries on.

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/brokertest"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// blackholeProxy forwards Kafka connections to target; while swallowing is on, every
// Produce request still reaches the broker but its response is swallowed and the client
// connection cut, so the producer keeps retrying a batch the broker has written.
type blackholeProxy struct {
	ln         net.Listener
	target     string
	swallowing atomic.Bool
	swallowed  atomic.Int32
	wg         sync.WaitGroup
}

func startBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.handle(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *blackholeProxy) port() string {
	_, port, _ := net.SplitHostPort(p.ln.Addr().String())
	return port
}

func (p *blackholeProxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var mu sync.Mutex
	doomed := map[int32]bool{}
	go func() {
		defer server.Close()
		defer client.Close()
		for {
			req, err := readFrame(client)
			if err != nil {
				return
			}
			if len(req) >= 12 && int16(binary.BigEndian.Uint16(req[4:])) == int16(kmsg.Produce) && p.swallowing.Load() {
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
		mu.Lock()
		drop := doomed[int32(binary.BigEndian.Uint32(resp[4:]))]
		mu.Unlock()
		if drop {
			p.swallowed.Add(1)
			return
		}
		if _, err := client.Write(resp); err != nil {
			return
		}
	}
}

// startRestoreBroker runs a broker over dir listening on listen and advertising the proxy's
// port, tiering to store under the prefix "idem". It returns the broker and its Stop.
func startRestoreBroker(t *testing.T, dir, listen, advertisedPort string, store tiering.ObjectStore) (*brokertest.Broker, func()) {
	t.Helper()
	tb := brokertest.Start(t, brokertest.Config{Dir: dir, Addr: listen, Store: store,
		Props: map[string]string{
			"advertised.listeners":            "PLAINTEXT://127.0.0.1:" + advertisedPort,
			"log.retention.check.interval.ms": "50",
			"remote.log.upload.interval.ms":   "200",
		},
		Edit: func(c *broker.Config) { c.RemotePrefix = "idem" },
	})
	return tb, func() { tb.Stop(t) }
}

func listOffset(t *testing.T, cl *kgo.Client, topic string, ts int64) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 9
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.CurrentLeaderEpoch = ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		return -1
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return -1
	}
	return p.Offset
}

func TestIdempotentRetryDeduplicatedAfterRestoreFromBucket(t *testing.T) {
	store := memstore.New()
	// The proxy needs the broker's address, the broker the proxy's port: reserve the
	// broker's port first.
	port, err := miniotest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", port)
	proxy := startBlackholeProxy(t, brokerAddr)

	b1, stop1 := startRestoreBroker(t, t.TempDir(), brokerAddr, proxy.port(), store)
	direct1, err := kgo.NewClient(kgo.SeedBrokers(b1.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer direct1.Close()
	const topic = "idem-restore"
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = topic, 1, 1
	for k, v := range map[string]string{"remote.storage.enable": "true", "retention.ms": "-1"} {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		ctt.Configs = append(ctt.Configs, c)
	}
	ct.Topics = append(ct.Topics, ctt)
	if resp, err := ct.RequestWith(t.Context(), direct1); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v %+v", err, resp)
	}

	prod, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:"+proxy.port()),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent (franz-go's default)
		kgo.ProducerLinger(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const before = 5
	for i := range before {
		r := &kgo.Record{Value: []byte("v" + strconv.Itoa(i))}
		if err := prod.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if r.ProducerID < 0 {
			t.Fatal("producer is not idempotent")
		}
	}

	// The next batch is written by b1, but the producer never hears of it.
	proxy.swallowing.Store(true)
	type result struct {
		r   *kgo.Record
		err error
	}
	retried := make(chan result, 1)
	prod.Produce(context.Background(), &kgo.Record{Value: []byte("v" + strconv.Itoa(before))}, func(r *kgo.Record, err error) {
		retried <- result{r, err}
	})
	// Wait until b1 holds it and has uploaded the segment with it (rolled by the upload
	// interval), so the bucket holds the batch and the producer snapshot after it.
	deadline := time.Now().Add(20 * time.Second)
	for listOffset(t, direct1, topic, -1) != before+1 || listOffset(t, direct1, topic, -5) != before {
		if time.Now().After(deadline) {
			t.Fatalf("b1: log end %d, latest tiered %d; want %d and %d", listOffset(t, direct1, topic, -1), listOffset(t, direct1, topic, -5), before+1, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if proxy.swallowed.Load() == 0 {
		t.Fatal("no produce response swallowed")
	}
	direct1.Close()
	stop1()

	// A new broker on an empty data dir, same bucket, same address.
	b2, _ := startRestoreBroker(t, t.TempDir(), brokerAddr, proxy.port(), store)
	proxy.swallowing.Store(false)
	var res result
	select {
	case res = <-retried:
	case <-time.After(30 * time.Second):
		t.Fatal("the retried produce did not complete")
	}
	if res.err != nil || res.r.Offset != before {
		t.Fatalf("retried batch after restore: offset %d, err %v; want offset %d (the original)", res.r.Offset, res.err, before)
	}
	const after = 4
	for i := before + 1; i <= before+after; i++ {
		r := &kgo.Record{Value: []byte("v" + strconv.Itoa(i))}
		if err := prod.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatalf("produce %d after restore: %v", i, err)
		}
		if r.Offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, r.Offset)
		}
	}

	// Everything once, in order, from the bucket and the new local log.
	cons, err := kgo.NewClient(kgo.SeedBrokers(b2.Addr()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	const total = before + 1 + after
	var got []string
	for len(got) < total && time.Now().Before(deadline.Add(20*time.Second)) {
		cons.PollRecords(ctxTimeout(t, 2*time.Second), total).EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(len(got)) {
				t.Errorf("record %q at offset %d, want %d", r.Value, r.Offset, len(got))
			}
			got = append(got, string(r.Value))
		})
	}
	cons.PollRecords(ctxTimeout(t, 300*time.Millisecond), total).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	if len(got) != total {
		t.Fatalf("consumed %d records, want %d: %v", len(got), total, got)
	}
	for i, v := range got {
		if v != "v"+strconv.Itoa(i) {
			t.Fatalf("record %d is %q: %v", i, v, got)
		}
	}
}
