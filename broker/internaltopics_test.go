package broker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestInternalTopicPresented (issue 19): __consumer_offsets is presented as Kafka's
// internal topic: listed with IsInternal (kadm's list with internal shows it, without does
// not), described (partitions and configs), never created as a real topic, and produce to
// it is INVALID_TOPIC_EXCEPTION.
func TestInternalTopicPresented(t *testing.T) {
	b, cl, adm := singleNode(t)
	ctx := context.Background()

	all, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	off, ok := all[offsetsTopicName]
	if !ok || !off.IsInternal || len(off.Partitions) != 50 || off.Err != nil {
		t.Fatalf("list with internal: %+v", off)
	}
	if p := off.Partitions[49]; p.Leader != b.cfg.NodeID || !slices.Equal(p.Replicas, []int32{b.cfg.NodeID}) {
		t.Fatalf("partition 49: %+v", p)
	}
	plain, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain[offsetsTopicName]; ok || !plain.Has("t") {
		t.Fatalf("list without internal: %v", plain.Names())
	}
	// By name (auto-creation allowed: nothing is created) and by id.
	named, err := adm.ListTopics(ctx, offsetsTopicName)
	if err != nil || !named[offsetsTopicName].IsInternal || named[offsetsTopicName].Err != nil {
		t.Fatalf("by name: %+v %v", named, err)
	}
	if b.lookupTopic(offsetsTopicName) != nil {
		t.Fatal("Metadata created a real __consumer_offsets")
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.TopicID = off.ID
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != 0 || *mresp.Topics[0].Topic != offsetsTopicName {
		t.Fatalf("by id: %+v %v", mresp, err)
	}
	// The id is stable across restarts: it derives from the cluster id.
	if id := b.internalTopic(offsetsTopicName).ID; id != off.ID || id == ([16]byte{}) {
		t.Fatalf("id %x, listed %x", id, off.ID)
	}

	// DescribeTopicPartitions (kafka-topics --describe) and DescribeConfigs.
	dreq := kmsg.NewPtrDescribeTopicPartitionsRequest()
	dt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	dt.Topic = offsetsTopicName
	dreq.Topics = append(dreq.Topics, dt)
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil || len(dresp.Topics) != 1 || dresp.Topics[0].ErrorCode != 0 || !dresp.Topics[0].IsInternal || len(dresp.Topics[0].Partitions) != 50 {
		t.Fatalf("DescribeTopicPartitions: %+v %v", dresp, err)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, offsetsTopicName)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On(offsetsTopicName, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("configs: %v %v", err, rc.Err)
	}
	var policy string
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" {
			policy = c.MaybeValue()
		}
	}
	if policy != "compact" {
		t.Fatalf("cleanup.policy %q", policy)
	}

	// Creating it: it exists. Producing to it: Kafka refuses clients.
	cr, err := adm.CreateTopic(ctx, 1, 1, nil, offsetsTopicName)
	if !errors.Is(err, kerr.TopicAlreadyExists) && !errors.Is(cr.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create: %v %v", err, cr.Err)
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()), kgo.RecordRetries(0),
		kgo.ProduceRequestTimeout(10*time.Second), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: offsetsTopicName, Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce: %v", err)
	}
	if b.lookupTopic(offsetsTopicName) != nil {
		t.Fatal("Produce created a real __consumer_offsets")
	}
}

// TestInternalTopicRegexSkipped: a regex subscription that matches every topic consumes
// the real ones and not __consumer_offsets.
func TestInternalTopicRegexSkipped(t *testing.T) {
	b, cl, _ := singleNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()), kgo.ConsumeRegex(), kgo.ConsumeTopics(".*"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	fs := cons.PollFetches(ctx)
	fs.EachError(func(topic string, _ int32, err error) { t.Fatalf("%s: %v", topic, err) })
	if fs.NumRecords() != 1 {
		t.Fatalf("%d records", fs.NumRecords())
	}
	if got := cons.GetConsumeTopics(); !slices.Equal(got, []string{"t"}) {
		t.Fatalf("regex consumes %v", got)
	}
}
