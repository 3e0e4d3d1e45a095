package test

// A consumer that starts with reset-to-earliest while the bucket is unreachable (the broker
// restarted during an outage, so its tiered partition has no manifest loaded) must not
// start at the local log start and silently skip the records that only the bucket holds:
// ListOffsets earliest is retriable (KAFKA_STORAGE_ERROR) until the tier is attached.

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/storewrap"
)

func TestEarliestResetWaitsForBucketAfterRestart(t *testing.T) {
	store := storewrap.Faulty(memstore.New(), storewrap.FaultConfig{})
	dir := t.TempDir()
	start := func() (*broker.Broker, *kgo.Client, func()) {
		t.Helper()
		cfg, err := broker.ParseConfig(map[string]string{
			"listeners":                       "PLAINTEXT://127.0.0.1:0",
			"log.dirs":                        dir,
			"log.retention.check.interval.ms": "50",
			"remote.log.upload.interval.ms":   "200",
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.RemoteStore = store
		b, err := broker.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- b.Run(context.Background()) }()
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cl.Close()
			if err := b.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
		t.Cleanup(stop)
		return b, cl, stop
	}
	list := func(cl *kgo.Client, ts int64) (int16, int64) {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 9
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "pending"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch = ts, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.ErrorCode, p.Offset
	}

	_, cl, stop := start()
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "pending", 1, 1
	for k, v := range map[string]string{"remote.storage.enable": "true", "retention.ms": "-1",
		"segment.bytes": "1024", "local.retention.bytes": "1"} {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		ctt.Configs = append(ctt.Configs, c)
	}
	ct.Topics = append(ct.Topics, ctt)
	if resp, err := ct.RequestWith(t.Context(), cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %v %+v", err, resp)
	}
	const n = 100
	for i := range n {
		r := &kgo.Record{Topic: "pending", Value: []byte("r" + strconv.Itoa(i) + "-padding-padding-padding-padding")}
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until most of the log is only in the bucket.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, localStart := list(cl, -4)
		if localStart >= n/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("local start still %d", localStart)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()

	// Restart during a bucket outage.
	store.SetDown(true)
	_, cl2, _ := start()
	if code, off := list(cl2, -2); code != kerr.KafkaStorageError.Code {
		t.Fatalf("ListOffsets earliest with the bucket down: code %d offset %d, want KAFKA_STORAGE_ERROR", code, off)
	}
	_, localStart := list(cl2, -4)

	cons, err := kgo.NewClient(kgo.SeedBrokers(cl2.OptValue(kgo.SeedBrokers).([]string)...),
		kgo.ConsumeTopics("pending"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	// The consumer polls through the outage; the bucket comes back after a while.
	time.AfterFunc(1500*time.Millisecond, func() { store.SetDown(false) })
	var got []int64
	for len(got) < n && time.Now().Before(deadline.Add(30*time.Second)) {
		cons.PollRecords(ctxTimeout(t, time.Second), n).EachRecord(func(r *kgo.Record) {
			got = append(got, r.Offset)
		})
	}
	if len(got) == 0 || got[0] != 0 {
		first := int64(-1)
		if len(got) > 0 {
			first = got[0]
		}
		t.Fatalf("reset-to-earliest consumer started at offset %d (local start %d), want 0", first, localStart)
	}
	for i, off := range got {
		if off != int64(i) {
			t.Fatalf("record %d at offset %d", i, off)
		}
	}
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}
}
