package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

// Issue 23 suspects, ruled out and kept so: a fetch at any offset, including one where a
// batch of another producer starts, is answered with the batch that holds the offset
// first (a consumer skips the records below it), whatever produced the batches around
// it; and a fetch naming several partitions, some at their end, answers every one of them
// in request order, in a sessionless response (Strata keeps no KIP-227 fetch sessions).
func TestFetchAnyOffsetStartsWithItsBatch(t *testing.T) {
	b := newTestBroker(t)
	topic, err := b.createTopic("mixed", 3, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	app := func(bt []byte) {
		t.Helper()
		h, err := validateBatch(bt, topic.Config(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Append(bt, h, time.Now(), true); err != nil {
			t.Fatal(err)
		}
	}
	// Producer 7, producer 9 (idempotent), a plain producer, interleaved, batches of 1-5.
	seq := map[int64]int32{}
	for i := range 30 {
		n := 1 + i%5
		switch i % 3 {
		case 0, 1:
			pid := int64(7 + 2*(i%3))
			app(idempotentBatch(t, pid, 0, seq[pid], n))
			seq[pid] += int32(n)
		default:
			app(testBatch(t, codecNone, 1000, make([]int64, n), false))
		}
	}
	hw := p.HighWatermark()

	fetch := func(offsets ...int64) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version = 11 // librdkafka 2.0's newest
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1 // what librdkafka sends: no session
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "mixed"
		for i, off := range offsets {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(i), off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleFetch(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse)
	}
	for off := range hw {
		sp := fetch(off).Topics[0].Partitions[0]
		rb := sp.RecordBatches
		if sp.ErrorCode != 0 || len(rb) < segment.BatchHeaderSize {
			t.Fatalf("fetch at %d: error %d, %d record bytes", off, sp.ErrorCode, len(rb))
		}
		h, err := segment.DecodeBatchHeader(rb)
		if err != nil {
			t.Fatalf("fetch at %d: %v", off, err)
		}
		if base, last := h.BaseOffset, h.LastOffset(); off < base || off > last {
			t.Fatalf("fetch at %d starts with batch %d-%d (producer %d)", off, base, last, h.ProducerID)
		}
		if got := batchOffsets(t, rb); got[len(got)-1] != lastBatchBase(t, p) {
			t.Fatalf("fetch at %d: batches %v do not reach the last batch", off, got)
		}
	}

	// Partition 0 mid-log, 1 and 2 empty (at their end): all three answered, in order.
	resp := fetch(hw/2, 0, 0)
	if resp.SessionID != 0 || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 3 {
		t.Fatalf("response: session %d, error %d, %d topics %+v", resp.SessionID, resp.ErrorCode, len(resp.Topics), resp.Topics)
	}
	for i, sp := range resp.Topics[0].Partitions {
		if sp.Partition != int32(i) || sp.ErrorCode != 0 || (i == 0) != (len(sp.RecordBatches) > 0) {
			t.Fatalf("partition answer %d: %d, error %d, %d record bytes", i, sp.Partition, sp.ErrorCode, len(sp.RecordBatches))
		}
	}
}

// lastBatchBase is the base offset of p's last batch.
func lastBatchBase(t *testing.T, p *partition.Partition) int64 {
	t.Helper()
	data, _, err := p.ReadLocal(0, 1<<20, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	offs := batchOffsets(t, data)
	return offs[len(offs)-1]
}
