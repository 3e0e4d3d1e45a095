package broker

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// gatedStore holds reads of the manifests of partitions 0 and 1 until open is closed.
type gatedStore struct {
	tiering.ObjectStore
	open chan struct{}
}

func (g *gatedStore) wait(ctx context.Context, key string) error {
	if strings.Contains(key, "/0/manifest") || strings.Contains(key, "/1/manifest") {
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (g *gatedStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := g.wait(ctx, key); err != nil {
		return nil, err
	}
	return g.ObjectStore.GetRange(ctx, key, off, n)
}

func (g *gatedStore) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	if err := g.wait(ctx, key); err != nil {
		return tiering.ObjectInfo{}, err
	}
	return g.ObjectStore.Stat(ctx, key)
}

// TestFetchWaitsForStartUpTierAttach: right after a restart, a fetch below the local start
// of a partition whose tier the start-up attach has not reached yet (it is stuck on another
// partition's manifest) waits for the attach, which takes that partition next, and gets
// the records; it is not answered with a retriable error that makes clients back off.
func TestFetchWaitsForStartUpTierAttach(t *testing.T) {
	defer func(d time.Duration) { tierAwaitMax = d }(tierAwaitMax)
	tierAwaitMax = time.Minute // the gate below decides, not the machine's speed
	dir, mem := t.TempDir(), memstore.New()
	open := func(store tiering.ObjectStore) *Broker {
		return newTierBroker(t, dir, store)
	}
	b := open(mem)
	topic, err := b.createTopic("aw", 3, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p := topic.partition(int32(i))
		appendN(t, p, 6, 1000)
		rp, _ := b.tier.Partition("aw", int32(i))
		if err := rp.UploadPending(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := p.LogForTesting().SetLogStartOffset(4); err != nil { // local retention of uploaded segments
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	gate := &gatedStore{ObjectStore: mem, open: make(chan struct{})}
	b = open(gate)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; b.Close() })
	p2 := b.lookupTopic("aw").partition(2)
	for wait := time.Now().Add(10 * time.Second); !b.lateAttach.Load(); { // Run started the attach
		if time.Now().After(wait) {
			t.Fatal("Run did not start the start-up attach")
		}
		time.Sleep(time.Millisecond)
	}
	if !b.tierPending(p2) {
		t.Fatal("partition 2 not tier-pending after the restart")
	}

	fetch := func() (int16, int) {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxWaitMillis = 100
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "aw"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = 2
		rp.FetchOffset = 0
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleFetch(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		return sp.ErrorCode, len(sp.RecordBatches)
	}
	type result struct {
		code  int16
		bytes int
	}
	got := make(chan result, 1)
	go func() { c, n := fetch(); got <- result{c, n} }()
	deadline := time.Now().Add(10 * time.Second)
	for len(b.tierUrgent) == 0 { // the fetch asked for partition 2
		select {
		case r := <-got:
			t.Fatalf("fetch answered (code %d, %d bytes) before the attach could reach its partition", r.code, r.bytes)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("fetch did not ask for its partition's tier")
		}
		time.Sleep(time.Millisecond)
	}
	close(gate.open)
	r := <-got
	if r.code != 0 || r.bytes == 0 {
		t.Fatalf("fetch below the local start after the restart: code %d, %d bytes; want the records from the bucket", r.code, r.bytes)
	}
}
