package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

func newTestBroker(t *testing.T) *Broker {
	t.Helper()
	bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(bc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestListOffsetsSpecialTimestamps(t *testing.T) {
	b := newTestBroker(t)
	topic, err := b.createTopic("lo", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	// timestamps 1000, 3000 (max), 2000
	for _, ts := range []int64{1000, 3000, 2000} {
		bt := testBatch(t, codecGzip, ts, []int64{0}, false)
		h, _ := segment.DecodeBatchHeader(bt)
		if _, err := p.Append(bt, h, time.Now(), true); err != nil {
			t.Fatal(err)
		}
	}
	list := func(ts int64, version int16) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = version
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleListOffsets(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	f := func(ts, wantOffset, wantTs int64) {
		t.Helper()
		r := list(ts, 11)
		if r.ErrorCode != 0 || r.Offset != wantOffset || r.Timestamp != wantTs {
			t.Errorf("ListOffsets(%d) = offset %d ts %d err %d; want %d %d", ts, r.Offset, r.Timestamp, r.ErrorCode, wantOffset, wantTs)
		}
	}
	f(partition.ListLatest, 3, -1)
	f(partition.ListEarliest, 0, -1)
	f(partition.ListMaxTimestamp, 1, 3000)
	f(partition.ListEarliestLocal, 0, -1)
	f(partition.ListLatestTiered, -1, -1)    // no tier
	f(partition.ListEarliestPending, -1, -1) // no tier
	f(1500, 1, 3000)
	f(2500, 1, 3000)
	f(3001, -1, -1)

	unknown := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "nope"
	rt.Partitions = append(rt.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
	unknown.Topics = append(unknown.Topics, rt)
	resp, _ := b.handleListOffsets(t.Context(), unknown)
	if c := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: code %d", c)
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	b := newTestBroker(t)
	topic, err := b.createTopic("ofle", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, topic.partition(0), 4, 1000)
	f := func(topicName string, partition, current, epoch int32, wantCode int16, wantEpoch int32, wantEnd int64) {
		t.Helper()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = 4
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topicName
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = partition, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.handleOffsetForLeaderEpoch(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
		if r.ErrorCode != wantCode || r.LeaderEpoch != wantEpoch || r.EndOffset != wantEnd {
			t.Errorf("epoch %d current %d: code %d epoch %d end %d; want %d %d %d", epoch, current,
				r.ErrorCode, r.LeaderEpoch, r.EndOffset, wantCode, wantEpoch, wantEnd)
		}
	}
	f("ofle", 0, -1, 0, 0, 0, 4)
	f("ofle", 0, 0, 0, 0, 0, 4)
	f("ofle", 0, -1, 5, 0, -1, -1)
	f("ofle", 0, 3, 0, kerr.UnknownLeaderEpoch.Code, -1, -1)
	f("ofle", 1, -1, 0, kerr.UnknownTopicOrPartition.Code, -1, -1)
	f("nope", 0, -1, 0, kerr.UnknownTopicOrPartition.Code, -1, -1)
}
