package broker

// DescribeShareGroupOffsets (key 90, KIP-932), v0-v1: the share-partition start offset
// of each partition (-1: no state yet) and, v1, its lag (records below the high watermark
// not yet acknowledged or archived). Needs DESCRIBE on the group.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/share"
)

func init() {
	register(apiEntry{key: kmsg.DescribeShareGroupOffsets, min: 0, max: 1, handle: h((*Broker).handleDescribeShareGroupOffsets), authz: hook(authzDescribeShareGroupOffsets)})
}

func (b *Broker) handleDescribeShareGroupOffsets(ctx context.Context, req *kmsg.DescribeShareGroupOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, rg := range req.Groups {
		sg := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		sg.GroupID = rg.GroupID
		if !b.shares.IsGroup(rg.GroupID) {
			sg.ErrorCode = kerr.GroupIDNotFound.Code
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		topics := rg.Topics
		if topics == nil { // all partitions with state
			byName := map[string][]int32{}
			for _, tp := range b.shares.Partitions(rg.GroupID) {
				if t := b.lookupTopicID(tp.Topic); t != nil {
					byName[t.Name] = append(byName[t.Name], tp.Partition)
				}
			}
			for name, ps := range byName {
				slices.Sort(ps)
				topics = append(topics, kmsg.DescribeShareGroupOffsetsRequestGroupTopic{Topic: name, Partitions: ps})
			}
			slices.SortFunc(topics, func(a, b kmsg.DescribeShareGroupOffsetsRequestGroupTopic) int {
				return strings.Compare(a.Topic, b.Topic)
			})
		}
		for _, rt := range topics {
			st := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			st.Topic = rt.Topic
			t := b.lookupTopic(rt.Topic)
			if t != nil {
				st.TopicID = t.ID
			}
			for _, p := range rt.Partitions {
				sp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
				sp.Partition, sp.StartOffset, sp.Lag, sp.LeaderEpoch = p, -1, -1, -1
				if t == nil || t.partition(p) == nil {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else if o, _ := b.shares.Offset(rg.GroupID, share.TP{Topic: t.ID, Partition: p}); o.OK {
					sp.StartOffset, sp.Lag, sp.LeaderEpoch = o.Start, o.Lag, 0
				}
				st.Partitions = append(st.Partitions, sp)
			}
			sg.Topics = append(sg.Topics, st)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}

func authzDescribeShareGroupOffsets(b *Broker, ctx context.Context, req *kmsg.DescribeShareGroupOffsetsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []kmsg.DescribeShareGroupOffsetsRequestGroup
	req.Groups, denied = split(req.Groups, func(g kmsg.DescribeShareGroupOffsetsRequestGroup) bool {
		return b.groupAllowed(ctx, kmsg.ACLOperationDescribe, g.GroupID)
	})
	r, err := next(req)
	if err != nil {
		return r, err
	}
	resp := r.(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, g := range denied {
		sg := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		sg.GroupID, sg.ErrorCode = g.GroupID, kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}
