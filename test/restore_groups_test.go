package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/group"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
)

// cutStore cuts every upload of the groups snapshot halfway while cut is set: the S3
// PutObject then fails with part of the body sent, as when the broker dies mid-upload.
type cutStore struct {
	tiering.ObjectStore
	cut  atomic.Bool
	cuts atomic.Int64
}

func (s *cutStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if s.cut.Load() && strings.HasSuffix(key, "_groups/groups.snapshot") {
		s.cuts.Add(1)
		return s.ObjectStore.Put(ctx, key, &cutReader{r: io.LimitReader(r, size/2)}, size)
	}
	return s.ObjectStore.Put(ctx, key, r, size)
}

type cutReader struct{ r io.Reader }

func (c *cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) {
		err = errors.New("connection lost mid-upload")
	}
	return n, err
}

// bucketGroupOffset reads the groups snapshot in the bucket and returns the committed
// offset of group/topic/partition (-1: none), failing on a damaged snapshot.
func bucketGroupOffset(t *testing.T, store tiering.ObjectStore, prefix, g, topic string, p int32) int64 {
	t.Helper()
	rc, err := store.GetRange(t.Context(), tiering.GroupsSnapshotKey(prefix), 0, -1)
	if errors.Is(err, tiering.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := group.DecodeSnapshot(b)
	if err != nil {
		t.Fatalf("the groups snapshot in the bucket is damaged: %v", err)
	}
	off := int64(-1)
	for _, r := range recs {
		if r.Kind == group.KindOffset && r.Group == g && r.Topic == topic && r.Partition == p {
			off = r.Offset.Offset
		}
	}
	return off
}

// Issue 19 "Restore is complete": a broker whose disk is lost is restored from the bucket
// (MinIO) onto an empty data dir; a consumer group resumes at its committed offsets, and a
// topic that was not tiered exists again, empty, with its partition count and configs. A
// groups upload cut halfway leaves the previous complete snapshot in the bucket.
func TestRestoreBringsBackGroupOffsetsAndLocalTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and real brokers; make test runs it (never -short)")
	}
	srv := miniotest.Start(t)
	store := &cutStore{ObjectStore: tierS3Store(t, srv, srv.NewBucket(t))}
	const prefix = "rg"
	open := func(dir string) (addr string, crash func()) {
		cfg, err := broker.ParseConfig(map[string]string{
			"listeners":                               "PLAINTEXT://127.0.0.1:0",
			"log.dirs":                                dir,
			"log.remote.storage.enable":               "true",
			"log.retention.check.interval.ms":         "100",
			"strata.remote.groups.upload.interval.ms": "100",
			"strata.remote.log.watermark.interval.ms": "100",
			"group.initial.rebalance.delay.ms":        "0",
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.RemoteStore, cfg.RemotePrefix = store, prefix
		b, err := broker.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		// crash stops serving without Close (no final upload); Close runs at the end.
		crash = func() { cancel(); <-done; t.Cleanup(func() { b.Close() }) }
		return b.Addr().String(), crash
	}

	addrA, crashA := open(t.TempDir())
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrA), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	seg, off, ret := "1024", "false", "123456789"
	if _, err := adm.CreateTopic(t.Context(), 1, 1, map[string]*string{"segment.bytes": &seg}, "events"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(t.Context(), 3, 1, map[string]*string{"remote.storage.enable": &off, "retention.ms": &ret}, "local-only"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Value: fmt.Appendf(nil, "v%03d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	td, err := adm.ListTopics(t.Context(), "events")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "uploads past offset 80", time.Minute, func() bool {
		_, es, err := tiering.ReadPartitionManifest(t.Context(), store, prefix, "events", td["events"].ID, 0)
		return err == nil && len(es) > 0 && es[len(es)-1].LastOffset >= 80
	})
	commit := func(at int64) {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "events", Partition: 0, At: at, LeaderEpoch: -1})
		r, err := adm.CommitOffsets(t.Context(), "g", os)
		if err == nil {
			err = r.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	lt, err := adm.ListTopics(t.Context(), "local-only")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the local-only topic's topic.json", time.Minute, func() bool {
		_, err := store.Stat(t.Context(), tiering.TopicManifestKey(prefix, "local-only", lt["local-only"].ID))
		return err == nil
	})
	// Records in the local-only topic: lost with the disk, but their offsets are not
	// handed out again after the restore (its log end is recorded in the bucket).
	for i := range 7 {
		r := &kgo.Record{Topic: "local-only", Partition: 2, Value: fmt.Appendf(nil, "local-%d", i)}
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the local-only partition's log end in the bucket", time.Minute, func() bool {
		w, err := tiering.ReadWatermark(t.Context(), store, tiering.PartitionPrefix(prefix, "local-only", lt["local-only"].ID, 2))
		return err == nil && w.LogEnd == 7
	})
	commit(40)
	waitFor(t, "offset 40 in the bucket", time.Minute, func() bool { return bucketGroupOffset(t, store, prefix, "g", "events", 0) == 40 })

	// Uploads cut halfway fail; the bucket keeps the complete snapshot with 40.
	store.cut.Store(true)
	commit(70)
	before := store.cuts.Load()
	waitFor(t, "two cut uploads", time.Minute, func() bool { return store.cuts.Load() >= before+2 })
	if got := bucketGroupOffset(t, store, prefix, "g", "events", 0); got != 40 {
		t.Fatalf("after cut uploads the bucket holds offset %d, want the last complete upload's 40", got)
	}
	store.cut.Store(false)
	waitFor(t, "offset 70 in the bucket", time.Minute, func() bool { return bucketGroupOffset(t, store, prefix, "g", "events", 0) == 70 })
	cl.Close()
	crashA() // the machine and its disk are lost

	addrB, _ := open(t.TempDir())
	cl, err = kgo.NewClient(kgo.SeedBrokers(addrB))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(addrB), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("events"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	first := int64(-1)
	for first < 0 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("the restored group's consumer got no records")
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if first < 0 {
				first = r.Offset
				if string(r.Value) != fmt.Sprintf("v%03d", r.Offset) {
					t.Errorf("offset %d: %q", r.Offset, r.Value)
				}
			}
		})
	}
	if first != 70 {
		t.Fatalf("the restored group resumed at offset %d, want its committed 70", first)
	}
	cons.Close() // leaves the group (it never committed)

	// A second client family: librdkafka (confluent-kafka-python) joins the restored group
	// and starts at the committed offset too.
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "-c", rdkafkaResume, addrB, "g", "events").CombinedOutput()
	if err != nil {
		t.Fatalf("librdkafka consumer (needs python3-confluent-kafka: make tools): %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "70" {
		t.Fatalf("librdkafka's consumer of the restored group started at %q, want offset 70", got)
	}

	badm := kadm.NewClient(cl)
	lt, err = badm.ListTopics(t.Context(), "local-only")
	if err != nil {
		t.Fatal(err)
	}
	if d := lt["local-only"]; d.Err != nil || len(d.Partitions) != 3 {
		t.Fatalf("restored local-only topic: err %v, %d partitions, want 3", d.Err, len(d.Partitions))
	}
	rcs, err := badm.DescribeTopicConfigs(t.Context(), "local-only")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rcs[0].Configs {
		if c.Value != nil {
			got[c.Key] = *c.Value
		}
	}
	if got["retention.ms"] != ret || got["remote.storage.enable"] != "false" {
		t.Fatalf("restored local-only configs: retention.ms=%q remote.storage.enable=%q", got["retention.ms"], got["remote.storage.enable"])
	}
	ends, err := badm.ListEndOffsets(t.Context(), "local-only")
	if err != nil {
		t.Fatal(err)
	}
	starts, err := badm.ListStartOffsets(t.Context(), "local-only")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup("local-only", o.Partition)
		switch {
		case o.Err != nil || s.Err != nil:
			t.Errorf("restored local-only partition %d: %v %v", o.Partition, o.Err, s.Err)
		case s.Offset != o.Offset:
			t.Errorf("restored local-only partition %d: start %d, end %d; want an empty partition", o.Partition, s.Offset, o.Offset)
		case o.Partition == 2 && o.Offset < 7:
			t.Errorf("restored local-only partition 2 ends at %d: offsets below 7 were acknowledged before the crash", o.Offset)
		case o.Partition != 2 && o.Offset != 0:
			t.Errorf("restored local-only partition %d (never written) ends at %d", o.Partition, o.Offset)
		}
	})
}

// rdkafkaResume joins group argv[2] on topic argv[3] with confluent-kafka-python and
// prints the offset of the first record it gets.
const rdkafkaResume = `
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "auto.offset.reset": "earliest",
              "enable.auto.commit": False})
c.subscribe([sys.argv[3]])
while True:
    m = c.poll(1.0)
    if m is None:
        continue
    if m.error():
        print(m.error(), file=sys.stderr)
        continue
    print(m.offset())
    break
c.close()
`
