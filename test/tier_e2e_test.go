package test

// End-to-end tiered storage through the broker on a real MinIO, driven by franz-go: produce
// enough to roll many small segments, wait for upload and local deletion, read everything
// from offset 0 with a fresh consumer, look up offsets by timestamp in remote data, let
// retention delete remote segments, and restore a broker with an empty data dir from the
// bucket. These tests need the tier wired into the broker (broker.Config.RemoteStore).

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/brokertest"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
)

const (
	tierTopic   = "tiered"
	tierRecords = 2000
	tierTs0     = int64(1_700_000_000_000)
)

type tierBroker struct {
	*brokertest.Broker
	cl  *kgo.Client
	adm *kadm.Client
}

// close closes the client and stops the broker (test/brokertest checks Close and Run).
func (tb *tierBroker) close(t *testing.T) {
	t.Helper()
	tb.cl.Close()
	tb.Stop(t)
}

// startTierBroker runs a broker over dir tiering to store under the prefix "e2e", with
// 64 KiB chunks, an upload interval of 300 ms and a retention check every 100 ms.
func startTierBroker(t *testing.T, dir string, store tiering.ObjectStore) *tierBroker {
	t.Helper()
	tb := &tierBroker{Broker: brokertest.Start(t, brokertest.Config{Dir: dir, Store: store,
		Props: map[string]string{
			"log.retention.check.interval.ms": "100",
			"remote.log.chunk.bytes":          "65536",
			"remote.log.upload.interval.ms":   "300",
		},
		Edit: func(c *broker.Config) { c.RemotePrefix = "e2e" },
	})}
	var err error
	tb.cl, err = kgo.NewClient(kgo.SeedBrokers(tb.Addr()), kgo.RequestRetries(5))
	if err != nil {
		t.Fatal(err)
	}
	tb.adm = kadm.NewClient(tb.cl)
	t.Cleanup(tb.cl.Close) // before the broker's Stop
	return tb
}

func tierValue(i int) []byte {
	return fmt.Appendf(nil, "record-%05d-%s", i, strings.Repeat(string(rune('a'+i%26)), 100+i%150))
}

// consumeAll reads partition 0 of topic from offset from until it has n records.
func consumeAll(t *testing.T, addr string, from int64, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tierTopic: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxBytes(200_000), kgo.FetchMaxPartitionBytes(50_000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %d: %v", len(out), n, from, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error (retried): %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func checkRecords(t *testing.T, recs []*kgo.Record, from int64) {
	t.Helper()
	for i, r := range recs {
		want := from + int64(i)
		if r.Offset != want || string(r.Key) != fmt.Sprint(want) || string(r.Value) != string(tierValue(int(want))) ||
			r.Timestamp.UnixMilli() != tierTs0+want*1000 {
			t.Fatalf("record %d: offset %d key %q ts %d, want offset %d", i, r.Offset, r.Key, r.Timestamp.UnixMilli(), want)
		}
	}
}

func localLogFiles(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, tierTopic+"-0", "*.log"))
	return len(m)
}

func remoteLogObjects(t *testing.T, store tiering.ObjectStore) int {
	t.Helper()
	n := 0
	err := store.List(t.Context(), "e2e/", func(oi tiering.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, ".log") {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTierEndToEnd(t *testing.T) {
	srv := miniotest.Start(t)
	store := tierS3Store(t, srv, srv.NewBucket(t))
	dir := t.TempDir()
	tb := startTierBroker(t, dir, store)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	segBytes := "16384"
	cr, err := tb.adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"remote.storage.enable": kadm.StringPtr("true"),
		"segment.bytes":         &segBytes,
		"local.retention.bytes": kadm.StringPtr("0"),
		"retention.ms":          kadm.StringPtr("-1"),
	}, tierTopic)
	if err != nil || cr.Err != nil {
		t.Fatalf("create topic: %v %v", err, cr.Err)
	}
	var recs []*kgo.Record
	for i := range tierRecords {
		recs = append(recs, &kgo.Record{Topic: tierTopic, Partition: 0, Key: fmt.Append(nil, i), Value: tierValue(i),
			Timestamp: time.UnixMilli(tierTs0 + int64(i)*1000)})
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(4096), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pcl.Close()

	// Segments reach the bucket and leave the local disk.
	tierWait(t, "upload and local deletion", 60*time.Second, func() bool {
		return remoteLogObjects(t, store) >= 10 && localLogFiles(t, dir) <= 2
	})
	t.Logf("remote segments %d, local segments %d", remoteLogObjects(t, store), localLogFiles(t, dir))

	// A fresh consumer reads everything from 0, most of it from MinIO.
	checkRecords(t, consumeAll(t, tb.Addr(), 0, tierRecords), 0)

	// The log start is still 0 (remote data counts); the end is tierRecords.
	starts, err := tb.adm.ListStartOffsets(ctx, tierTopic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(tierTopic, 0); o.Offset != 0 {
		t.Fatalf("log start %d, want 0", o.Offset)
	}

	// ListOffsets by timestamp lands in remote data.
	for _, i := range []int64{0, 37, 500, 1234} {
		lo, err := tb.adm.ListOffsetsAfterMilli(ctx, tierTs0+i*1000-500, tierTopic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := lo.Lookup(tierTopic, 0); o.Err != nil || o.Offset != i {
			t.Fatalf("offset for timestamp of record %d: %d (%v)", i, o.Offset, o.Err)
		}
	}

	td, err := tb.adm.ListTopics(ctx, tierTopic)
	if err != nil {
		t.Fatal(err)
	}
	topicID := td[tierTopic].ID

	// Retention deletes remote segments (manifest first, then objects).
	before := remoteLogObjects(t, store)
	if _, err := tb.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr("100000")}}, tierTopic); err != nil {
		t.Fatal(err)
	}
	var start int64
	tierWait(t, "remote retention", 30*time.Second, func() bool {
		starts, err := tb.adm.ListStartOffsets(ctx, tierTopic)
		if err != nil {
			return false
		}
		o, _ := starts.Lookup(tierTopic, 0)
		start = o.Offset
		return start > 0 && remoteLogObjects(t, store) < before
	})
	tierWait(t, "objects of dropped segments deleted", 30*time.Second, func() bool {
		h, live, err := tiering.ReadPartitionManifest(ctx, store, "e2e", tierTopic, topicID, 0)
		return err == nil && h.LogStartOffset > 0 && remoteLogObjects(t, store) == len(live)
	})
	t.Logf("after retention: log start %d, remote segments %d (was %d)", start, remoteLogObjects(t, store), before)
	checkRecords(t, consumeAll(t, tb.Addr(), start, tierRecords-int(start)), start)

	// remote.log.upload.interval.ms rolls the quiet partition's active segment, so the
	// bucket ends up holding every record before the broker (and its disk) goes away.
	tierWait(t, "every record in the bucket", 30*time.Second, func() bool {
		h, _, err := tiering.ReadPartitionManifest(ctx, store, "e2e", tierTopic, topicID, 0)
		return err == nil && h.EndOffset == tierRecords
	})

	// Restore: a new broker with an empty data dir over the same bucket.
	tb.close(t)
	dir2 := t.TempDir()
	tb2 := startTierBroker(t, dir2, store)
	tierWait(t, "restored topic", 30*time.Second, func() bool {
		td, err := tb2.adm.ListTopics(ctx, tierTopic)
		return err == nil && td.Has(tierTopic) && td[tierTopic].Err == nil
	})
	ends, err := tb2.adm.ListEndOffsets(ctx, tierTopic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup(tierTopic, 0); o.Offset != tierRecords {
		t.Fatalf("restored end offset %d, want %d", o.Offset, tierRecords)
	}
	starts, err = tb2.adm.ListStartOffsets(ctx, tierTopic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(tierTopic, 0); o.Offset != start {
		t.Fatalf("restored log start %d, want %d", o.Offset, start)
	}
	checkRecords(t, consumeAll(t, tb2.Addr(), start, tierRecords-int(start)), start)
	r := &kgo.Record{Topic: tierTopic, Partition: 0, Key: fmt.Append(nil, tierRecords), Value: tierValue(tierRecords),
		Timestamp: time.UnixMilli(tierTs0 + tierRecords*1000)}
	pcl2, err := kgo.NewClient(kgo.SeedBrokers(tb2.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl2.Close()
	if err := pcl2.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r.Offset != tierRecords {
		t.Fatalf("first produce after restore got offset %d, want %d", r.Offset, tierRecords)
	}
}
