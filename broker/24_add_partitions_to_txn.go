package broker

// AddPartitionsToTxn (key 24), versions 0-3 (the client versions; v4+ is the
// broker-to-broker batched form with verify-only, which a single node does not need:
// produce verification calls the coordinator directly, txns.go). Needs WRITE on the
// transactional id and on every topic.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/txn"
)

func init() {
	register(apiEntry{key: kmsg.AddPartitionsToTxn, min: 0, max: 3, handle: h((*Broker).handleAddPartitionsToTxn), authz: hook(authzAddPartitionsToTxn)})
}

func (b *Broker) handleAddPartitionsToTxn(_ context.Context, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	var parts []txn.TP
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, txn.TP{Topic: t.Topic, Partition: p})
		}
	}
	errs := b.txns.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version, parts)
	return addPartitionsResponse(req, func(i int) int16 {
		if errs[i] == nil {
			return 0
		}
		return errs[i].Code
	}), nil
}

// addPartitionsResponse answers every partition of req in order with code(i).
func addPartitionsResponse(req *kmsg.AddPartitionsToTxnRequest, code func(i int) int16) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code(i)
			rt.Partitions = append(rt.Partitions, rp)
			i++
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func authzAddPartitionsToTxn(b *Broker, ctx context.Context, req *kmsg.AddPartitionsToTxnRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if !b.authorize(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		return addPartitionsResponse(req, func(int) int16 { return kerr.TransactionalIDAuthorizationFailed.Code }), nil
	}
	var denied []bool
	any := false
	for _, t := range req.Topics {
		ok := b.topicAllowed(ctx, kmsg.ACLOperationWrite, t.Topic)
		for range t.Partitions {
			denied = append(denied, !ok)
			any = any || !ok
		}
	}
	if !any {
		return next(req)
	}
	return addPartitionsResponse(req, func(i int) int16 {
		if denied[i] {
			return kerr.TopicAuthorizationFailed.Code
		}
		return kerr.OperationNotAttempted.Code
	}), nil
}
