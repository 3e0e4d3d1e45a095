package broker

// OffsetCommit v10 and OffsetFetch v10 (Kafka 4.x): topics are named by topic id instead
// of by name; everything else is v9. The group coordinator (broker/group) serves up to v9,
// by name: these adapters resolve the ids to names, send the coordinator the v9 request
// and answer with ids. An id that names no topic is UNKNOWN_TOPIC_ID for each of its
// partitions, as in Kafka. OffsetFetch of all topics (null topics) lists the committed
// topics that exist, by id; offsets of a topic that no longer exists have no id to be
// listed by and are left out.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetsByIDVersion is the first version that names topics by id.
const offsetsByIDVersion = 10

func (b *Broker) offsetCommitByID(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	byName := *req
	byName.Version = offsetsByIDVersion - 1
	byName.Topics = nil
	ids := make(map[string][16]byte)
	var unknown []kmsg.OffsetCommitRequestTopic
	for _, rt := range req.Topics {
		t := b.lookupTopicID(rt.TopicID)
		if t == nil {
			unknown = append(unknown, rt)
			continue
		}
		rt.Topic = t.Name
		ids[t.Name] = t.ID
		byName.Topics = append(byName.Topics, rt)
	}
	resp := b.groups.OffsetCommit(ctx, &byName)
	resp.SetVersion(req.Version)
	for i := range resp.Topics {
		t := &resp.Topics[i]
		t.TopicID, t.Topic = ids[t.Topic], "" // v10 has no names
	}
	for _, rt := range unknown {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicID.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) offsetFetchByID(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	byName := *req
	byName.Version = offsetsByIDVersion - 1
	byName.Groups = make([]kmsg.OffsetFetchRequestGroup, len(req.Groups))
	unknown := make(map[string][]kmsg.OffsetFetchRequestGroupTopic)
	for i, g := range req.Groups {
		byName.Groups[i] = g
		if g.Topics == nil {
			continue // all topics
		}
		byName.Groups[i].Topics = []kmsg.OffsetFetchRequestGroupTopic{}
		for _, rt := range g.Topics {
			t := b.lookupTopicID(rt.TopicID)
			if t == nil {
				unknown[g.Group] = append(unknown[g.Group], rt)
				continue
			}
			rt.Topic = t.Name
			byName.Groups[i].Topics = append(byName.Groups[i].Topics, rt)
		}
	}
	resp := b.groups.OffsetFetch(ctx, &byName)
	if req.RequireStable {
		b.markUnstableOffsets(&byName, resp) // offset_fetch_txn.go
	}
	resp.SetVersion(req.Version)
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			if tp := b.lookupTopic(t.Topic); tp != nil {
				t.TopicID, t.Topic = tp.ID, "" // v10 has no names
				kept = append(kept, t)
			}
		}
		g.Topics = kept
		for _, rt := range unknown[g.Group] {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.TopicID = rt.TopicID
			for _, p := range rt.Partitions {
				sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				sp.Partition, sp.ErrorCode = p, kerr.UnknownTopicID.Code
				st.Partitions = append(st.Partitions, sp)
			}
			g.Topics = append(g.Topics, st)
		}
	}
	return resp
}
