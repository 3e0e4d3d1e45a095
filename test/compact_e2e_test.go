package test

// Log compaction end to end with franz-go: a compacted topic (local only, then tiered on
// MinIO) takes many updates over many keys and tombstones; consumers reading from the
// start converge on the model (the latest value of every key, deleted keys gone), a
// restart serves the same view, a keyless record is refused with INVALID_RECORD, and for
// the tiered topic the bucket holds every acknowledged record (the full history).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/test/brokertest"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
)

// ackedRecord is a record the broker acknowledged; a nil value is a tombstone.
type ackedRecord struct {
	offset int64
	key    string
	value  []byte
}

// produceUpdates writes n updates over keys keys (every 23rd a tombstone) to partition 0
// of topic and returns the acknowledged records in offset order.
func produceUpdates(t *testing.T, addr, topic string, n, keys int) []ackedRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var (
		mu    sync.Mutex
		acked []ackedRecord
		first error
	)
	for i := range n {
		r := &kgo.Record{Key: fmt.Appendf(nil, "key-%05d", (i*7919)%keys), Value: fmt.Appendf(nil, "value-%07d", i)}
		if i%23 == 22 {
			r.Value = nil
		}
		cl.Produce(t.Context(), r, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			acked = append(acked, ackedRecord{r.Offset, string(r.Key), r.Value})
		})
	}
	if err := cl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if first != nil {
		t.Fatalf("produce: %v", first)
	}
	slices.SortFunc(acked, func(a, b ackedRecord) int { return int(a.offset - b.offset) })
	return acked
}

// compactModel is the latest value of every key that is not deleted.
func compactModel(acked []ackedRecord) map[string]string {
	m := map[string]string{}
	for _, r := range acked {
		if r.value == nil {
			delete(m, r.key)
		} else {
			m[r.key] = string(r.value)
		}
	}
	return m
}

// compactedView reads partition 0 of topic from the start up to a sentinel record it
// produces first, and returns the records read (sentinels excluded) and the latest
// value of every key (tombstones applied).
func compactedView(t *testing.T, addr, topic string) (int, map[string]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sentinel := fmt.Sprintf("sentinel-%d", time.Now().UnixNano())
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Key: []byte("~sentinel"), Value: []byte(sentinel)}).FirstErr(); err != nil {
		t.Fatalf("produce sentinel: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	view := map[string]string{}
	n := 0
	last := int64(-1)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no sentinel after %d records: %v", n, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error (retried): %v", err) })
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				t.Errorf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			if string(r.Key) == "~sentinel" {
				done = done || string(r.Value) == sentinel
				return
			}
			n++
			if r.Value == nil {
				delete(view, string(r.Key))
			} else {
				view[string(r.Key)] = string(r.Value)
			}
		})
		if done {
			return n, view
		}
	}
}

func compactTopicConfig(extra map[string]string) map[string]*string {
	c := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("65536"),
		"segment.ms":                kadm.StringPtr("500"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr("0"),
	}
	for k, v := range extra {
		c[k] = kadm.StringPtr(v)
	}
	return c
}

// waitCompacted waits until the compacted view holds exactly the model: one record per
// live key (older values and tombstones cleaned away).
func waitCompacted(t *testing.T, addr, topic string, model map[string]string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n, view := compactedView(t, addr, topic)
		if !maps.Equal(view, model) {
			t.Fatalf("compacted view: %d keys, model %d; they differ (a value lost or stale)", len(view), len(model))
		}
		if n == len(model) {
			t.Logf("compacted: %d records for %d live keys", n, len(model))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d records read for %d live keys", within, n, len(model))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestCompactedTopicEndToEnd(t *testing.T) {
	props := map[string]string{"log.retention.check.interval.ms": "100", "log.cleaner.backoff.ms": "100"}
	var reg *prometheus.Registry // the first start's (each start needs its own)
	tb := brokertest.Start(t, brokertest.Config{Props: props, Edit: func(c *broker.Config) {
		r := prometheus.NewRegistry()
		if reg == nil {
			reg = r
		}
		c.Registerer = r
	}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic = "compacted"
	cr, err := adm.CreateTopic(t.Context(), 1, 1, compactTopicConfig(nil), topic)
	if err != nil || cr.Err != nil {
		t.Fatal(err, cr.Err)
	}

	// A keyless record is refused: INVALID_RECORD, with the record's index (Produce v8+).
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = cr.ID // kgo sends the highest version both support (v13+: by topic ID)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = keylessBatch(t)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	sp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(sp.ErrorCode); !errors.Is(err, kerr.InvalidRecord) || len(sp.ErrorRecords) != 1 || sp.ErrorRecords[0].RelativeOffset != 1 {
		t.Fatalf("keyless record: %v, error records %+v", err, sp.ErrorRecords)
	}

	acked := produceUpdates(t, tb.Addr(), topic, 30_000, 1_000)
	model := compactModel(acked)
	if len(acked) != 30_000 || len(model) < 900 {
		t.Fatalf("%d acknowledged, %d live keys", len(acked), len(model))
	}
	if n, _ := compactedView(t, tb.Addr(), topic); n < len(model) {
		t.Fatalf("%d records read, %d live keys", n, len(model))
	}
	waitCompacted(t, tb.Addr(), topic, model, 60*time.Second)

	// The cleaner's metrics on the broker's registry.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() != "cleaned" {
					v = 0
				}
			}
			found[mf.GetName()] += v
		}
	}
	if found["strata_log_cleaner_runs_total"] < 1 || found["strata_log_cleaner_written_bytes_total"] <= 0 ||
		found["strata_log_cleaner_removed_records_total"] < float64(len(acked)-len(model))/2 {
		t.Fatalf("cleaner metrics: %v", found)
	}
	if _, ok := found["strata_log_cleaner_dirty_ratio"]; !ok {
		t.Fatalf("no dirty ratio metric: %v", found)
	}

	tb.Restart(t)
	n, view := compactedView(t, tb.Addr(), topic)
	if !maps.Equal(view, model) || n > len(model)+2 { // + the sentinels written since
		t.Fatalf("after restart: %d records, %d keys, model %d", n, len(view), len(model))
	}
}

// keylessBatch is an uncompressed batch of a keyed record then a keyless one.
func keylessBatch(t *testing.T) []byte {
	t.Helper()
	rec := func(i int, key []byte) []byte {
		var b []byte
		b = append(b, 0)
		b = appendVarint(b, 0)
		b = appendVarint(b, int64(i))
		if key == nil {
			b = appendVarint(b, -1)
		} else {
			b = appendVarint(b, int64(len(key)))
			b = append(b, key...)
		}
		b = appendVarint(b, 1)
		b = append(b, 'v')
		b = appendVarint(b, 0)
		return append(appendVarint(nil, int64(len(b))), b...)
	}
	body := append(rec(0, []byte("k")), rec(1, nil)...)
	now := time.Now().UnixMilli()
	h := segment.BatchHeader{BatchLength: int32(segment.MinBatchLength + len(body)), PartitionLeaderEpoch: -1, Magic: 2,
		LastOffsetDelta: 1, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 2}
	b := make([]byte, segment.BatchHeaderSize)
	h.Put(b)
	b = append(b, body...)
	segment.PutBatchCRC(b)
	return b
}

func appendVarint(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

// TestCompactedTieredTopicMinIO: a compacted topic with remote.storage.enable=true (the
// default for new topics of a tiered broker) is accepted; the bucket keeps its full
// history (every acknowledged record, read back from the objects the manifest names, as
// strata tier cat does) while consumers see the compacted view.
func TestCompactedTieredTopicMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	store := tierS3Store(t, srv, srv.NewBucket(t))
	props := map[string]string{
		"log.retention.check.interval.ms": "100", "log.cleaner.backoff.ms": "100",
		"remote.log.upload.interval.ms": "300", "log.remote.storage.enable": "true",
	}
	tb := brokertest.Start(t, brokertest.Config{Props: props, Store: store,
		Edit: func(c *broker.Config) { c.RemotePrefix = "cmp" }})
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic = "compacted-tiered"
	cr, err := adm.CreateTopic(t.Context(), 1, 1, compactTopicConfig(map[string]string{"segment.bytes": "262144", "retention.ms": "-1"}), topic)
	if err != nil || cr.Err != nil {
		t.Fatalf("create compacted tiered topic: %v %v", err, cr.Err)
	}
	start := time.Now()
	acked := produceUpdates(t, tb.Addr(), topic, 1_000_000, 10_000)
	t.Logf("produced %d updates in %v", len(acked), time.Since(start))
	model := compactModel(acked)
	waitCompacted(t, tb.Addr(), topic, model, 90*time.Second)
	t.Logf("compacted view of %d keys after %v", len(model), time.Since(start))

	// The bucket: every acknowledged record, in order, once the uploads caught up.
	last := acked[len(acked)-1].offset
	var history []ackedRecord
	tierWait(t, "history uploaded", 60*time.Second, func() bool {
		history = bucketHistory(t, store, "cmp", topic, cr.ID)
		return len(history) > 0 && history[len(history)-1].offset >= last
	})
	i := 0
	for _, r := range history {
		if r.key == "~sentinel" {
			continue
		}
		if i >= len(acked) {
			break
		}
		a := acked[i]
		if r.offset != a.offset || r.key != a.key || string(r.value) != string(a.value) || (r.value == nil) != (a.value == nil) {
			t.Fatalf("bucket record %d: %+v, acknowledged %+v", i, r, a)
		}
		i++
	}
	if i != len(acked) {
		t.Fatalf("bucket holds %d of the %d acknowledged records", i, len(acked))
	}
	t.Logf("history of %d records read from the bucket after %v", i, time.Since(start))
}

// bucketHistory reads partition 0 of the topic from the objects its manifest names.
func bucketHistory(t *testing.T, store tiering.ObjectStore, prefix, topic string, id [16]byte) []ackedRecord {
	t.Helper()
	_, entries, err := tiering.ReadPartitionManifest(t.Context(), store, prefix, topic, id, 0)
	if err != nil {
		if errors.Is(err, tiering.ErrNotExist) {
			return nil
		}
		t.Fatal(err)
	}
	var out []ackedRecord
	decomp := kgo.DefaultDecompressor()
	for _, e := range entries {
		rc, err := store.GetRange(t.Context(), e.Log.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		rp := &kmsg.FetchResponseTopicPartition{HighWatermark: e.LastOffset + 1, RecordBatches: data}
		fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Offset: e.BaseOffset}, rp, decomp, nil)
		if fp.Err != nil {
			t.Fatalf("%s: %v", e.Log.Key, fp.Err)
		}
		for _, r := range fp.Records {
			out = append(out, ackedRecord{r.Offset, string(r.Key), r.Value})
		}
	}
	return out
}
