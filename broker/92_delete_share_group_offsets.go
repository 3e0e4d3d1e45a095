package broker

// DeleteShareGroupOffsets (key 92, KIP-932), v0: forgets the share state of topics in an
// empty share group (NON_EMPTY_GROUP otherwise; GROUP_ID_NOT_FOUND for no such share
// group); the next fetch starts again at share.auto.offset.reset. Needs DELETE on the
// group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.DeleteShareGroupOffsets, min: 0, max: 0, handle: h((*Broker).handleDeleteShareGroupOffsets), authz: hook(authzDeleteShareGroupOffsets)})
}

func (b *Broker) handleDeleteShareGroupOffsets(ctx context.Context, req *kmsg.DeleteShareGroupOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	exists, empty := b.shares.GroupEmpty(req.GroupID)
	switch {
	case !exists:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp, nil
	case !empty:
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp, nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		st.Topic = rt.Topic
		if t := b.lookupTopic(rt.Topic); t == nil {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		} else {
			st.TopicID = t.ID
			if err := b.shares.DeleteOffsets(req.GroupID, t.ID); err != nil {
				st.ErrorCode = err.Code
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if err := b.shares.Sync(ctx); err != nil {
		resp.ErrorCode = kerr.KafkaStorageError.Code
	}
	return resp, nil
}

var authzDeleteShareGroupOffsets = groupGate(kmsg.ACLOperationDelete, func(r *kmsg.DeleteShareGroupOffsetsRequest) string { return r.GroupID },
	func(r kmsg.Response) {
		r.(*kmsg.DeleteShareGroupOffsetsResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code
	})
