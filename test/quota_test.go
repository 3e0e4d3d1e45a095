package test

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/brokertest"
)

// throttleHook counts the responses of one client that carried a throttle time.
type throttleHook struct{ n atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
	}
}

// rateMeter measures the bytes a client moved, from its first throttled response on
// (before it, a fresh sensor lets a burst of (samples-1) windows through, as Kafka's does).
type rateMeter struct {
	mu    sync.Mutex
	start time.Time
	bytes int64
	last  time.Time
}

func (m *rateMeter) add(hook *throttleHook, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.start.IsZero() {
		if hook.n.Load() == 0 {
			return
		}
		m.start = now
		return
	}
	m.bytes += int64(n)
	m.last = now
}

// rate returns bytes/s over the measured span and the span.
func (m *rateMeter) rate() (float64, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.last.Sub(m.start)
	if d <= 0 {
		return 0, 0
	}
	return float64(m.bytes) / d.Seconds(), d
}

// Issue 19 "Client quotas": a producer and a consumer with byte-rate quotas (set with
// AlterClientQuotas, by client id) move data at the configured rate, within 20%, while a
// client without a quota on the same broker, producing and fetching at the same time, is
// never throttled (every response's throttle_time_ms is 0).
func TestClientQuotasThrottleToTheConfiguredRate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: measures rates for tens of seconds; make test runs it (never -short)")
	}
	reg := prometheus.NewRegistry()
	tb := brokertest.Start(t, brokertest.Config{
		// Two windows of a second: a throttled client's rate settles within seconds
		// (Kafka's default of 11 would let a first burst of 10 s of quota through).
		Props: map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"},
		Edit:  func(c *broker.Config) { c.Registerer = reg },
	})
	const (
		produceRate = 40 << 10 // bytes/s
		fetchRate   = 80 << 10
		valueSize   = 1000
	)
	// Records are not compressed: the quotas count the bytes on the wire.
	admCl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()), kgo.ClientID("admin"), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	for _, topic := range []string{"q-produce", "q-fetch", "q-free"} {
		if _, err := adm.CreateTopic(t.Context(), 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	// Data for the throttled consumer: 40 s worth at its rate, produced before any quota.
	value := []byte(strings.Repeat("x", valueSize))
	var recs []*kgo.Record
	for range 40 * fetchRate / valueSize {
		recs = append(recs, &kgo.Record{Topic: "q-fetch", Value: value})
	}
	if err := admCl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	name := func(s string) *string { return &s }
	altered, err := adm.AlterClientQuotas(t.Context(), []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: name("slow-producer")}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: produceRate}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: name("slow-consumer")}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: fetchRate}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range altered {
		if a.Err != nil {
			t.Fatalf("alter %v: %v %s", a.Entity, a.Err, a.ErrMessage)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// The throttled producer: keeps a few records in flight at all times.
	prodHook, prodMeter := &throttleHook{}, &rateMeter{}
	prod, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()), kgo.ClientID("slow-producer"), kgo.WithHooks(prodHook),
		kgo.DefaultProduceTopic("q-produce"), kgo.ProducerBatchMaxBytes(16<<10), kgo.MaxBufferedRecords(64),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			prod.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
				if err == nil {
					prodMeter.add(prodHook, len(r.Value))
				}
			})
		}
	}()

	// The throttled consumer.
	consHook, consMeter := &throttleHook{}, &rateMeter{}
	cons, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()), kgo.ClientID("slow-consumer"), kgo.WithHooks(consHook),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"q-fetch": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { consMeter.add(consHook, len(r.Value)) })
		}
	}()

	// The free client: produces and fetches as fast as it likes, with raw requests, so
	// every response's throttle_time_ms is checked.
	freeHook := &throttleHook{}
	free, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()), kgo.ClientID("free"), kgo.WithHooks(freeHook),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer free.Close()
	tds, err := adm.ListTopics(t.Context(), "q-fetch")
	if err != nil {
		t.Fatal(err)
	}
	var freeReqs, freeBytes atomic.Int64
	freeErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		freeErr <- freeClient(ctx, free, tds["q-fetch"].ID, value, &freeReqs, &freeBytes)
	}()

	// Measure 20 s of each throttled client after its first throttle: a response already
	// in flight (or prefetched by the client) when throttling starts adds up to a window's
	// quota, which over 10 s was most of the ±20%.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, pd := prodMeter.rate()
		_, cd := consMeter.rate()
		if pd >= 20*time.Second && cd >= 20*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes: producer measured for %v (%d throttles), consumer for %v (%d throttles)", pd, prodHook.n.Load(), cd, consHook.n.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if err := <-freeErr; err != nil {
		t.Fatal(err)
	}
	pr, pd := prodMeter.rate()
	cr, cd := consMeter.rate()
	t.Logf("producer: %.0f B/s over %v (quota %d B/s, %d throttled responses)", pr, pd.Round(time.Millisecond), produceRate, prodHook.n.Load())
	t.Logf("consumer: %.0f B/s over %v (quota %d B/s, %d throttled responses)", cr, cd.Round(time.Millisecond), fetchRate, consHook.n.Load())
	t.Logf("free client: %d requests, %d bytes produced, never throttled", freeReqs.Load(), freeBytes.Load())
	within := func(what string, got, want float64) {
		if got < 0.8*want || got > 1.2*want {
			t.Errorf("%s moved %.0f B/s, want %.0f ±20%%", what, got, want)
		}
	}
	// The quota counts whole requests and responses; record values are ~97% of them.
	within("throttled producer", pr, produceRate*0.97)
	within("throttled consumer", cr, fetchRate*0.97)
	if n := freeHook.n.Load(); n != 0 {
		t.Errorf("the free client got %d responses with a throttle time", n)
	}
	if freeReqs.Load() < 50 {
		t.Errorf("the free client made only %d requests", freeReqs.Load())
	}

	// Metrics per quota entity: the throttled clients' entities, nothing for the free one.
	if n := testutil.ToFloat64(counterWith(t, reg, "strata_quota_throttled_responses_total", "producer_byte_rate", "", "slow-producer")); n < 1 {
		t.Errorf("throttled producer responses metric = %v", n)
	}
	if n := testutil.ToFloat64(counterWith(t, reg, "strata_quota_throttled_responses_total", "consumer_byte_rate", "", "slow-consumer")); n < 1 {
		t.Errorf("throttled consumer responses metric = %v", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "strata_quota_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "client_id" && l.GetValue() == "free" {
					t.Errorf("%s has a series for the free client", mf.GetName())
				}
			}
		}
	}
}

// counterWith finds the counter name{quota_type, user, client_id} in reg.
func counterWith(t *testing.T, reg *prometheus.Registry, name, typ, user, client string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["quota_type"] == typ && got["user"] == user && got["client_id"] == client {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no %s{quota_type=%q,user=%q,client_id=%q}", name, typ, user, client)
	return nil
}

// freeClient produces batches to q-free and fetches q-fetch from the start, with raw
// fetch requests (whose throttle_time_ms is checked here; the produce responses' through
// the client's throttle hook) until ctx ends.
func freeClient(ctx context.Context, cl *kgo.Client, topicID [16]byte, value []byte, reqs, bytes *atomic.Int64) error {
	var fetchOffset int64
	pace := time.NewTicker(10 * time.Millisecond) // busy, but leaves the shared machine some CPU
	defer pace.Stop()
	for ctx.Err() == nil {
		select {
		case <-pace.C:
		case <-ctx.Done():
			return nil
		}
		var rs []*kgo.Record
		for range 8 {
			rs = append(rs, &kgo.Record{Topic: "q-free", Value: value})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		bytes.Add(int64(8 * len(value)))
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "q-fetch", topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = fetchOffset, 256<<10
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		reqs.Add(2)
		if resp.ThrottleMillis != 0 {
			return fmt.Errorf("the free client's fetch got throttle_time_ms %d", resp.ThrottleMillis)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			return fmt.Errorf("the free client's fetch: %+v", resp.Topics)
		}
		p := resp.Topics[0].Partitions[0]
		if fetchOffset >= p.HighWatermark {
			fetchOffset = 0 // read to the end: again from the start
		}
		for b := p.RecordBatches; len(b) >= 61; { // past the whole batches received
			n := 12 + int(binary.BigEndian.Uint32(b[8:]))
			if n > len(b) {
				break
			}
			fetchOffset = int64(binary.BigEndian.Uint64(b)) + int64(binary.BigEndian.Uint32(b[23:])) + 1
			b = b[n:]
		}
	}
	return nil
}
