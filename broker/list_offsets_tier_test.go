package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/tiering/memstore"
)

// ListOffsets on a tiered partition whose tier is not attached (bucket unreachable at
// start-up): earliest (-2) and timestamp lookups are KAFKA_STORAGE_ERROR while records
// below the local start may be in the bucket, so a consumer resetting to earliest retries
// instead of starting past them; once the manifest loads they answer the remote start.
func TestListOffsetsWithTierNotYetAttached(t *testing.T) {
	b := newTierBroker(t, t.TempDir(), memstore.New())
	t.Cleanup(func() { b.Close() })
	cfg := map[string]string{"segment.bytes": "100", "remote.storage.enable": "true"}
	topic, err := b.createTopic("lo", 1, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	rp, ok := b.tier.Partition("lo", 0)
	if !ok || p.Tier() == nil {
		t.Fatal("tier not attached at creation")
	}
	appendN(t, p, 6, 1000) // offsets 0-5, timestamps 1000-1005, one segment each
	if err := rp.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if start, end, ok := rp.Bounds(); !ok || start != 0 || end < 4 {
		t.Fatalf("remote bounds %d-%d %v, want 0-(>=4)", start, end, ok)
	}
	// As after a restart with the bucket down: uploaded local segments below 4 are gone
	// (local retention) and no manifest is loaded.
	if err := p.LogForTesting().SetLogStartOffset(4); err != nil {
		t.Fatal(err)
	}
	p.SetTier(context.Background(), nil)
	b.tier.ClosePartition("lo", 0)

	// A second tiered partition that never lost local data: nothing can be below its start.
	fresh, err := b.createTopic("fresh", 1, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	fp := fresh.partition(0)
	appendN(t, fp, 3, 1000)
	fp.SetTier(context.Background(), nil)
	b.tier.ClosePartition("fresh", 0)
	if !b.tierPending(p) || !b.tierPending(fp) {
		t.Fatal("partitions not in the tier-pending state")
	}

	type answer struct {
		code   int16
		offset int64
	}
	list := func(topic string, ts int64) answer {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 11
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rpp := kmsg.NewListOffsetsRequestTopicPartition()
		rpp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rpp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleListOffsets(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		return answer{sp.ErrorCode, sp.Offset}
	}
	storageErr := answer{kerr.KafkaStorageError.Code, -1}
	for _, c := range []struct {
		name  string
		topic string
		ts    int64
		want  answer
	}{
		{"earliest below a lost local start", "lo", partition.ListEarliest, storageErr},
		{"timestamp possibly in the bucket", "lo", 1000, storageErr},
		{"latest tiered", "lo", partition.ListLatestTiered, storageErr},
		{"earliest pending upload", "lo", partition.ListEarliestPending, storageErr},
		{"latest", "lo", partition.ListLatest, answer{0, 6}},
		{"earliest local", "lo", partition.ListEarliestLocal, answer{0, 4}},
		{"earliest, local log starts at 0", "fresh", partition.ListEarliest, answer{0, 0}},
		{"timestamp, local log starts at 0", "fresh", 1001, answer{0, 1}},
	} {
		if got := list(c.topic, c.ts); got != c.want {
			t.Errorf("pending: %s (%s, %d): got %+v, want %+v", c.name, c.topic, c.ts, got, c.want)
		}
	}
	if !kerr.IsRetriable(kerr.ErrorForCode(kerr.KafkaStorageError.Code)) {
		t.Fatal("KAFKA_STORAGE_ERROR is not retriable for clients")
	}

	// The bucket is back: the manifest loads and the same queries see the remote data.
	b.attachTier(t.Context(), topic)
	if p.Tier() == nil {
		t.Fatal("tier not attached")
	}
	for _, c := range []struct {
		name string
		ts   int64
		want answer
	}{
		{"earliest", partition.ListEarliest, answer{0, 0}},
		{"timestamp in the bucket", 1001, answer{0, 1}},
		{"earliest local", partition.ListEarliestLocal, answer{0, 4}},
	} {
		if got := list("lo", c.ts); got != c.want {
			t.Errorf("attached: %s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}
