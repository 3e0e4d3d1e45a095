package broker

// ShareAcknowledge (key 79, KIP-932), v1-v2: acknowledgements of acquired records
// outside a fetch (accept, release, reject; v2 renew), answered once durable. It needs an
// open share session (epoch > 0, or -1 to close it after acknowledging). Needs READ on
// the group.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/share"
)

func init() {
	register(apiEntry{key: kmsg.ShareAcknowledge, min: 1, max: 2, handle: h((*Broker).handleShareAcknowledge), authz: hook(authzShareAcknowledge)})
}

func (b *Broker) handleShareAcknowledge(ctx context.Context, req *kmsg.ShareAcknowledgeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	resp.AcquisitionLockTimeoutMillis = int32(b.shares.LockDuration() / time.Millisecond)
	if req.GroupID == nil || req.MemberID == nil || *req.GroupID == "" || *req.MemberID == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	groupID, memberID := *req.GroupID, *req.MemberID
	if _, serr := b.shares.Session(ctx, groupID, memberID, req.ShareSessionEpoch, nil, nil, false); serr != nil {
		resp.ErrorCode = serr.Code
		return resp, nil
	}
	out := newShareResp(func(p int32) kmsg.ShareAcknowledgeResponseTopicPartition {
		sp := kmsg.NewShareAcknowledgeResponseTopicPartition()
		sp.Partition = p
		return sp
	})
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			tp := share.TP{Topic: rt.TopicID, Partition: rp.Partition}
			batches := make([]share.AckBatch, len(rp.AcknowledgementBatches))
			for i, ab := range rp.AcknowledgementBatches {
				batches[i] = share.AckBatch{First: ab.FirstOffset, Last: ab.LastOffset, Types: ab.AcknowledgeTypes}
			}
			sp := out.get(tp)
			if b.sharePartition(tp) == nil {
				sp.ErrorCode = kerr.UnknownTopicID.Code
				continue
			}
			sp.ErrorCode = shareAckCode(b.shares.Ack(groupID, memberID, tp, batches))
		}
	}
	if err := b.shares.Sync(ctx); err != nil {
		for _, tp := range out.order {
			if sp := out.get(tp); sp.ErrorCode == 0 {
				sp.ErrorCode = kerr.KafkaStorageError.Code
			}
		}
	}
	if req.ShareSessionEpoch == -1 {
		b.shares.CloseSession(groupID, memberID)
	}
	for _, tp := range out.order {
		n := len(resp.Topics)
		if n == 0 || resp.Topics[n-1].TopicID != tp.Topic {
			st := kmsg.NewShareAcknowledgeResponseTopic()
			st.TopicID = tp.Topic
			resp.Topics = append(resp.Topics, st)
			n++
		}
		resp.Topics[n-1].Partitions = append(resp.Topics[n-1].Partitions, *out.get(tp))
	}
	return resp, nil
}

// authzShareAcknowledge needs READ on the group and on each topic (other topics'
// partitions: TOPIC_AUTHORIZATION_FAILED).
func authzShareAcknowledge(b *Broker, ctx context.Context, req *kmsg.ShareAcknowledgeRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if req.GroupID == nil || !b.groupAllowed(ctx, kmsg.ACLOperationRead, *req.GroupID) {
		resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	var denied []kmsg.ShareAcknowledgeRequestTopic
	req.Topics, denied = split(req.Topics, func(rt kmsg.ShareAcknowledgeRequestTopic) bool { return b.shareTopicAllowed(ctx, rt.TopicID) })
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.ShareAcknowledgeResponse)
	for _, rt := range denied {
		st := kmsg.NewShareAcknowledgeResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
