package broker

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/tiering/memstore"
)

// A fetch that needs the bucket for one partition answers the local partitions without
// waiting for it; a slow remote read finishes in the background and the next fetch gets
// it; a bucket error is KAFKA_STORAGE_ERROR for that partition only.
//
// It runs in a synctest bubble, so "without waiting" is exact: a fetch that waited for the
// slow read would take partition.RemoteFetchMaxWait of the bubble's clock, one that does not takes
// none; on the real clock the bound (partition.RemoteFetchMaxWait/2) was load-dependent.
func TestFetchRemotePartitionDoesNotDelayLocal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		bc.RemoteStore = memstore.New() // allows remote.storage.enable; the test installs its own tier
		b, err := New(bc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			b.Close()
			// The broker never ran: its tier manager's cache (and the cache's goroutines,
			// which must end inside the bubble) is closed by the manager's Run returning.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			b.tier.Run(ctx)
		})
		topic, err := b.createTopic("rt", 2, map[string]string{
			"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1",
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		p0, p1 := topic.partition(0), topic.partition(1)
		tier := &fakeTier{}
		p0.SetTier(context.Background(), tier)
		appendN(t, p0, 3, 1000)
		appendN(t, p1, 3, 1000)
		tier.Upload(t, p0.LogForTesting(), 2)
		p0.Maintain(time.Now(), false)
		if p0.LocalLogStartOffset() != 2 {
			t.Fatalf("local start %d", p0.LocalLogStartOffset())
		}

		fetch := func() (*kmsg.FetchResponse, time.Duration) {
			req := kmsg.NewPtrFetchRequest()
			req.Version = 12
			req.MaxWaitMillis = 5000
			req.MinBytes = 1
			req.MaxBytes = 1 << 20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "rt"
			for i := range int32(2) {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition = i
				rp.PartitionMaxBytes = 1 << 20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			start := time.Now()
			resp, err := b.handleFetch(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			return resp.(*kmsg.FetchResponse), time.Since(start)
		}

		gate := make(chan struct{})
		tier.Mu.Lock()
		tier.ReadGate = gate
		tier.Mu.Unlock()
		resp, took := fetch()
		r0, r1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
		if took > partition.RemoteFetchMaxWait/2 || r0.ErrorCode != 0 || len(r0.RecordBatches) != 0 || !startsAt0(t, r1.RecordBatches) {
			t.Fatalf("slow bucket: took %v, p0 err %d %d bytes, p1 %v", took, r0.ErrorCode, len(r0.RecordBatches), batchOffsets(t, r1.RecordBatches))
		}
		close(gate)
		// The client refetches; the read that finished in the background answers it (a
		// fetch may still race the read's completion, so allow a few rounds as a client would).
		for range 20 {
			if resp, _ = fetch(); len(resp.Topics[0].Partitions[0].RecordBatches) > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := batchOffsets(t, resp.Topics[0].Partitions[0].RecordBatches); len(got) != 2 || got[0] != 0 {
			t.Fatalf("after the bucket answered: p0 offsets %v", got)
		}

		tier.Mu.Lock()
		tier.ReadGate = nil
		tier.ReadErr = errors.New("bucket down")
		tier.Mu.Unlock()
		for range 20 {
			if resp, _ = fetch(); resp.Topics[0].Partitions[0].ErrorCode != 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		r0, r1 = resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
		if r0.ErrorCode != kerr.KafkaStorageError.Code || !startsAt0(t, r1.RecordBatches) {
			t.Fatalf("bucket error: p0 code %d, p1 %d bytes", r0.ErrorCode, len(r1.RecordBatches))
		}
		if r0.HighWatermark != 3 || r0.LogStartOffset != 0 {
			t.Fatalf("p0 hw %d log start %d", r0.HighWatermark, r0.LogStartOffset)
		}
	})
}

// startsAt0 reports whether data holds batches from offset 0 (a local read stops at a
// segment boundary, so one segment's worth).
func startsAt0(t *testing.T, data []byte) bool {
	offs := batchOffsets(t, data)
	return len(offs) > 0 && offs[0] == 0
}

// With nothing to read, a fetch waits MaxWaitMillis (and no longer), and a cancelled
// request context (connection closed) ends the wait at once.
//
// In a synctest bubble the waits are exact (on the real clock a loaded machine could
// exceed the 2 s bound).
func TestFetchMaxWaitAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		if _, err := b.createTopic("mw", 1, nil, false); err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxWaitMillis = 300
		req.MinBytes = 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "mw"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)

		start := time.Now()
		resp, err := b.handleFetch(t.Context(), req)
		took := time.Since(start)
		if err != nil || took < 300*time.Millisecond || took > 2*time.Second {
			t.Fatalf("empty fetch returned after %v (err %v), want ~300ms", took, err)
		}
		if p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.RecordBatches == nil {
			t.Fatalf("empty fetch: %+v", p)
		}

		req.MaxWaitMillis = 60_000
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start = time.Now()
		if _, err := b.handleFetch(ctx, req); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("cancelled fetch returned after %v", took)
		}
	})
}
