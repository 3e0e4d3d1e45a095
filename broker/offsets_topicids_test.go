package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetsByTopicID: OffsetCommit and OffsetFetch v10 name topics by id; an unknown id
// is UNKNOWN_TOPIC_ID; commits made by id are read by name (v9) and the reverse; kadm,
// which sends v10 to a broker that offers it, round-trips.
func TestOffsetsByTopicID(t *testing.T) {
	b, _, adm := singleNode(t)
	ctx := context.Background()
	id := b.lookupTopic("t").ID
	unknown := [16]byte{9, 9, 9}

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 10
	commit.Group, commit.Generation = "g10", -1
	for _, tid := range [][16]byte{id, unknown} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.TopicID = tid
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 1, 42
		rt.Partitions = append(rt.Partitions, rp)
		commit.Topics = append(commit.Topics, rt)
	}
	cresp := requestAt[*kmsg.OffsetCommitResponse](t, b, commit)
	if len(cresp.Topics) != 2 || cresp.Topics[0].TopicID != id || cresp.Topics[0].Partitions[0].ErrorCode != 0 ||
		cresp.Topics[1].TopicID != unknown || cresp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("commit v10: %+v", cresp)
	}

	fetch := func(version int16, topics []kmsg.OffsetFetchRequestGroupTopic) *kmsg.OffsetFetchResponse {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = version
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group, g.Topics = "g10", topics
		req.Groups = append(req.Groups, g)
		return requestAt[*kmsg.OffsetFetchResponse](t, b, req)
	}
	byID := fetch(10, []kmsg.OffsetFetchRequestGroupTopic{{TopicID: id, Partitions: []int32{1}}, {TopicID: unknown, Partitions: []int32{0}}})
	ts := byID.Groups[0].Topics
	if len(ts) != 2 || ts[0].TopicID != id || ts[0].Partitions[0].Offset != 42 || ts[1].TopicID != unknown || ts[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("fetch v10 by id: %+v", ts)
	}
	all := fetch(10, nil)
	if ts := all.Groups[0].Topics; len(ts) != 1 || ts[0].TopicID != id || ts[0].Partitions[0].Offset != 42 {
		t.Fatalf("fetch v10 all: %+v", ts)
	}
	byName := fetch(9, []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{1}}})
	if ts := byName.Groups[0].Topics; len(ts) != 1 || ts[0].Partitions[0].Offset != 42 {
		t.Fatalf("fetch v9 by name: %+v", ts)
	}

	// kadm negotiates v10 for both.
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "t", Partition: 0, At: 7, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "gk", offs); err != nil {
		t.Fatal(err)
	}
	got, err := adm.FetchOffsets(ctx, "gk")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got.Lookup("t", 0); !ok || o.At != 7 || o.Err != nil {
		t.Fatalf("kadm fetch: %+v %v", o, ok)
	}
}

// TestDeleteGroupsV3: v3 adds each failed group's error message.
func TestDeleteGroupsV3(t *testing.T) {
	b, _, _ := singleNode(t)
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 3
	req.Groups = []string{"nosuch"}
	resp := requestAt[*kmsg.DeleteGroupsResponse](t, b, req)
	if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code || resp.Groups[0].ErrorMessage == nil {
		t.Fatalf("%+v", resp.Groups)
	}
}
