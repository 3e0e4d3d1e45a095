package datapath

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering/fsstore"
	"github.com/strata-io/strata/tiering/storewrap"
)

// The defining feature: sealed segments go to the bucket, local copies are deleted only
// after the upload, and a consumer reading from offset 0 gets every record back, byte for
// byte, from the bucket and then from local disk. Timestamp lookups and DeleteRecords
// reach into the remote part.
func TestTieredReadBackFromBucket(t *testing.T) {
	store, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tb := startBrokerWith(t, t.TempDir(), map[string]string{
		"log.retention.check.interval.ms": "50",
	}, func(c *broker.Config) { c.RemoteStore = store })
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("tiered"), kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.ProducerLinger(0))
	createTopic(t, cl, "tiered", 1, map[string]*string{
		"remote.storage.enable": strPtr("true"),
		"segment.bytes":         strPtr("16384"),
		"local.retention.bytes": strPtr("1"),
		"retention.ms":          strPtr("-1"),
	})

	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := range 600 {
		v := make([]byte, 200)
		rand.Read(v)
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: v, Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	for i := 0; i < len(recs); i += 20 { // many batches, many segments
		if err := cl.ProduceSync(t.Context(), recs[i:i+20]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// Wait until most of the log is remote only: the earliest local offset moved up.
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(20 * time.Second)
	var localStart int64
	for {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "tiered"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -4 // earliest local (KIP-405)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if resp, err := req.RequestWith(t.Context(), cl); err == nil && resp.Topics[0].Partitions[0].ErrorCode == 0 {
			localStart = resp.Topics[0].Partitions[0].Offset
		}
		if localStart >= 400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("local log start still %d: segments not uploaded and deleted", localStart)
		}
		time.Sleep(50 * time.Millisecond)
	}
	starts, err := adm.ListStartOffsets(t.Context(), "tiered")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("tiered", 0); o.Offset != 0 {
		t.Fatalf("log start %d, want 0 (remote data counts)", o.Offset)
	}
	t.Logf("earliest local offset %d of 600", localStart)

	got := consumeAll(t, tb.addr, "tiered", len(recs))
	for i, r := range got {
		if r.Offset != int64(i) || !bytes.Equal(r.Value, recs[i].Value) || !r.Timestamp.Equal(recs[i].Timestamp) {
			t.Fatalf("record %d differs after the round trip through the bucket", i)
		}
	}

	lo, err := adm.ListOffsetsAfterMilli(t.Context(), base.Add(123*time.Second).UnixMilli(), "tiered")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup("tiered", 0); o.Offset != 123 {
		t.Fatalf("timestamp lookup in remote data: offset %d, want 123", o.Offset)
	}

	var del kadm.Offsets
	del.AddOffset("tiered", 0, 100, -1)
	dr, err := adm.DeleteRecords(t.Context(), del)
	if err != nil {
		t.Fatal(err)
	}
	if r := dr["tiered"][0]; r.Err != nil || r.LowWatermark != 100 {
		t.Fatalf("delete records in the remote range: low %d err %v", r.LowWatermark, r.Err)
	}
	after := consumeAll(t, tb.addr, "tiered", 1)
	if after[0].Offset != 100 {
		t.Fatalf("first record after DeleteRecords: %d", after[0].Offset)
	}
}

// The bucket going away stops uploads and remote reads, not the broker: produce and local
// reads carry on, remote offsets answer KAFKA_STORAGE_ERROR (retriable), no local segment
// is deleted before it is remote, and everything is readable once the bucket is back.
func TestTieredBucketOutage(t *testing.T) {
	fs, err := fsstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := storewrap.Faulty(fs, storewrap.FaultConfig{})
	tb := startBrokerWith(t, t.TempDir(), map[string]string{
		"log.retention.check.interval.ms": "50",
	}, func(c *broker.Config) { c.RemoteStore = store })
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("outage"), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(t, cl, "outage", 1, map[string]*string{
		"remote.storage.enable": strPtr("true"),
		"segment.bytes":         strPtr("8192"),
		"local.retention.bytes": strPtr("1"),
	})
	produce := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i += 10 {
			var recs []*kgo.Record
			for j := i; j < i+10; j++ {
				recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%0200d", j)})
			}
			if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
				t.Fatalf("produce at %d: %v", i, err)
			}
		}
	}
	produce(0, 300)
	latestTiered := func() int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "outage"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -5 // latest tiered (KIP-1005)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].Offset
	}
	localStart := func() int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "outage"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -4
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].Offset
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("upload and local deletion", func() bool { return localStart() >= 200 })

	store.SetDown(true)
	time.Sleep(300 * time.Millisecond) // let an upload that was in flight finish
	// While the bucket is down nothing more is uploaded, and nothing past what was uploaded
	// is deleted locally. (The local start itself may still move up to the remote end: a
	// segment uploaded just before the outage can be deleted by a maintenance run that a
	// loaded machine delays past the sleep above, so it is not compared with a snapshot.)
	tiered := latestTiered()
	produce(300, 200) // produce carries on
	time.Sleep(300 * time.Millisecond)
	if now := latestTiered(); now != tiered {
		t.Fatalf("remote end moved from %d to %d while the bucket was down", tiered, now)
	}
	if ls := localStart(); ls > tiered+1 {
		t.Fatalf("local start %d is past the remote end %d: local data deleted before upload", ls, tiered+1)
	}

	raw := rawClient(t, tb.addr)
	fetchAt := func(off int64) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 100
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "outage"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = off
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(t.Context(), raw)
		if err != nil {
			t.Fatalf("fetch at %d: %v (the connection must survive a bucket outage)", off, err)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := fetchAt(450); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("local read during the outage: code %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	waitFor("KAFKA_STORAGE_ERROR for a remote offset", func() bool {
		return fetchAt(0).ErrorCode == kerr.KafkaStorageError.Code
	})

	store.SetDown(false)
	got := consumeAll(t, tb.addr, "outage", 500)
	for i, r := range got {
		if want := fmt.Sprintf("%0200d", i); r.Offset != int64(i) || string(r.Value) != want {
			t.Fatalf("record %d after the outage: offset %d", i, r.Offset)
		}
	}
}
