package broker

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDataMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bc.Registerer = reg
	b, err := New(bc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.createTopic("m", 1, map[string]string{"max.message.bytes": "1000"}, false); err != nil {
		t.Fatal(err)
	}

	produce := func(records []byte) {
		req := kmsg.NewPtrProduceRequest()
		req.Version = 9
		req.Acks = -1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "m"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if _, err := b.handleProduce(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}
	good := testBatch(t, codecNone, time.Now().UnixMilli(), []int64{0, 1, 2}, false)
	produce(good)
	produce(testBatch(t, codecNone, time.Now().UnixMilli(), make([]int64, 100), false)) // > max.message.bytes

	m := b.metrics()
	if v := testutil.ToFloat64(m.produceBytes); v != float64(len(good)) {
		t.Errorf("produce bytes %v, want %d", v, len(good))
	}
	if v := testutil.ToFloat64(m.produceRecords); v != 3 {
		t.Errorf("produce records %v", v)
	}
	if v := testutil.ToFloat64(m.produceErrors); v != 1 {
		t.Errorf("produce errors %v", v)
	}
	if n := testutil.CollectAndCount(m.durableWait); n != 1 {
		t.Errorf("durable wait series %d", n)
	}

	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "m"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if _, err := b.handleFetch(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(m.fetchBytes.WithLabelValues("local")); v != float64(len(good)) {
		t.Errorf("fetch local bytes %v, want %d", v, len(good))
	}
	// The series are exported on the broker's registry.
	if n, err := testutil.GatherAndCount(reg, "strata_produce_bytes_total", "strata_fetch_bytes_total"); err != nil || n != 2 {
		t.Errorf("gathered %d series, err %v", n, err)
	}
}
