package broker

// TxnOffsetCommit (key 28), versions 0-4: offsets committed in a transaction, visible to
// OffsetFetch once it commits. v3+ carries the member's group generation (KIP-447): the
// group coordinator checks it (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// FENCED_INSTANCE_ID), then the transaction coordinator checks the producer and that the
// group was added (AddOffsetsToTxn). Needs WRITE on the transactional id and READ on the
// group and topics.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/txn"
)

func init() {
	register(apiEntry{key: kmsg.TxnOffsetCommit, min: 0, max: 4, handle: h((*Broker).handleTxnOffsetCommit), authz: hook(authzTxnOffsetCommit)})
}

func (b *Broker) handleTxnOffsetCommit(_ context.Context, req *kmsg.TxnOffsetCommitRequest) (kmsg.Response, error) {
	code := int16(0)
	if req.Version >= 3 {
		code = b.groups.ValidateTxnOffsetCommit(req.Group, req.MemberID, strOr(req.InstanceID), req.Generation)
	} else if req.Group == "" {
		code = kerr.InvalidGroupID.Code
	}
	perPart := map[[2]int]int16{}
	if code == 0 {
		var offs []txn.Offset
		for ti, t := range req.Topics {
			for pi, p := range t.Partitions {
				if !b.partitionExists(t.Topic, p.Partition) {
					perPart[[2]int{ti, pi}] = kerr.UnknownTopicOrPartition.Code
					continue
				}
				md := ""
				if p.Metadata != nil {
					md = *p.Metadata
				}
				epoch := p.LeaderEpoch
				if req.Version < 2 {
					epoch = -1
				}
				offs = append(offs, txn.Offset{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: epoch, Metadata: md})
			}
		}
		if len(offs) > 0 {
			if err := b.txns.AddOffsetsPending(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version, req.Group, offs); err != nil {
				code = err.Code
			}
		}
	}
	return txnOffsetCommitResponse(req, func(ti, pi int) int16 {
		if c, ok := perPart[[2]int{ti, pi}]; ok {
			return c
		}
		return code
	}), nil
}

func strOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func txnOffsetCommitResponse(req *kmsg.TxnOffsetCommitRequest, code func(ti, pi int) int16) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for ti, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for pi, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code(ti, pi)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func authzTxnOffsetCommit(b *Broker, ctx context.Context, req *kmsg.TxnOffsetCommitRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var code int16
	switch {
	case !b.authorize(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		code = kerr.TransactionalIDAuthorizationFailed.Code
	case !b.groupAllowed(ctx, kmsg.ACLOperationRead, req.Group):
		code = kerr.GroupAuthorizationFailed.Code
	}
	if code == 0 {
		denied := false
		for _, t := range req.Topics {
			denied = denied || !b.topicAllowed(ctx, kmsg.ACLOperationRead, t.Topic)
		}
		if !denied {
			return next(req)
		}
		return txnOffsetCommitResponse(req, func(ti, _ int) int16 {
			if !b.topicAllowed(ctx, kmsg.ACLOperationRead, req.Topics[ti].Topic) {
				return kerr.TopicAuthorizationFailed.Code
			}
			return kerr.OperationNotAttempted.Code
		}), nil
	}
	return txnOffsetCommitResponse(req, func(int, int) int16 { return code }), nil
}
