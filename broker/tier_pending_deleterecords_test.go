package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/tiering/memstore"
)

// DeleteRecords on a tiered partition whose tier is not attached yet (after start-up, or
// with the bucket unreachable) cannot move the remote log start: answering it from the
// local log alone acknowledged a deletion that the bucket's records then undid once the
// tier attached (they were readable again, below the acknowledged low watermark). It is
// answered retriably instead, and deletes nothing.
func TestDeleteRecordsWhileTierPending(t *testing.T) {
	b := newTierBroker(t, t.TempDir(), memstore.New())
	t.Cleanup(func() { b.Close() })
	topic, err := b.createTopic("dr", 1, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true"}, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	appendN(t, p, 6, 1000) // offsets 0-5, one segment each
	rp, _ := b.tier.Partition("dr", 0)
	if err := rp.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.LogForTesting().SetLogStartOffset(4); err != nil { // local retention of uploaded segments
		t.Fatal(err)
	}
	// As after a restart, before attachTierLate reached the partition.
	p.SetTier(context.Background(), nil)
	b.tier.ClosePartition("dr", 0)
	if !b.tierPending(p) {
		t.Fatal("partition not tier-pending")
	}

	deleteRecords := func(offset int64) (int16, int64) {
		t.Helper()
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = 2
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "dr"
		rpp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rpp.Offset = offset
		rt.Partitions = append(rt.Partitions, rpp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleDeleteRecords(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
		return sp.ErrorCode, sp.LowWatermark
	}
	f := func(offset int64) {
		t.Helper()
		code, low := deleteRecords(offset)
		if code == 0 {
			t.Errorf("DeleteRecords to %d with the tier pending acknowledged (low watermark %d)", offset, low)
		} else if err := kerr.ErrorForCode(code); !kerr.IsRetriable(err) {
			t.Errorf("DeleteRecords to %d with the tier pending: %v, want a retriable error", offset, err)
		}
	}
	f(2) // below the local start: only in the bucket
	f(5) // above it
	if got := p.LogForTesting().LogStartOffset(); got != 4 {
		t.Fatalf("local log start %d after refused DeleteRecords, want 4", got)
	}

	b.attachTier(t.Context(), topic)
	if p.Tier() == nil {
		t.Fatal("tier not attached")
	}
	if got := p.LogStartOffset(); got != 0 {
		t.Fatalf("log start %d once attached, want 0", got)
	}
	// Attached: DeleteRecords works again, the remote part included.
	if code, low := deleteRecords(2); code != 0 || low != 2 {
		t.Fatalf("DeleteRecords to 2 once attached: code %d, low watermark %d", code, low)
	}
	if got := p.LogStartOffset(); got != 2 {
		t.Fatalf("log start %d after DeleteRecords to 2", got)
	}
}
