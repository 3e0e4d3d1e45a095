package test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/test/brokertest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// startAdminBroker runs a broker on 127.0.0.1:0 over dir (test/brokertest) and returns it
// with an admin client. Both are closed at the end of the test (the client first).
func startAdminBroker(t *testing.T, dir string, props map[string]string, opts ...kgo.Opt) (*brokertest.Broker, *kadm.Client, *kgo.Client) {
	t.Helper()
	tb := brokertest.Start(t, brokertest.Config{Dir: dir, Props: props})
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.Addr()), kgo.RequestRetries(2)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close) // before the broker's Stop (cleanups run last registered first)
	return tb, kadm.NewClient(cl), cl
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAdminApiVersions(t *testing.T) {
	_, adm, _ := startAdminBroker(t, t.TempDir(), nil)
	vs, err := adm.ApiVersions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Fatal(v.Err)
		}
		want := map[kmsg.Key][2]int16{
			kmsg.ApiVersions: {0, 5}, kmsg.Metadata: {0, 13}, kmsg.CreateTopics: {0, 7},
			kmsg.DeleteTopics: {0, 6}, kmsg.Produce: {0, 13}, kmsg.Fetch: {4, 18},
			kmsg.DescribeConfigs: {0, 4}, kmsg.IncrementalAlterConfigs: {0, 1},
		}
		for k, mm := range want {
			min, max, ok := v.KeyVersions(int16(k))
			if !ok || min != mm[0] || max != mm[1] {
				t.Errorf("%s: got %d-%d (%v), want %d-%d", k.Name(), min, max, ok, mm[0], mm[1])
			}
		}
		if _, _, ok := v.KeyVersions(int16(kmsg.CreateDelegationToken)); ok {
			t.Errorf("CreateDelegationToken advertised but not implemented")
		}
		if min, max, ok := v.KeyVersions(int16(kmsg.ShareFetch)); !ok || min != 1 || max != 2 {
			t.Errorf("ShareFetch: got %d-%d (%v), want 1-2", min, max, ok)
		}
	}
}

func TestAdminTopicLifecycle(t *testing.T) {
	b, adm, cl := startAdminBroker(t, t.TempDir(), map[string]string{"auto.create.topics.enable": "false"})
	ctx := ctxT(t)

	// Create: partitions, configs, validation errors.
	rs, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	r := rs["orders"]
	if r.Err != nil || r.NumPartitions != 3 || r.ReplicationFactor != 1 || r.ID == [16]byte{} {
		t.Fatalf("create orders: %+v", r)
	}
	check := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	rs, _ = adm.CreateTopics(ctx, 1, 1, nil, "orders")
	check("exists", rs["orders"].Err, kerr.TopicAlreadyExists)
	rs, _ = adm.CreateTopics(ctx, 1, 3, nil, "rf3")
	check("rf3", rs["rf3"].Err, kerr.InvalidReplicationFactor)
	rs, _ = adm.CreateTopics(ctx, 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, "badcfg")
	check("unknown config", rs["badcfg"].Err, kerr.InvalidConfig)
	rs, _ = adm.CreateTopics(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, "badcfg")
	check("bad value", rs["badcfg"].Err, kerr.InvalidConfig)
	rs, _ = adm.CreateTopics(ctx, 1, 1, nil, "bad/name")
	check("bad name", rs["bad/name"].Err, kerr.InvalidTopicException)
	rs, _ = adm.ValidateCreateTopics(ctx, 2, 1, nil, "dry")
	if rs["dry"].Err != nil {
		t.Fatalf("validate-only: %v", rs["dry"].Err)
	}

	// Metadata: the created topic, not the dry-run one, and an unknown topic error.
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := md.Topics["dry"]; ok {
		t.Errorf("validate-only created the topic")
	}
	td := md.Topics["orders"]
	if len(td.Partitions) != 3 || td.ID != r.ID {
		t.Fatalf("metadata orders: %+v", td)
	}
	for _, p := range td.Partitions {
		if p.Leader != 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
			t.Errorf("partition %+v", p)
		}
	}
	if md.Cluster != b.Broker().ClusterID() || len(md.Brokers) != 1 || md.Brokers[0].Port == 0 {
		t.Errorf("cluster %q brokers %+v", md.Cluster, md.Brokers)
	}
	md, _ = adm.Metadata(ctx, "missing")
	check("unknown topic", md.Topics["missing"].Err, kerr.UnknownTopicOrPartition)

	// DescribeConfigs: override vs default.
	rcs, err := adm.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("orders", nil)
	if err != nil || rc.Err != nil {
		t.Fatal(err, rc.Err)
	}
	got := map[string]*kadm.Config{}
	for i := range rc.Configs {
		got[rc.Configs[i].Key] = &rc.Configs[i]
	}
	if c := got["retention.ms"]; c == nil || c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms: %+v", c)
	}
	if c := got["segment.bytes"]; c == nil || c.MaybeValue() != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("segment.bytes: %+v", c)
	}
	for _, k := range []string{"cleanup.policy", "local.retention.ms", "local.retention.bytes", "remote.storage.enable", "message.timestamp.type", "max.message.bytes"} {
		if got[k] == nil {
			t.Errorf("missing topic config %s", k)
		}
	}
	if c := got["local.retention.ms"]; c == nil || c.MaybeValue() != "-2" {
		t.Errorf("local.retention.ms default: %+v", got["local.retention.ms"])
	}

	// IncrementalAlterConfigs: SET, DELETE, APPEND; bad values rejected.
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("1048576")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
	}, "orders")
	if err != nil || ar[0].Err != nil {
		t.Fatal(err, ar)
	}
	ar, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("x")}}, "orders")
	check("bad incremental", ar[0].Err, kerr.InvalidConfig)
	ar, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "segment.bytes", Value: kadm.StringPtr("1")}}, "orders")
	check("append non-list", ar[0].Err, kerr.InvalidConfig)
	tc := b.Broker().TopicConfigForTest("orders")
	if tc.SegmentBytes != 1048576 || tc.RetentionMs != 7*24*3600*1000 || tc.CleanupPolicy != "delete,compact" {
		t.Errorf("effective config after alter: %+v", tc)
	}

	// Legacy AlterConfigs replaces all overrides.
	ar, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr("1000")}}, "orders")
	if err != nil || ar[0].Err != nil {
		t.Fatal(err, ar)
	}
	tc = b.Broker().TopicConfigForTest("orders")
	if tc.SegmentBytes != 1073741824 || tc.RetentionBytes != 1000 || tc.CleanupPolicy != "delete" {
		t.Errorf("effective config after legacy alter: %+v", tc)
	}

	// CreatePartitions: grow; shrink is INVALID_PARTITIONS.
	cp, err := adm.UpdatePartitions(ctx, 5, "orders")
	if err != nil || cp["orders"].Err != nil {
		t.Fatal(err, cp)
	}
	cp, _ = adm.UpdatePartitions(ctx, 2, "orders")
	check("shrink", cp["orders"].Err, kerr.InvalidPartitions)
	md, _ = adm.Metadata(ctx, "orders")
	if n := len(md.Topics["orders"].Partitions); n != 5 {
		t.Errorf("partitions after grow: %d", n)
	}

	// DescribeLogDirs names the partitions.
	ld, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ld.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "orders" {
				n++
			}
		})
	})
	if n != 5 {
		t.Errorf("log dirs list %d partitions of orders, want 5", n)
	}

	// DescribeCluster.
	var dc kmsg.DescribeClusterRequest
	dc.Default()
	dr, err := dc.RequestWith(ctx, cl)
	if err != nil || dr.ErrorCode != 0 || dr.ClusterID != b.Broker().ClusterID() || len(dr.Brokers) != 1 {
		t.Errorf("describe cluster: %v %+v", err, dr)
	}

	// Delete by name, then by ID.
	dt, err := adm.DeleteTopics(ctx, "orders")
	if err != nil || dt["orders"].Err != nil {
		t.Fatal(err, dt)
	}
	dt, _ = adm.DeleteTopics(ctx, "orders")
	check("delete twice", dt["orders"].Err, kerr.UnknownTopicOrPartition)
	rs, _ = adm.CreateTopics(ctx, 1, -1, nil, "byid")
	if rs["byid"].Err != nil {
		t.Fatal(rs["byid"].Err)
	}
	var del kmsg.DeleteTopicsRequest
	del.Default()
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.TopicID = rs["byid"].ID
	del.Topics = append(del.Topics, rt)
	delResp, err := del.RequestWith(ctx, cl)
	if err != nil || len(delResp.Topics) != 1 || delResp.Topics[0].ErrorCode != 0 || delResp.Topics[0].Topic == nil || *delResp.Topics[0].Topic != "byid" {
		t.Fatalf("delete by id: %v %+v", err, delResp)
	}
	mreq := kmsg.NewPtrMetadataRequest() // uncached: kadm's Metadata may answer from the client's cache
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range mresp.Topics {
		if !mt.IsInternal { // __consumer_offsets is presented as an internal topic
			if mt.Topic != nil {
				t.Errorf("topic left: %s", *mt.Topic)
			} else {
				t.Errorf("topic left: %s", mt.TopicID)
			}
		}
	}
}

func TestAdminTopicIDsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	var id [16]byte
	var cluster string
	func() {
		b, adm, _ := startAdminBroker(t, dir, nil)
		rs, err := adm.CreateTopics(ctxT(t), 2, 1, map[string]*string{"retention.bytes": kadm.StringPtr("12345")}, "keep")
		if err != nil || rs["keep"].Err != nil {
			t.Fatal(err, rs)
		}
		id = rs["keep"].ID
		cluster = b.Broker().ClusterID()
		b.Stop(t)
	}()
	b, adm, _ := startAdminBroker(t, dir, nil)
	if b.Broker().ClusterID() != cluster {
		t.Errorf("cluster id %q after restart, was %q", b.Broker().ClusterID(), cluster)
	}
	md, err := adm.Metadata(ctxT(t), "keep")
	if err != nil {
		t.Fatal(err)
	}
	td := md.Topics["keep"]
	if td.Err != nil || td.ID != id || len(td.Partitions) != 2 {
		t.Fatalf("after restart: %+v (want id %x)", td, id)
	}
	if tc := b.Broker().TopicConfigForTest("keep"); tc.RetentionBytes != 12345 {
		t.Errorf("retention.bytes after restart: %d", tc.RetentionBytes)
	}
}

func TestAdminAutoCreateAndProduce(t *testing.T) {
	_, adm, cl := startAdminBroker(t, t.TempDir(), map[string]string{"num.partitions": "2"}, kgo.AllowAutoTopicCreation())
	ctx := ctxT(t)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, "auto")
	if err != nil || md.Topics["auto"].Err != nil || len(md.Topics["auto"].Partitions) != 2 {
		t.Fatalf("auto-created topic: %v %+v", err, md.Topics["auto"])
	}
}

// storeKeys lists every key in store.
func storeKeys(t *testing.T, store tiering.ObjectStore) []string {
	t.Helper()
	var keys []string
	if err := store.List(t.Context(), "", func(oi tiering.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// startTieredBroker is startAdminBroker with store as the broker's object store and a
// retention check every 100 ms.
func startTieredBroker(t *testing.T, dir string, store tiering.ObjectStore) (*brokertest.Broker, *kadm.Client, *kgo.Client) {
	t.Helper()
	tb := brokertest.Start(t, brokertest.Config{Dir: dir, Store: store,
		Props: map[string]string{"log.retention.check.interval.ms": "100"}})
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr()), kgo.RequestRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return tb, kadm.NewClient(cl), cl
}

// TestAdminTieredTopicLifecycle: a topic with remote.storage.enable uploads sealed
// segments and its topic.json; a broker on an empty data dir over the same bucket
// restores the topic (same ID) and serves the uploaded records; deleting the topic
// empties the bucket.
func TestAdminTieredTopicLifecycle(t *testing.T) {
	store := memstore.New()
	ctx := ctxT(t)

	b1, adm, cl := startTieredBroker(t, t.TempDir(), store)
	rs, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{
		"remote.storage.enable": kadm.StringPtr("true"),
		"segment.bytes":         kadm.StringPtr("2048"),
	}, "tiered")
	if err != nil || rs["tiered"].Err != nil {
		t.Fatal(err, rs)
	}
	id := rs["tiered"].ID
	// A topic without remote storage is refused nothing and writes only its topic.json
	// (marked localOnly) and marker, so that a restore recreates it empty (issue 19).
	if rs, _ := adm.CreateTopics(ctx, 1, 1, nil, "local"); rs["local"].Err != nil {
		t.Fatal(rs["local"].Err)
	}
	const n = 200
	for i := range n {
		r := &kgo.Record{Topic: "tiered", Value: []byte(fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", 40)))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until some segments are in the bucket.
	deadline := time.Now().Add(15 * time.Second)
	var logs int
	for time.Now().Before(deadline) {
		logs = 0
		for _, k := range storeKeys(t, store) {
			if strings.HasSuffix(k, ".log") {
				logs++
			}
		}
		if logs >= 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if logs < 3 {
		t.Fatalf("only %d segments uploaded: %v", logs, storeKeys(t, store))
	}
	var haveTopicJSON bool
	waitFor(t, "the local-only topic's topic.json", time.Minute, func() bool {
		return slices.ContainsFunc(storeKeys(t, store), func(k string) bool { return strings.HasPrefix(k, "local-") })
	})
	for _, k := range storeKeys(t, store) {
		if strings.HasSuffix(k, "topic.json") {
			haveTopicJSON = true
		}
		if strings.Contains(k, "local-") && !strings.HasSuffix(k, "/topic.json") && !strings.HasPrefix(k, "_topics/") {
			t.Errorf("object for a local-only topic: %s", k)
		}
	}
	if !haveTopicJSON {
		t.Fatalf("no topic.json: %v", storeKeys(t, store))
	}
	cl.Close()
	b1.Stop(t)

	// A new broker on an empty data dir restores the topic from the bucket.
	b2, adm2, cl2 := startTieredBroker(t, t.TempDir(), store)
	md, err := adm2.Metadata(ctx, "tiered")
	if err != nil || md.Topics["tiered"].Err != nil || md.Topics["tiered"].ID != id {
		t.Fatalf("restored topic: %v %+v (want id %x)", err, md.Topics["tiered"], id)
	}
	if tc := b2.Broker().TopicConfigForTest("tiered"); !tc.RemoteStorageEnable || tc.SegmentBytes != 2048 {
		t.Errorf("restored config %+v", tc)
	}
	offs, err := adm2.ListEndOffsets(ctx, "tiered")
	if err != nil {
		t.Fatal(err)
	}
	// The active segment never reached the bucket: its records are lost with the disk, but
	// their offsets are not handed out again (issue 14): the log ends where b1's ended.
	end, _ := offs.Lookup("tiered", 0)
	if end.Offset != n {
		t.Fatalf("restored end offset %d, want %d (b1's log end)", end.Offset, n)
	}
	marker := &kgo.Record{Topic: "tiered", Value: []byte("after-restore")}
	if err := cl2.ProduceSync(ctx, marker).FirstErr(); err != nil || marker.Offset != n {
		t.Fatalf("produce after restore: offset %d, err %v; want offset %d", marker.Offset, err, n)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(b2.Addr()), kgo.ConsumeTopics("tiered"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	// From the bucket: offsets 0, 1, ... up to its end, then the gap, then the new record.
	var got int64
	for done := false; !done; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d, no record at %d: %v", got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			switch {
			case r.Offset == n && string(r.Value) == "after-restore":
				done = true
			case r.Offset != got || !strings.HasPrefix(string(r.Value), fmt.Sprintf("value-%04d-", got)):
				t.Fatalf("offset %d: got offset %d value %.10q", got, r.Offset, r.Value)
			default:
				got++
			}
		})
	}
	if got < 10 {
		t.Fatalf("only %d records restored from the bucket", got)
	}

	if md, err := adm2.Metadata(ctx, "local"); err != nil || md.Topics["local"].Err != nil {
		t.Fatalf("local-only topic not restored: %v %+v", err, md.Topics["local"])
	}

	// Deleting the topics deletes their objects.
	if dt, err := adm2.DeleteTopics(ctx, "tiered", "local"); err != nil || dt["tiered"].Err != nil || dt["local"].Err != nil {
		t.Fatal(err, dt)
	}
	// The local-only topic's topic.json goes in the background.
	for deadline := time.Now().Add(time.Minute); len(storeKeys(t, store)) != 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if keys := storeKeys(t, store); len(keys) != 0 {
		t.Errorf("objects left after delete: %v", keys)
	}
}
