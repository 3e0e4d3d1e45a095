package broker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// Regression test for OFFSET_OUT_OF_RANGE answered to fetches inside [log start, high
// watermark] (seen by the reliability checker, after which franz-go reset the consumer
// to offset 0). A writer appends and rolls tiny segments, the real tier uploads them to
// memstore, maintenance deletes uploaded local segments at once, and meanwhile consumers
// fetch through handleFetch: one from offset 0, crossing the moving remote/local handover
// again and again, one at the tail, where every batch is read while it is being appended.
// No fetch may be answered out of range, and every consumer must read every offset, in
// order, exactly once.
func TestFetchNeverOutOfRangeWhileLogMoves(t *testing.T) {
	b := newTierBroker(t, t.TempDir(), memstore.New()) // allows remote.storage.enable; the test installs the tier
	t.Cleanup(func() { b.Close() })
	topic, err := b.createTopic("race", 1, map[string]string{
		"segment.bytes": "2000", "remote.storage.enable": "true",
		"local.retention.bytes": "1", "local.retention.ms": "-2", "retention.ms": "-1", "retention.bytes": "-1",
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m, err := tiering.NewManager(tiering.Config{ChunkBytes: 512}, memstore.New(), c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := m.OpenPartition(t.Context(), "race", topic.ID, 0, p.LogForTesting(), tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.ClosePartition("race", 0) })
	p.SetTier(context.Background(), rp)

	dur := 2 * time.Second
	if testing.Short() {
		dur = 500 * time.Millisecond
	}
	var writing atomic.Bool
	writing.Store(true)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}

	// The bucket side and maintenance, as the broker's loops run them.
	wg.Go(func() {
		for writing.Load() {
			if err := rp.UploadPending(t.Context()); err != nil {
				fail(fmt.Errorf("upload: %w", err))
				return
			}
			p.Maintain(time.Now(), false)
			time.Sleep(5 * time.Millisecond)
		}
	})

	fetch := func(off int64) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxWaitMillis = 20
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "race"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = off
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleFetch(t.Context(), req)
		if err != nil {
			t.Error(err)
			return kmsg.FetchResponseTopicPartition{ErrorCode: -1}
		}
		return resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	// consume reads from offset from until the log end; once writing stopped, or (with
	// untilCaughtUp) as soon as it reaches the end.
	consume := func(name string, from int64, untilCaughtUp bool, reads *atomic.Int64) {
		off := from
		for {
			if (untilCaughtUp || !writing.Load()) && off >= p.HighWatermark() {
				return
			}
			sp := fetch(off)
			hw := p.HighWatermark() // a record returned must be below the high watermark after
			switch sp.ErrorCode {
			case 0:
			case kerr.KafkaStorageError.Code:
				continue // a remote read raced a deletion of remote data; not here, but retriable
			default:
				fail(fmt.Errorf("%s: fetch at %d: error %d (%v); log start %d, local start %d, high watermark %d",
					name, off, sp.ErrorCode, kerr.ErrorForCode(sp.ErrorCode), p.LogStartOffset(), p.LocalLogStartOffset(), p.HighWatermark()))
				return
			}
			err := partition.SplitBatches(sp.RecordBatches, func(h segment.BatchHeader, _ []byte) (bool, error) {
				if h.LastOffset() < off {
					return true, nil // the batch holding an offset before ours
				}
				if h.BaseOffset != off {
					return false, fmt.Errorf("%s: expected offset %d, got a batch at %d", name, off, h.BaseOffset)
				}
				if h.LastOffset() >= hw {
					return false, fmt.Errorf("%s: fetch at %d returned offset %d, above the high watermark %d", name, off, h.LastOffset(), hw)
				}
				off = h.LastOffset() + 1
				reads.Add(1)
				return true, nil
			})
			if err != nil {
				fail(err)
				return
			}
		}
	}
	var tailReads, catchUpReads, catchUps atomic.Int64
	wg.Go(func() { consume("tail", 0, false, &tailReads) })
	wg.Go(func() {
		// Start over from 0 whenever caught up: most of the log is in the bucket by then.
		for writing.Load() {
			consume("catch-up", 0, true, &catchUpReads)
			catchUps.Add(1)
		}
	})

	deadline := time.Now().Add(dur)
	var appended int64
	for time.Now().Before(deadline) && len(errs) == 0 {
		appendN(t, p, 1, 1000+appended)
		appended++
	}
	writing.Store(false)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if tailReads.Load() != appended {
		t.Fatalf("tail consumer read %d batches of %d", tailReads.Load(), appended)
	}
	if p.LocalLogStartOffset() == 0 {
		t.Fatal("no local segment was deleted: the handover was not exercised")
	}
	t.Logf("%d batches appended; local start %d; catch-up consumer restarted %d times, read %d batches",
		appended, p.LocalLogStartOffset(), catchUps.Load(), catchUpReads.Load())
}

// A tiered partition whose manifest is not loaded (bucket unreachable when the broker
// started) does not know what lies below its local start: a fetch there is answered
// KAFKA_STORAGE_ERROR, which clients retry, not OFFSET_OUT_OF_RANGE, which would reset them
// past data still in the bucket. Once the tier is attached the answer follows its bounds.
func TestFetchBelowLocalStartWithTierNotYetAttached(t *testing.T) {
	b := newTierBroker(t, t.TempDir(), memstore.New())
	t.Cleanup(func() { b.Close() })
	topic, err := b.createTopic("pending", 1, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true"}, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	if p.Tier() == nil {
		t.Fatal("tier not attached at creation")
	}
	// As after a start with the bucket down: local segments below 4 went (they had been
	// uploaded), and no manifest is loaded.
	p.SetTier(context.Background(), nil)
	b.tier.ClosePartition("pending", 0)
	appendN(t, p, 6, 1000)
	if err := p.LogForTesting().SetLogStartOffset(4); err != nil {
		t.Fatal(err)
	}
	fetchAt := func(off int64) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "pending"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset = off
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleFetch(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	if sp := fetchAt(1); sp.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("below the local start without a tier: error %d, want KAFKA_STORAGE_ERROR", sp.ErrorCode)
	}
	if sp := fetchAt(7); sp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("above the high watermark: error %d, want OFFSET_OUT_OF_RANGE", sp.ErrorCode)
	}
	if sp := fetchAt(4); sp.ErrorCode != 0 || len(batchOffsets(t, sp.RecordBatches)) == 0 {
		t.Fatalf("at the local start: error %d, %d bytes", sp.ErrorCode, len(sp.RecordBatches))
	}
	// The manifest loads (the bucket holds nothing for this partition): below the start
	// is now known to be out of range.
	b.attachTier(t.Context(), topic)
	if p.Tier() == nil {
		t.Fatal("tier not attached")
	}
	if sp := fetchAt(1); sp.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("below the start with the tier attached: error %d, want OFFSET_OUT_OF_RANGE", sp.ErrorCode)
	}
}
