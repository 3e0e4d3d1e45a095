package datapath

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Keyed records land in the partition franz-go's default (murmur2) partitioner picks for
// their key, and each partition returns them in produce order.
func TestKeyedRecordsPartitionAndOrder(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("keyed"))
	createTopic(t, cl, "keyed", 4, nil)

	const keys, perKey = 20, 25
	var recs []*kgo.Record
	for i := range perKey {
		for k := range keys {
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "key-%d", k), Value: fmt.Appendf(nil, "%d", i)})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	got := consumeAll(t, tb.addr, "keyed", keys*perKey)
	part := kgo.StickyKeyPartitioner(nil).ForTopic("keyed")
	next := map[string]int{}
	lastOffset := map[int32]int64{0: -1, 1: -1, 2: -1, 3: -1}
	for _, r := range got {
		if want := int32(part.Partition(r, 4)); r.Partition != want {
			t.Fatalf("key %s in partition %d, murmur2 says %d", r.Key, r.Partition, want)
		}
		if want := fmt.Sprint(next[string(r.Key)]); string(r.Value) != want {
			t.Fatalf("key %s: value %s, want %s (order broken)", r.Key, r.Value, want)
		}
		next[string(r.Key)]++
		if r.Offset != lastOffset[r.Partition]+1 {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, lastOffset[r.Partition])
		}
		lastOffset[r.Partition] = r.Offset
	}
}

// Every codec round-trips byte for byte, and the broker stores batches as produced.
func TestCompressionRoundTrip(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		id    int16
	}{
		{"none", kgo.NoCompression(), 0},
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "codec-" + c.name
			cl := newClient(t, tb.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c.codec))
			createTopic(t, cl, topic, 1, nil)
			var recs []*kgo.Record
			for i := range 200 {
				v := bytes.Repeat(fmt.Appendf(nil, "value-%d-", i), 1+i%7)
				recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: v,
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{byte(i)}}}})
			}
			if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			got := consumeAll(t, tb.addr, topic, len(recs))
			for i, r := range got {
				if !bytes.Equal(r.Value, recs[i].Value) || !bytes.Equal(r.Key, recs[i].Key) ||
					len(r.Headers) != 1 || r.Headers[0].Value[0] != byte(i) || r.Offset != int64(i) {
					t.Fatalf("record %d differs: %q/%q offset %d", i, r.Key, r.Value, r.Offset)
				}
			}
			// The stored batch keeps the producer's codec.
			fetch := kmsg.NewPtrFetchRequest()
			fetch.Version = 12
			fetch.MaxBytes = 1 << 20
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = topic
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = 1 << 20
			ft.Partitions = append(ft.Partitions, fp)
			fetch.Topics = append(fetch.Topics, ft)
			resp, err := fetch.RequestWith(t.Context(), rawClient(t, tb.addr))
			if err != nil {
				t.Fatal(err)
			}
			raw := resp.Topics[0].Partitions[0].RecordBatches
			if len(raw) < 23 {
				t.Fatalf("short fetch: %d bytes", len(raw))
			}
			if attrs := int16(raw[21])<<8 | int16(raw[22]); attrs&7 != c.id {
				t.Fatalf("stored codec %d, want %d", attrs&7, c.id)
			}
		})
	}
}

// Acknowledged records survive a clean restart, offsets and all.
func TestRestartKeepsAcknowledged(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("restart"))
	createTopic(t, cl, "restart", 2, nil)
	var recs []*kgo.Record
	for i := range 500 {
		recs = append(recs, &kgo.Record{Partition: int32(i % 2), Value: fmt.Appendf(nil, "r%d", i)})
	}
	cl = newClient(t, tb.addr, kgo.DefaultProduceTopic("restart"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	tb.Stop(t)

	tb2 := startBroker(t, dir, nil)
	got := consumeAll(t, tb2.addr, "restart", len(recs))
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	for _, r := range recs {
		if !seen[string(r.Value)] {
			t.Fatalf("record %s lost across restart", r.Value)
		}
	}
	// New records continue the offsets.
	cl2 := newClient(t, tb2.addr, kgo.DefaultProduceTopic("restart"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res := cl2.ProduceSync(t.Context(), &kgo.Record{Partition: 0, Value: []byte("after")})
	if r, err := res.First(); err != nil || r.Offset != 250 {
		t.Fatalf("offset after restart %d, err %v", r.Offset, err)
	}
}

func TestListOffsetsByTimestamp(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("ts"), kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.ProducerLinger(50*time.Millisecond))
	createTopic(t, cl, "ts", 1, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Value: []byte("x"), Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	// Several batches, each holding many records: the lookup must find the exact record.
	for i := 0; i < len(recs); i += 25 {
		if err := cl.ProduceSync(t.Context(), recs[i:i+25]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	f := func(at time.Time, wantOffset int64) {
		t.Helper()
		lo, err := adm.ListOffsetsAfterMilli(t.Context(), at.UnixMilli(), "ts")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := lo.Lookup("ts", 0)
		if o.Err != nil || o.Offset != wantOffset {
			t.Fatalf("offset after %v = %d (%v), want %d", at.Sub(base), o.Offset, o.Err, wantOffset)
		}
	}
	f(base.Add(-time.Minute), 0)
	f(base, 0)
	f(base.Add(37*time.Second), 37)
	f(base.Add(37*time.Second+time.Millisecond), 38)
	f(base.Add(99*time.Second), 99)
	// Past the last timestamp: kadm reports the end offset (Kafka answers -1, kadm maps it).
	lo, err := adm.ListOffsetsAfterMilli(t.Context(), base.Add(time.Hour).UnixMilli(), "ts")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup("ts", 0); o.Offset != 100 && o.Offset != -1 {
		t.Fatalf("offset after the end = %d", o.Offset)
	}
}

func TestDeleteRecords(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("del"))
	createTopic(t, cl, "del", 1, nil)
	var recs []*kgo.Record
	for i := range 50 {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	var os kadm.Offsets
	os.AddOffset("del", 0, 30, -1)
	resp, err := adm.DeleteRecords(t.Context(), os)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp["del"][0]; r.Err != nil || r.LowWatermark != 30 {
		t.Fatalf("delete records: low %d err %v", r.LowWatermark, r.Err)
	}
	starts, err := adm.ListStartOffsets(t.Context(), "del")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("del", 0); o.Offset != 30 {
		t.Fatalf("start offset %d", o.Offset)
	}
	got := consumeAll(t, tb.addr, "del", 20)
	if got[0].Offset != 30 || string(got[0].Value) != "30" {
		t.Fatalf("first record after delete: offset %d value %s", got[0].Offset, got[0].Value)
	}
	// Beyond the high watermark: OFFSET_OUT_OF_RANGE.
	var bad kadm.Offsets
	bad.AddOffset("del", 0, 51, -1)
	resp, err = adm.DeleteRecords(t.Context(), bad)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp["del"][0]; !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past hw: %v", r.Err)
	}
}

// A long-polling fetch returns as soon as a record arrives, not at max wait.
func TestLongPollWakesOnProduce(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("poll"))
	createTopic(t, cl, "poll", 1, nil)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 12
	fetch.MaxWaitMillis = 10_000
	fetch.MinBytes = 1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "poll"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	type result struct {
		resp *kmsg.FetchResponse
		err  error
		at   time.Time
	}
	ch := make(chan result, 1)
	raw := rawClient(t, tb.addr)
	start := time.Now()
	go func() {
		resp, err := fetch.RequestWith(context.Background(), raw)
		ch <- result{resp, err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-ch:
		t.Fatalf("fetch returned before any produce: %+v %v", r.resp, r.err)
	default:
	}
	produced := time.Now()
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	p := r.resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("partition %+v", p)
	}
	wake := r.at.Sub(produced)
	t.Logf("fetch woke %v after the produce (waited %v in total, max wait 10s)", wake, r.at.Sub(start))
	if wake > 2*time.Second {
		t.Fatalf("fetch woke %v after the produce", wake)
	}
}

// Concurrent acks=-1 producers: every record acknowledged, offsets contiguous.
func TestAcksAllConcurrent(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	admin := newClient(t, tb.addr)
	createTopic(t, admin, "acks", 3, nil)

	const producers, each = 6, 150
	var wg sync.WaitGroup
	var acked atomic.Int64
	errs := make(chan error, producers)
	for p := range producers {
		wg.Go(func() {
			cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("acks"), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.ProducerLinger(0))
			for i := range each {
				r := &kgo.Record{Key: fmt.Appendf(nil, "p%d-%d", p, i), Value: []byte("v")}
				if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
					errs <- err
					return
				}
				acked.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := consumeAll(t, tb.addr, "acks", producers*each)
	next := map[int32]int64{}
	for _, r := range got {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
	}
	if int64(len(got)) != acked.Load() {
		t.Fatalf("consumed %d, acked %d", len(got), acked.Load())
	}
}

func TestMessageTooLarge(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("big"), kgo.RecordRetries(0))
	createTopic(t, cl, "big", 1, map[string]*string{"max.message.bytes": strPtr("2000")})
	// Incompressible, so that the batch (snappy by default) stays above the limit.
	big := make([]byte, 5000)
	rand.Read(big)
	err := cl.ProduceSync(t.Context(), &kgo.Record{Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("err = %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("small")}).FirstErr(); err != nil {
		t.Fatalf("small record after a rejected one: %v", err)
	}
}

func TestUnknownTopicAndPartition(t *testing.T) {
	tb := startBroker(t, t.TempDir(), map[string]string{"auto.create.topics.enable": "false"})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "known", 1, nil)
	raw := rawClient(t, tb.addr)

	produce := func(topic string, partition int32) int16 {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Version = 9
		req.Acks = 1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = partition
		rp.Records = []byte("not reached")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(t.Context(), raw)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if c := produce("nope", 0); c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: code %d", c)
	}
	if c := produce("known", 7); c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown partition: code %d", c)
	}
	if c := produce("bad/name", 0); c != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid topic name: code %d", c)
	}
	if c := produce("known", 0); c != kerr.CorruptMessage.Code {
		t.Fatalf("garbage records: code %d", c)
	}

	// Fetch by an unknown topic ID (v13+).
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 13
	ft := kmsg.NewFetchRequestTopic()
	ft.TopicID = [16]byte{1, 2, 3}
	ft.Partitions = append(ft.Partitions, kmsg.NewFetchRequestTopicPartition())
	fetch.Topics = append(fetch.Topics, ft)
	resp, err := fetch.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic id: code %d", c)
	}
}

func TestFetchOffsetOutOfRange(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("oor"))
	createTopic(t, cl, "oor", 1, nil)
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 11
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "oor"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset = 5
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	resp, err := fetch.RequestWith(t.Context(), rawClient(t, tb.addr))
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 1 || p.LogStartOffset != 0 {
		t.Fatalf("partition %+v", p)
	}
}

// KIP-74: the response limit never hides the first batch, and later partitions get what
// is left.
func TestFetchMaxBytes(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("mb"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, cl, "mb", 2, nil)
	big := make([]byte, 10_000)
	rand.Read(big)
	for p := range int32(2) {
		for range 3 {
			if err := cl.ProduceSync(t.Context(), &kgo.Record{Partition: p, Value: big}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 12
	fetch.MaxBytes = 100 // smaller than one batch
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "mb"
	for p := range int32(2) {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = p
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
	}
	fetch.Topics = append(fetch.Topics, ft)
	resp, err := fetch.RequestWith(t.Context(), rawClient(t, tb.addr))
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
	if n := len(p0.RecordBatches); n < 10_000 || n > 11_000 {
		t.Fatalf("partition 0: %d bytes, want exactly its first batch", n)
	}
	if len(p1.RecordBatches) != 0 || p1.ErrorCode != 0 || p1.HighWatermark != 3 {
		t.Fatalf("partition 1: %d bytes, error %d, hw %d", len(p1.RecordBatches), p1.ErrorCode, p1.HighWatermark)
	}
}

// Crash test: a child-process broker is SIGKILLed while acks=-1 producers run; after a
// restart every acknowledged record is there and offsets are contiguous.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs a child process")
	}
	dir := t.TempDir()
	child := startChild(t, dir)
	cl := newClient(t, child.addr, kgo.DefaultProduceTopic("crash"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(0), kgo.RecordDeliveryTimeout(2*time.Second))
	createTopic(t, cl, "crash", 2, nil)

	var mu sync.Mutex
	acked := map[string]bool{}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				v := fmt.Sprintf("w%d-%d", w, i)
				if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
					return
				}
				mu.Lock()
				acked[v] = true
				mu.Unlock()
			}
		})
	}
	time.Sleep(700 * time.Millisecond)
	// On a loaded machine the first acknowledgement can take longer than that: kill only
	// once producers have had some acknowledged (a worker stops at its first error, so if
	// they all fail this times out and the check below reports it).
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20 {
			break
		}
	}
	child.kill()
	cancel()
	wg.Wait()
	cl.Close()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n == 0 {
		t.Fatal("nothing was acknowledged before the kill")
	}
	t.Logf("%d records acknowledged before SIGKILL", n)

	child2 := startChild(t, dir)
	cl2 := newClient(t, child2.addr)
	ends, err := kadm.NewClient(cl2).ListEndOffsets(t.Context(), "crash")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	if total < n {
		t.Fatalf("%d records after restart, %d were acknowledged", total, n)
	}
	got := consumeAll(t, child2.addr, "crash", total)
	next := map[int32]int64{}
	for _, r := range got {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d (gap)", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		delete(acked, string(r.Value))
	}
	if len(acked) > 0 {
		t.Fatalf("%d acknowledged records lost, e.g. %v", len(acked), firstKey(acked))
	}
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

// message.timestamp.type=LogAppendTime: the broker stamps batches (CRC redone) and
// consumers see the append time, not the producer's.
func TestLogAppendTime(t *testing.T) {
	tb := startBroker(t, t.TempDir(), nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("lat"), kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	createTopic(t, cl, "lat", 1, map[string]*string{"message.timestamp.type": strPtr("LogAppendTime")})
	old := time.Now().Add(-48 * time.Hour)
	before := time.Now().Add(-time.Second)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%d", i), Timestamp: old})
	}
	res := cl.ProduceSync(t.Context(), recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeAll(t, tb.addr, "lat", 10)
	for _, r := range got {
		if r.Timestamp.Before(before) || r.Timestamp.After(time.Now().Add(time.Second)) || r.Attrs.TimestampType() != 1 {
			t.Fatalf("record %d: timestamp %v (timestamp type %d)", r.Offset, r.Timestamp, r.Attrs.TimestampType())
		}
	}
	lo, err := kadm.NewClient(cl).ListOffsetsAfterMilli(t.Context(), old.Add(time.Hour).UnixMilli(), "lat")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup("lat", 0); o.Offset != 0 {
		t.Fatalf("offset after a time before the append = %d", o.Offset)
	}
}
