package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// TestTierAttachedAfterStartUp: a restarted broker serves before the manifests of its
// partitions with local data are loaded; until then those partitions are tier-pending
// (offsets below the local start answered retriably, appends work), and Run attaches them;
// so is a partition whose local log is empty but ends at the remote end with its producer
// snapshot. A tiered partition whose local log is empty and starts at 0 is attached before
// New returns (its local log may have to restart at the remote end).
func TestTierAttachedAfterStartUp(t *testing.T) {
	dir, store := t.TempDir(), memstore.New()
	open := func() *Broker {
		return newTierBroker(t, dir, store)
	}
	b := open()
	cfg := map[string]string{"segment.bytes": "100", "remote.storage.enable": "true"}
	topic, err := b.createTopic("late", 1, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.createTopic("empty", 1, cfg, false); err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	appendN(t, p, 6, 1000) // offsets 0-5, one segment each
	rp, _ := b.tier.Partition("late", 0)
	if err := rp.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.LogForTesting().SetLogStartOffset(4); err != nil { // local retention of uploaded segments
		t.Fatal(err)
	}
	// A partition whose uploaded segments were all deleted locally: empty, ending at 3.
	idleTopic, err := b.createTopic("idle", 1, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	idle := idleTopic.partition(0)
	appendN(t, idle, 3, 1000)
	err = idle.Roll()
	if err != nil {
		t.Fatal(err)
	}
	irp, _ := b.tier.Partition("idle", 0)
	if err := irp.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := idle.LogForTesting().SetLogStartOffset(3); err != nil {
		t.Fatal(err)
	}
	if idle.LogForTesting().Size() != 0 || idle.LogForTesting().NextOffset() != 3 {
		t.Fatalf("idle partition: %d bytes, next offset %d", idle.LogForTesting().Size(), idle.LogForTesting().NextOffset())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = open()
	t.Cleanup(func() { b.Close() })
	p = b.lookupTopic("late").partition(0)
	idle = b.lookupTopic("idle").partition(0)
	if idle.Tier() != nil || !b.tierPending(idle) {
		t.Fatal("empty partition that ends at the remote end attached at start-up")
	}
	if p.Tier() != nil || !b.tierPending(p) || len(b.lateTiers) != 2 {
		t.Fatalf("partition with local data: tier %v, pending %v, late %d", p.Tier(), b.tierPending(p), len(b.lateTiers))
	}
	if e := b.lookupTopic("empty").partition(0); e.Tier() == nil {
		t.Fatal("partition with an empty local log not attached at start-up")
	}
	earliest := func() (int16, int64) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 11
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "late"
		rpp := kmsg.NewListOffsetsRequestTopicPartition()
		rpp.Timestamp = partition.ListEarliest
		rt.Partitions = append(rt.Partitions, rpp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleListOffsets(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		return sp.ErrorCode, sp.Offset
	}
	if code, _ := earliest(); code != kerr.KafkaStorageError.Code {
		t.Fatalf("earliest before the tier is attached: code %d, want KAFKA_STORAGE_ERROR", code)
	}
	appendN(t, p, 1, 2000) // appends do not wait for the tier

	// While the start-up attach runs, maintenance leaves the pending tiers to it (its retry
	// would load every pending manifest at once under adminMu).
	b.lateAttach.Store(true)
	b.runMaintenance(time.Now())
	if p.Tier() != nil || idle.Tier() != nil {
		t.Fatal("maintenance attached tiers the start-up attach is taking")
	}
	b.lateAttach.Store(false)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for p.Tier() == nil {
		if time.Now().After(deadline) {
			t.Fatal("tier not attached by Run")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for idle.Tier() == nil {
		if time.Now().After(deadline) {
			t.Fatal("tier of the empty partition not attached by Run")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s, n := idle.LogStartOffset(), idle.LogForTesting().NextOffset(); s != 0 || n != 3 {
		t.Fatalf("empty partition after attach: log start %d (want the remote start 0), next offset %d (want 3)", s, n)
	}
	if code, off := earliest(); code != 0 || off != 0 {
		t.Fatalf("earliest after the tier is attached: code %d offset %d, want 0 0", code, off)
	}
	if got := p.LogStartOffset(); got != 0 {
		t.Fatalf("log start %d, want the remote start 0", got)
	}
	if hw := p.HighWatermark(); hw != 7 {
		t.Fatalf("high watermark %d, want 7", hw)
	}
}

// newTierBroker is a broker on data dir dir with a remote tier on store; the caller closes it.
func newTierBroker(t *testing.T, dir string, store tiering.ObjectStore) *Broker {
	t.Helper()
	bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir})
	if err != nil {
		t.Fatal(err)
	}
	bc.RemoteStore = store
	b, err := New(bc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
