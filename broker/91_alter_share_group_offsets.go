package broker

// AlterShareGroupOffsets (key 91, KIP-932), v0: sets the share-partition start offset of
// partitions of an empty share group (NON_EMPTY_GROUP otherwise),
// dropping their in-flight state; the group is created if it does not exist. Answered
// once durable. Needs READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/share"
)

func init() {
	register(apiEntry{key: kmsg.AlterShareGroupOffsets, min: 0, max: 0, handle: h((*Broker).handleAlterShareGroupOffsets), authz: hook(authzAlterShareGroupOffsets)})
}

func (b *Broker) handleAlterShareGroupOffsets(ctx context.Context, req *kmsg.AlterShareGroupOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	switch {
	case req.GroupID == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	if _, other := b.groups.Describe(req.GroupID); other {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp, nil
	}
	if exists, empty := b.shares.GroupEmpty(req.GroupID); exists && !empty {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp, nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		if t != nil {
			st.TopicID = t.ID
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case t == nil || t.partition(rp.Partition) == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !b.topicAllowed(ctx, kmsg.ACLOperationRead, rt.Topic):
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			default:
				if err := b.shares.AlterOffset(req.GroupID, share.TP{Topic: t.ID, Partition: rp.Partition}, rp.StartOffset); err != nil {
					sp.ErrorCode = err.Code
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if err := b.shares.Sync(ctx); err != nil {
		resp.ErrorCode = kerr.KafkaStorageError.Code
	}
	return resp, nil
}

var authzAlterShareGroupOffsets = groupGate(kmsg.ACLOperationRead, func(r *kmsg.AlterShareGroupOffsetsRequest) string { return r.GroupID },
	func(r kmsg.Response) {
		r.(*kmsg.AlterShareGroupOffsetsResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code
	})
