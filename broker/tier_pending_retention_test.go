package broker

import (
	"context"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/storewrap"
)

// A tiered partition whose tier is not attached (bucket unreachable) keeps every local
// segment, even those past retention.ms: nothing confirms they are in the bucket, and
// the ungated local retention of an untiered topic would delete records never uploaded.
// Once the bucket is back and the tier attaches, retention is gated on uploads again.
func TestTierPendingKeepsLocalSegments(t *testing.T) {
	store := storewrap.Faulty(memstore.New(), storewrap.FaultConfig{})
	b := newTierBroker(t, t.TempDir(), store)
	t.Cleanup(func() { b.Close() })
	topic, err := b.createTopic("pend", 1, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true",
		"retention.ms": "60000", "local.retention.ms": "0"}, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	appendN(t, p, 6, 1000) // timestamps of 1970: far past retention.ms, one segment each
	segs := len(p.LogForTesting().Segments())
	if segs < 6 {
		t.Fatalf("%d segments, want one per record", segs)
	}
	// As after a restart during an outage: no tier attached, none can be.
	store.SetDown(true)
	p.SetTier(context.Background(), nil)
	b.tier.ClosePartition("pend", 0)
	if !b.tierPending(p) {
		t.Fatal("partition not tier-pending")
	}
	later := time.Now().Add(time.Hour)
	b.runMaintenance(later)
	b.runMaintenance(later)
	if got := p.LogForTesting().LogStartOffset(); got != 0 {
		t.Fatalf("log start %d after maintenance with the tier pending: local segments deleted unconfirmed", got)
	}
	if got := len(p.LogForTesting().Segments()); got != segs {
		t.Fatalf("%d segments after maintenance with the tier pending, want %d", got, segs)
	}

	// Bucket back: the tier attaches and nothing is deleted locally that is not uploaded.
	store.SetDown(false)
	b.runMaintenance(later)
	rp := p.Tier()
	if rp == nil {
		t.Fatal("tier not attached once the bucket is back")
	}
	if got := p.LogForTesting().LogStartOffset(); got != 0 {
		t.Fatalf("log start %d before any upload", got)
	}
}
