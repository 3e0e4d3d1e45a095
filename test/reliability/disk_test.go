package reliability

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/test/checker"
	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/storewrap"
)

// rawClient sends hand-built requests that name topics (Produce and Fetch capped at v12).
func rawClient(t testing.TB, addr string) *kgo.Client {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(0, 12)
	vs.SetMaxKeyVersion(1, 12)
	return newClient(t, addr, kgo.MaxVersions(vs))
}

// produceRaw sends one batch of n values of size bytes to topic/partition with acks=-1
// and returns the partition's error code and base offset.
func produceRaw(t testing.TB, cl *kgo.Client, topic string, partition int32, n, size int) (int16, int64) {
	t.Helper()
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = bytes.Repeat([]byte{'x'}, size)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = segmenttest.Batch(time.Now().UnixMilli(), vals...)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("produce: %v (the connection must survive disk pressure)", err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

// TestDiskBudgetRefusesProduceAndResumes fills a 96 KiB disk budget while the bucket is
// down: produce gets the retriable KAFKA_STORAGE_ERROR (the connection stays, reads go on,
// DiskPressure reports it, nothing is deleted that is not remote), and once the bucket is
// back the uploaded segments are dropped early and produce resumes.
func TestDiskBudgetRefusesProduceAndResumes(t *testing.T) {
	const budget = 96 << 10
	store := storewrap.Faulty(memstore.New(), storewrap.FaultConfig{})
	tb := startBroker(t, t.TempDir(), map[string]string{
		"strata.disk.budget.bytes":        fmt.Sprint(budget),
		"log.retention.check.interval.ms": "100",
	}, func(c *broker.Config) { c.RemoteStore = store })
	if ok, _ := tb.DiskPressure(); ok {
		t.Fatal("pressure before any data")
	}
	cl := rawClient(t, tb.addr)
	createTopic(t, cl, "disk", 1, map[string]string{
		"remote.storage.enable": "true",
		"segment.bytes":         "8192",
		"retention.ms":          "-1",
		"retention.bytes":       "-1",
	})
	// (A fresh data dir needs the bucket at start-up, to restore topics: go down after.)
	store.SetDown(true)
	var acked int64
	var code int16
	for i := 0; i < 1000; i++ {
		c, off := produceRaw(t, cl, "disk", 0, 10, 100)
		if c != 0 {
			code = c
			break
		}
		acked = off + 10
	}
	if code != kerr.KafkaStorageError.Code {
		t.Fatalf("produce over the budget: code %d, want KAFKA_STORAGE_ERROR (%d)", code, kerr.KafkaStorageError.Code)
	}
	if !kerr.IsRetriable(kerr.ErrorForCode(code)) {
		t.Fatal("the disk-budget error is not retriable for franz-go")
	}
	pressure, why := tb.DiskPressure()
	if !pressure || why == "" {
		t.Fatalf("DiskPressure = %v %q under pressure", pressure, why)
	}
	t.Logf("pressure after %d records: %s", acked, why)
	if h := tb.Health(context.Background()); h.DiskPressure == "" {
		t.Error("Health (readiness) does not report the disk pressure")
	}
	if u := tb.DiskUsage(); u > budget+8192 {
		t.Errorf("usage %d overshoots the budget %d by more than one segment", u, budget)
	}
	// Still refused a moment later (the bucket is down: nothing can be freed), and reads
	// of everything acknowledged work.
	time.Sleep(500 * time.Millisecond)
	if c, _ := produceRaw(t, cl, "disk", 0, 1, 10); c != kerr.KafkaStorageError.Code {
		t.Fatalf("produce with the bucket down and the budget used: code %d", c)
	}
	if got := countRecords(t, tb.addr, "disk", acked); got != acked {
		t.Fatalf("read %d records under pressure, want %d", got, acked)
	}
	if n := tb.Snapshot(context.Background()).Topics[0].Partitions[0].LocalStartOffset; n != 0 {
		t.Fatalf("local start moved to %d while nothing was uploaded", n)
	}

	// The bucket returns: segments upload, pressure relief drops them locally, produce
	// resumes without the topic's local retention being set.
	store.SetDown(false)
	waitFor(t, 30*time.Second, "produce to be accepted again", func() bool {
		c, off := produceRaw(t, cl, "disk", 0, 1, 10)
		if c == 0 {
			acked = off + 1
		}
		return c == 0
	})
	if ok, _ := tb.DiskPressure(); ok {
		t.Error("DiskPressure still reported after produce resumed")
	}
	if h := tb.Health(context.Background()); h.DiskPressure != "" {
		t.Errorf("Health still reports disk pressure: %s", h.DiskPressure)
	}
	ps := tb.Snapshot(context.Background()).Topics[0].Partitions[0]
	if ps.RemoteSegments == 0 || ps.LocalStartOffset == 0 {
		t.Errorf("relief did not go through the bucket: %+v", ps)
	}
	if got := countRecords(t, tb.addr, "disk", acked); got != acked {
		t.Fatalf("read %d records after relief, want %d (local + remote)", got, acked)
	}
}

// TestDiskBudgetWithoutTier: a broker without a bucket refuses produce at the budget and
// resumes when retention frees space (here: DeleteRecords plus retention.bytes).
func TestDiskBudgetWithoutTier(t *testing.T) {
	tb := startBroker(t, t.TempDir(), map[string]string{
		"strata.disk.budget.bytes":        "65536",
		"log.retention.check.interval.ms": "100",
	}, nil)
	cl := rawClient(t, tb.addr)
	createTopic(t, cl, "disk-local", 1, map[string]string{"segment.bytes": "8192"})
	n := 0
	for ; n < 1000; n++ {
		if c, _ := produceRaw(t, cl, "disk-local", 0, 10, 100); c != 0 {
			if c != kerr.KafkaStorageError.Code {
				t.Fatalf("code %d", c)
			}
			break
		}
	}
	if n == 1000 {
		t.Fatal("the budget was never reached")
	}
	// The operator lowers retention: maintenance deletes old segments, produce resumes.
	adm := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = "disk-local"
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name = "retention.bytes"
	v := "16384"
	c.Value = &v
	r.Configs = append(r.Configs, c)
	adm.Resources = append(adm.Resources, r)
	if _, err := adm.RequestWith(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "produce to resume after retention", func() bool {
		c, _ := produceRaw(t, cl, "disk-local", 0, 1, 10)
		return c == 0
	})
}

// countRecords reads topic partition 0 from the earliest offset until end and returns
// how many records it saw.
func countRecords(t testing.TB, addr, topic string, end int64) int64 {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n, next int64
	for next < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read stopped at %d of %d: %v", next, end, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error (retried): %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				t.Fatalf("read offset %d, want %d", r.Offset, next)
			}
			next++
			n++
		})
	}
	cl.Close()
	return n
}

// TestDiskPressureWorkload runs the checker workload while a small disk budget and bucket
// outages make the broker refuse produce now and then: producers retry through it, and
// nothing is lost, duplicated or reordered.
func TestDiskPressureWorkload(t *testing.T) {
	dur, cycles := scale(t, 10*time.Second, 2)
	store := storewrap.Faulty(memstore.New(), storewrap.FaultConfig{})
	props := tieredBroker()
	props["strata.disk.budget.bytes"] = "131072"
	tb := startBroker(t, t.TempDir(), props, func(c *broker.Config) { c.RemoteStore = store })
	topic := tieredTopic()
	topic["local.retention.bytes"] = "-2" // only pressure relief frees local space
	topic["local.retention.ms"] = "-2"
	var sawPressure atomic.Bool
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if ok, _ := tb.DiskPressure(); ok {
					sawPressure.Store(true)
				}
			}
		}
	}()
	w := &outageWindows{}
	runChecked(t, checker.Config{
		Brokers:      []string{tb.addr},
		Topic:        "disk-pressure",
		Partitions:   3,
		TopicConfigs: topic,
		Duration:     dur,
		Nemesis: outageNemesis(tb, w, cycles, dur, 3*time.Second,
			func() error { store.SetDown(true); return nil },
			func() error { store.SetDown(false); return nil }),
	}, "disk budget 128 KiB + bucket outages", cycles, w.maxDrain)
	close(stop)
	<-done
	if !sawPressure.Load() {
		t.Errorf("the disk budget was never reached: the scenario did not exercise pressure")
	}
	waitFor(t, 30*time.Second, "pressure to clear", func() bool { ok, _ := tb.DiskPressure(); return !ok })
}
