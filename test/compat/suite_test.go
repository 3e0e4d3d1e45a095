package compat

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering/memstore"
)

// The records every client produces: keys repeat (so the partitioner's consistency is
// checked), values are unique, compressible, and end in a non-ASCII character.
func key(i int) string { return fmt.Sprintf("key-%d", i%23) }
func value(topic string, i int) string {
	return fmt.Sprintf("%s|%06d|%s\u00fc", topic, i, strings.Repeat("ab", i%40))
}

const (
	produceN   = 300
	partitions = 3
)

var codecIDs = map[string]int8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// runSuite drives one client through every step. Steps share one broker; each uses its
// own topics.
func runSuite(t *testing.T, name string, c client) {
	tb := startBroker(t)

	t.Run("create-topic", func(t *testing.T) {
		topic := name + "-admin"
		c.createTopic(t, tb.addr, topic, 5)
		adm := kadm.NewClient(franz(t, tb.addr))
		td, err := adm.ListTopics(t.Context(), topic)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := td[topic]; !ok || d.Err != nil || len(d.Partitions) != 5 {
			t.Fatalf("topic %s after the client's CreateTopics: %+v", topic, td[topic])
		}
	})

	for _, codec := range c.codecs() {
		t.Run("produce-consume-"+codec, func(t *testing.T) {
			topic := name + "-" + codec
			createTopicFranz(t, tb.addr, topic, partitions)
			c.produce(t, tb.addr, topic, codec, produceN, false)
			ref := checkProduced(t, tb.addr, topic, produceN)
			checkBatches(t, tb.addr, topic, codecIDs[codec], false)
			got := c.consume(t, tb.addr, topic, produceN, false)
			compareConsumed(t, ref, got)
		})
	}

	if c.idempotent() {
		t.Run("idempotent-produce", func(t *testing.T) {
			topic := name + "-idempotent"
			createTopicFranz(t, tb.addr, topic, partitions)
			c.produce(t, tb.addr, topic, "none", produceN, true)
			checkProduced(t, tb.addr, topic, produceN)
			checkBatches(t, tb.addr, topic, 0, true)
		})
		t.Run("idempotent-lost-responses", func(t *testing.T) { lostResponsesStep(t, name, c) })
	}

	t.Run("tiered-read", func(t *testing.T) { tieredStep(t, name, c) })
	t.Run("group", func(t *testing.T) { groupScenario(t, tb, name, c) })
	t.Run("group-autocommit", func(t *testing.T) { autocommitStep(t, tb.addr, name, c) })
	if _, ok := c.(*scriptClient); ok {
		t.Run("group-member-crash", func(t *testing.T) { memberCrashStep(t, tb.addr, name, c) })
	}
	t.Run("admin", func(t *testing.T) { adminStep(t, tb.addr, name, c) })
}

// lostResponsesStep: the idempotent producer talks to the broker through a proxy that
// loses the responses of Produce requests 1, 4 and 7 together with their connections. The client retries batches the broker already wrote; each record must be
// in the log exactly once, with contiguous sequence numbers.
func lostResponsesStep(t *testing.T, name string, c client) {
	px := startDropProxy(t, 3, 3)
	tb := startBrokerWith(t, map[string]string{"advertised.listeners": "PLAINTEXT://" + px.addr()}, nil)
	px.serve(tb.addr)
	topic := name + "-lost-responses"
	createTopicFranz(t, px.addr(), topic, partitions)
	c.produce(t, px.addr(), topic, "none", produceN, true)
	if px.dropped.Load() == 0 {
		t.Fatalf("no Produce response was lost (%d Produce requests): the test proves nothing", px.produces.Load())
	}
	checkProduced(t, px.addr(), topic, produceN)
	checkBatches(t, px.addr(), topic, 0, true)
	t.Logf("%d Produce responses lost of %d", px.dropped.Load(), px.produces.Load())
}

// tieredStep: the client produces to a topic whose sealed segments move to the bucket (an
// in-memory object store) and leave the local disk; a fresh client consumer then reads
// everything from offset 0, most of it served from the bucket, and must see exactly what
// was produced; then once more with fetch limits far below one batch.
func tieredStep(t *testing.T, name string, c client) {
	tb := startBrokerWith(t, map[string]string{
		"log.retention.check.interval.ms": "100",
		"remote.log.upload.interval.ms":   "200",
		"remote.log.chunk.bytes":          "8192",
	}, func(cfg *broker.Config) { cfg.RemoteStore = memstore.New() })
	topic := name + "-tiered"
	const n = 1500
	adm := kadm.NewClient(franz(t, tb.addr))
	cr, err := adm.CreateTopic(t.Context(), partitions, 1, map[string]*string{
		"remote.storage.enable": kadm.StringPtr("true"),
		"segment.bytes":         kadm.StringPtr("8192"),
		"local.retention.bytes": kadm.StringPtr("0"),
		"retention.ms":          kadm.StringPtr("-1"),
	}, topic)
	if err == nil {
		err = cr.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	codec := c.codecs()[len(c.codecs())-1]
	c.produce(t, tb.addr, topic, codec, n, false)

	// Wait until every partition's log start on local disk is past offset 0: its first
	// segments were uploaded (only uploaded segments are deleted locally).
	deadline := time.Now().Add(30 * time.Second)
	for {
		moved := 0
		var firstLocal []string
		for p := range partitions {
			logs, _ := filepath.Glob(filepath.Join(tb.dir, fmt.Sprintf("%s-%d", topic, p), "*.log"))
			if len(logs) > 0 && filepath.Base(logs[0]) != "00000000000000000000.log" {
				moved++
				firstLocal = append(firstLocal, filepath.Base(logs[0]))
			}
		}
		if moved == partitions {
			t.Logf("first local segments: %v (%s, %d records)", firstLocal, codec, n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s only %d of %d partitions moved their first segments to the bucket", moved, partitions)
		}
		time.Sleep(100 * time.Millisecond)
	}
	starts, err := adm.ListStartOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	starts.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Fatalf("partition %d: log start %d, want 0 (remote data counts)", o.Partition, o.Offset)
		}
	})
	ref := checkProduced(t, tb.addr, topic, n)
	compareConsumed(t, ref, c.consume(t, tb.addr, topic, n, false))
	compareConsumed(t, ref, c.consume(t, tb.addr, topic, n, true))
}

// memberCrashStep: of two members that split a topic and commit every record, one is
// killed (SIGKILL: no LeaveGroup). After its session times out the survivor owns every
// partition and reads what arrives next, continuing the dead member's partitions exactly
// at their commits: nothing is skipped or read twice.
func memberCrashStep(t *testing.T, addr, name string, c client) {
	topic, group := name+"-crash", name+"-crash"
	createTopicFranz(t, addr, topic, groupPartitions)
	produce := func(from, to int) {
		cl := franz(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % groupPartitions), Key: []byte(key(i)), Value: []byte(value(topic, i))})
		}
		if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}
	const n1, n2 = 100, 100
	g := &groupRun{t: t, topic: topic, assigned: make([][]int32, 2), seen: map[string]int{},
		resumeAt: uniform(0), firstOff: map[int32]int64{}}
	g.members = []member{c.member(t, addr, topic, group), c.member(t, addr, topic, group)}
	g.waitSplit()
	produce(0, n1)
	g.readUntil(n1)
	start := time.Now()
	for _, e := range g.members[0].(*scriptMember).kill(t) {
		g.handle(0, e, false)
	}
	g.members[0] = goneMember{}
	produce(n1, n1+n2)
	g.readUntil(n1 + n2)
	deadline := time.After(40 * time.Second)
	for len(g.assigned[1]) != groupPartitions {
		g.step(deadline)
	}
	t.Logf("survivor owns %v and read everything %.1fs after the kill (%v records per member)", g.assigned[1], time.Since(start).Seconds(), g.perMember)
	g.stopAll()
	checkCommitted(t, addr, group, topic, uniform((n1+n2)/groupPartitions))
}

// autocommitStep: a member with the client's default automatic commits reads a topic to
// its end and closes; the group's commits must then be the partitions' ends.
func autocommitStep(t *testing.T, addr, name string, c client) {
	topic, group := name+"-autocommit", name+"-autocommit"
	createTopicFranz(t, addr, topic, partitions)
	cl := franz(t, addr)
	var recs []*kgo.Record
	for i := range produceN {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key(i)), Value: []byte(value(topic, i))})
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ref := checkProduced(t, addr, topic, produceN)
	compareConsumed(t, ref, c.autocommit(t, addr, topic, group, produceN))
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	adm := kadm.NewClient(cl)
	offs, err := adm.FetchOffsets(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			got[o.Partition] = o.At
		}
	})
	if !maps.Equal(got, want) {
		t.Fatalf("after the member closed, group %s committed %v, want the ends %v", group, got, want)
	}
}

// The topic config the admin step changes through the client.
const (
	alterKey   = "retention.ms"
	alterValue = "123456789"
)

// adminStep: after the group scenario, the client's admin API (and consumer metadata
// calls) must see what franz-go sees: the topic's retention.ms, the group in the group
// list with its committed offsets, the partitions' end offsets, the offsets for timestamp
// 0; then it changes retention.ms and deletes the topic of the create-topic step.
//
// The client reports: config (k=retention.ms, v=value before the change), group (k=id),
// committed (p, o), end (p, o), bytime (p, o), and, where its admin API has DeleteRecords,
// deleted (p, o: the new log start it asked for, reported after the call returned), and
// setoffset (p, o: an offset it committed for the stopped group without joining it).
func adminStep(t *testing.T, addr, name string, c client) {
	topic, group, doomed := name+"-group", name+"-group", name+"-admin"
	adm := kadm.NewClient(franz(t, addr))
	rc, err := adm.DescribeTopicConfigs(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	cfgBefore, err := rc.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	var retention string
	for _, c := range cfgBefore.Configs {
		if c.Key == alterKey {
			retention = c.MaybeValue()
		}
	}
	ends, err := adm.ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	committed := fetchCommitted(t, addr, group, topic)

	evs := c.admin(t, addr, topic, group, doomed)

	gotEnds, gotCommitted, gotByTime := map[int32]int64{}, map[int32]int64{}, map[int32]int64{}
	var gotConfig string
	var groups []string
	deleted, setOffsets := map[int32]int64{}, map[int32]int64{}
	for _, e := range evs {
		switch e.Ev {
		case "config":
			if e.K == alterKey {
				gotConfig = e.V
			}
		case "group":
			groups = append(groups, e.K)
		case "committed":
			gotCommitted[e.P] = e.O
		case "end":
			gotEnds[e.P] = e.O
		case "bytime":
			gotByTime[e.P] = e.O
		case "deleted":
			deleted[e.P] = e.O
		case "setoffset":
			setOffsets[e.P] = e.O
		}
	}
	if gotConfig != retention {
		t.Errorf("client read %s=%q, franz-go %q", alterKey, gotConfig, retention)
	}
	if !slices.Contains(groups, group) {
		t.Errorf("client's group list %v lacks %s", groups, group)
	}
	if !maps.Equal(gotCommitted, committed) {
		t.Errorf("client read committed offsets %v, franz-go %v", gotCommitted, committed)
	}
	wantEnds, wantByTime := map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { wantEnds[o.Partition] = o.Offset; wantByTime[o.Partition] = 0 })
	if !maps.Equal(gotEnds, wantEnds) {
		t.Errorf("client read end offsets %v, franz-go %v", gotEnds, wantEnds)
	}
	if !maps.Equal(gotByTime, wantByTime) {
		t.Errorf("client read offsets for timestamp 0 %v, want %v", gotByTime, wantByTime)
	}

	rc, err = adm.DescribeTopicConfigs(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	cfgAfter, err := rc.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	var after string
	for _, c := range cfgAfter.Configs {
		if c.Key == alterKey {
			after = c.MaybeValue()
		}
	}
	if after != alterValue {
		t.Errorf("%s after the client's alter: %q, want %q", alterKey, after, alterValue)
	}
	if len(setOffsets) == 0 {
		t.Errorf("client committed no offset without membership")
	}
	committedAfter := fetchCommitted(t, addr, group, topic)
	for p, o := range setOffsets {
		if committedAfter[p] != o {
			t.Errorf("partition %d: committed %d after the client's commit without membership, want %d", p, committedAfter[p], o)
		}
	}
	if len(deleted) > 0 {
		starts, err := adm.ListStartOffsets(t.Context(), topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, o := range deleted {
			if got, _ := starts.Lookup(topic, p); got.Offset != o {
				t.Errorf("partition %d: log start %d after the client's DeleteRecords, want %d", p, got.Offset, o)
			}
		}
	}
	td, err := adm.ListTopics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if td.Has(doomed) {
		t.Errorf("topic %s still listed after the client deleted it", doomed)
	}
	t.Logf("admin: %s=%s -> %s, groups %v, committed %v, ends %v, deleted records below %v", alterKey, gotConfig, after, groups, gotCommitted, gotEnds, deleted)
}

// checkProduced reads topic with franz-go and checks that records 0..n-1 are each there
// exactly once with their key, that one key maps to one partition, and that each
// partition holds its records in produce order. It returns what franz-go read.
func checkProduced(t *testing.T, addr, topic string, n int) []event {
	t.Helper()
	cl := franz(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []event
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read %d of %d records of %s: %v", len(out), n, topic, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, event{Ev: "record", P: r.Partition, O: r.Offset, K: string(r.Key), V: string(r.Value)})
		})
	}
	if len(out) != n {
		t.Fatalf("%s holds %d records, want %d", topic, len(out), n)
	}
	seen := make(map[int]bool)
	keyPart := make(map[string]int32)
	last := make(map[int32]int)
	sort.Slice(out, func(i, j int) bool {
		if out[i].P != out[j].P {
			return out[i].P < out[j].P
		}
		return out[i].O < out[j].O
	})
	for _, r := range out {
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(r.V, topic+"|"), "%06d|", &i); err != nil {
			t.Fatalf("unexpected value %q at %d/%d", r.V, r.P, r.O)
		}
		if r.V != value(topic, i) || r.K != key(i) {
			t.Fatalf("record %d at %d/%d: key %q value %q, want %q %q", i, r.P, r.O, r.K, r.V, key(i), value(topic, i))
		}
		if seen[i] {
			t.Fatalf("record %d written twice", i)
		}
		seen[i] = true
		if p, ok := keyPart[r.K]; ok && p != r.P {
			t.Fatalf("key %q in partitions %d and %d", r.K, p, r.P)
		}
		keyPart[r.K] = r.P
		if l, ok := last[r.P]; ok && l > i {
			t.Fatalf("partition %d: record %d after record %d", r.P, i, l)
		}
		last[r.P] = i
	}
	return out
}

// checkBatches fetches topic's raw batches and checks that every batch carries the codec
// the client was asked for (the broker stores batches as produced; most batches, at
// least) and, for idempotent
// producers, a producer id with contiguous sequence numbers per partition.
func checkBatches(t *testing.T, addr, topic string, codec int8, idempotent bool) {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(1, 12) // topic names, not ids: franz-go sends the highest shared version
	cl := franz(t, addr, kgo.MaxVersions(vs))
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MaxBytes = 64 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	for p := range int32(partitions) {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = p
		fp.PartitionMaxBytes = 16 << 20
		ft.Partitions = append(ft.Partitions, fp)
	}
	req.Topics = append(req.Topics, ft)
	kresp, err := cl.Request(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	batches := 0
	perCodec := map[int8]int{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("fetch %s-%d: error %d", topic, rp.Partition, rp.ErrorCode)
			}
			raw := rp.RecordBatches
			nextSeq := map[int64]int32{}
			for len(raw) > 0 {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(raw); err != nil {
					t.Fatalf("partition %d: batch: %v", rp.Partition, err)
				}
				raw = raw[12+int(b.Length):]
				batches++
				got := int8(b.Attributes & 0x07)
				if got != codec && got != 0 {
					t.Fatalf("partition %d batch at %d: codec %d, want %d", rp.Partition, b.FirstOffset, got, codec)
				}
				perCodec[got]++
				if !idempotent {
					continue
				}
				if b.ProducerID < 0 {
					t.Fatalf("partition %d batch at %d: no producer id from an idempotent producer", rp.Partition, b.FirstOffset)
				}
				if want, ok := nextSeq[b.ProducerID]; ok && b.FirstSequence != want {
					t.Fatalf("partition %d batch at %d: sequence %d, want %d", rp.Partition, b.FirstOffset, b.FirstSequence, want)
				}
				nextSeq[b.ProducerID] = b.FirstSequence + b.LastOffsetDelta + 1
			}
		}
	}
	// Clients send a batch uncompressed when compressing does not make it smaller
	// (librdkafka does, for a lone small record), so only most batches carry the codec.
	if batches == 0 || perCodec[codec]*2 < batches {
		t.Fatalf("%s: %d batches, by codec %v: want most with codec %d", topic, batches, perCodec, codec)
	}
	t.Logf("%s: %d batches, by codec %v", topic, batches, perCodec)
}

// compareConsumed checks that the client read exactly what franz-go read.
func compareConsumed(t *testing.T, ref, got []event) {
	t.Helper()
	norm := func(evs []event) []string {
		s := make([]string, len(evs))
		for i, e := range evs {
			s[i] = fmt.Sprintf("%d/%d %q=%q", e.P, e.O, e.K, e.V)
		}
		sort.Strings(s)
		return s
	}
	a, b := norm(ref), norm(got)
	if !slices.Equal(a, b) {
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("client read %d records, want %d; first difference: got %s, want %s", len(b), len(a), b[i], a[i])
			}
		}
		t.Fatalf("client read %d records, want %d", len(b), len(a))
	}
	// Per partition, the client must see offsets in order.
	last := map[int32]int64{}
	for _, e := range got {
		if l, ok := last[e.P]; ok && e.O <= l {
			t.Fatalf("client read partition %d offset %d after %d", e.P, e.O, l)
		}
		last[e.P] = e.O
	}
}

// --- consumer group ------------------------------------------------------------------------

const groupPartitions = 4

// groupScenario: two members split a 4-partition topic and commit every record before
// reporting it; they are stopped, the broker restarts, more records arrive, two new
// members read part of them and are stopped mid-stream, and two more resume exactly at the
// committed offsets: every record is read once, none is skipped or read again.
func groupScenario(t *testing.T, tb *testBroker, name string, c client) {
	topic, group := name+"-group", name+"-group"
	createTopicFranz(t, tb.addr, topic, groupPartitions)
	const n1, n2 = 200, 200

	produceFranz := func(from, to int) {
		cl := franz(t, tb.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % groupPartitions), Key: []byte(key(i)), Value: []byte(value(topic, i))})
		}
		if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}
	start := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }
	newRun := func(minIndex int, resumeAt map[int32]int64, prev *groupRun) *groupRun {
		g := &groupRun{t: t, topic: topic, assigned: make([][]int32, 2), seen: map[string]int{},
			minIndex: minIndex, resumeAt: resumeAt, firstOff: map[int32]int64{}}
		if prev != nil {
			g.seen = prev.seen // records read before the stop must not be read again
		}
		g.members = []member{c.member(t, tb.addr, topic, group), c.member(t, tb.addr, topic, group)}
		return g
	}

	// Phase 1: both members join; then the records arrive and are all read.
	g := newRun(0, uniform(0), nil)
	g.waitSplit()
	step("phase 1: members joined, partitions split")
	checkGroupProtocol(t, tb.addr, group, c)
	produceFranz(0, n1)
	g.readUntil(n1)
	g.stopAll()
	checkCommitted(t, tb.addr, group, topic, uniform(n1/groupPartitions))
	step(fmt.Sprintf("phase 1: %d records read, members stopped (%v per member)", n1, g.perMember))

	// Phase 2: the broker restarts (commits are durable), records arrive while nobody
	// consumes, new members resume from the commits and are stopped after about a third.
	tb.Restart(t)
	produceFranz(n1, n1+n2)
	g2 := newRun(n1, uniform(n1/groupPartitions), nil)
	g2.readUntil(n2 / 3)
	g2.stopAll() // records read while stopping are committed and counted too
	committed := fetchCommitted(t, tb.addr, group, topic)
	for p := range int32(groupPartitions) {
		// Every reported record was committed first, and nothing else was committed:
		// the commit is exactly one past the last record read.
		want := int64(n1/groupPartitions) + int64(g2.perPartition[p])
		if committed[p] != want {
			t.Fatalf("partition %d: committed %d after reading %d records from %d, want %d", p, committed[p], g2.perPartition[p], n1/groupPartitions, want)
		}
	}
	step(fmt.Sprintf("phase 2: stopped mid-stream after %d records, commits %v", len(g2.seen), committed))

	// Phase 3: new members resume exactly at those commits and read the rest.
	g3 := newRun(n1, committed, g2)
	g3.readUntil(n2)
	g3.waitSplit()
	g3.stopAll()
	checkCommitted(t, tb.addr, group, topic, uniform((n1+n2)/groupPartitions))
	step(fmt.Sprintf("phase 3: resumed, all %d records read once (%v per member)", n2, g3.perMember))
}

// checkGroupProtocol logs the assignor the group chose and checks it is the one the
// client was asked to use, if any.
func checkGroupProtocol(t *testing.T, addr, group string, c client) {
	t.Helper()
	if sc, ok := c.(*scriptClient); ok && len(sc.groupArgs) > 0 && strings.HasPrefix(sc.groupArgs[0], "consumer") {
		checkConsumerProtocol(t, addr, group, sc.groupArgs[0]) // KIP-848 (group848_test.go)
		return
	}
	dg, err := kadm.NewClient(franz(t, addr)).DescribeGroups(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	d := dg[group]
	t.Logf("group %s: state %s, protocol %s/%s, %d members", group, d.State, d.ProtocolType, d.Protocol, len(d.Members))
	if d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != 2 {
		t.Fatalf("group %s: state %q, protocol type %q, %d members; want Stable, consumer, 2", group, d.State, d.ProtocolType, len(d.Members))
	}
	if sc, ok := c.(*scriptClient); ok && len(sc.groupArgs) > 0 && d.Protocol != sc.groupArgs[0] {
		t.Fatalf("group %s: protocol %q, want %q", group, d.Protocol, sc.groupArgs[0])
	}
}

func uniform(o int) map[int32]int64 {
	m := map[int32]int64{}
	for p := range int32(groupPartitions) {
		m[p] = int64(o)
	}
	return m
}

type groupRun struct {
	t            *testing.T
	topic        string
	members      []member
	assigned     [][]int32
	seen         map[string]int // value -> times read
	perMember    [2]int
	perPartition [groupPartitions]int
	minIndex     int             // records below this index were committed before and must not be read
	resumeAt     map[int32]int64 // the committed offsets this run must start at
	firstOff     map[int32]int64 // first offset read per partition
}

// step handles the next event of any member.
func (g *groupRun) step(deadline <-chan time.Time) {
	t := g.t
	t.Helper()
	var e event
	var ok bool
	var who int
	select {
	case e, ok = <-g.members[0].events():
		who = 0
	case e, ok = <-g.members[1].events():
		who = 1
	case <-deadline:
		t.Fatalf("group: timed out; assignments %v, %d distinct records read (%v per member)", g.assigned, len(g.seen), g.perMember)
	}
	if !ok {
		t.Fatalf("group member %d exited early", who)
	}
	g.handle(who, e, true)
}

// handle checks one event of member who. Records reported while a member is being stopped
// are not checked against its assignment (it may have been revoked meanwhile).
func (g *groupRun) handle(who int, e event, checkAssignment bool) {
	t := g.t
	t.Helper()
	switch e.Ev {
	case "assigned":
		g.assigned[who] = e.Partitions
	case "record":
		if checkAssignment && !slices.Contains(g.assigned[who], e.P) {
			t.Fatalf("member %d read partition %d outside its assignment %v", who, e.P, g.assigned[who])
		}
		var i int
		fmt.Sscanf(strings.TrimPrefix(e.V, g.topic+"|"), "%06d|", &i)
		if e.V != value(g.topic, i) || e.K != key(i) || int32(i%groupPartitions) != e.P {
			t.Fatalf("member %d read %d/%d %q=%q: not what was produced", who, e.P, e.O, e.K, e.V)
		}
		if i < g.minIndex {
			t.Fatalf("member %d read record %d (%d/%d) again: it was committed before", who, i, e.P, e.O)
		}
		if g.seen[e.V] > 0 {
			t.Fatalf("record %d (%d/%d) read twice although every record is committed before it is reported", i, e.P, e.O)
		}
		if _, ok := g.firstOff[e.P]; !ok {
			g.firstOff[e.P] = e.O
			if want := g.resumeAt[e.P]; e.O != want {
				t.Fatalf("partition %d: first offset read %d, want the committed offset %d", e.P, e.O, want)
			}
		}
		g.seen[e.V]++
		g.perMember[who]++
		g.perPartition[e.P]++
	}
}

// waitSplit waits until each member holds a non-empty assignment and together they hold
// every partition exactly once.
func (g *groupRun) waitSplit() {
	deadline := time.After(40 * time.Second)
	for !g.split() {
		g.step(deadline)
	}
}

func (g *groupRun) split() bool {
	if len(g.assigned[0]) == 0 || len(g.assigned[1]) == 0 {
		return false
	}
	all := append(slices.Clone(g.assigned[0]), g.assigned[1]...)
	slices.Sort(all)
	return slices.Equal(all, []int32{0, 1, 2, 3})
}

// readUntil reads events until n distinct records (of this run and the one it resumes)
// have been read.
func (g *groupRun) readUntil(n int) {
	deadline := time.After(40 * time.Second)
	for len(g.seen) < n {
		g.step(deadline)
	}
}

// stopAll stops both members (concurrently: a member leaving triggers a rebalance the
// other must take part in) and accounts for what they read meanwhile.
func (g *groupRun) stopAll() {
	late := make([][]event, len(g.members))
	var wg sync.WaitGroup
	for i, m := range g.members {
		wg.Go(func() { late[i] = m.stop(g.t) })
	}
	wg.Wait()
	for i, evs := range late {
		for _, e := range evs {
			g.handle(i, e, false)
		}
	}
}

func fetchCommitted(t *testing.T, addr, group, topic string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(franz(t, addr))
	offs, err := adm.FetchOffsets(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for p := range int32(groupPartitions) {
		o, ok := offs.Lookup(topic, p)
		switch {
		case !ok:
			out[p] = -1
		case o.Err != nil:
			t.Fatalf("committed offset of %s-%d: %v", topic, p, o.Err)
		default:
			out[p] = o.At
		}
	}
	return out
}

// checkCommitted checks the group's committed offsets.
func checkCommitted(t *testing.T, addr, group, topic string, want map[int32]int64) {
	t.Helper()
	if got := fetchCommitted(t, addr, group, topic); !maps.Equal(got, want) {
		t.Fatalf("group %s committed %v on %s, want %v", group, got, topic, want)
	}
}
