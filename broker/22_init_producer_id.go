package broker

// InitProducerId (key 22), versions from producer.SupportedVersions(): producer ids for
// idempotent producers (broker/producer) and, with a transactional id, for transactional
// ones from the transaction coordinator (broker/txn: epoch bump, fencing, KIP-360
// re-initialisation, transaction.max.timeout.ms). Needs WRITE on the transactional id
// when one is given, else IDEMPOTENT_WRITE on the cluster or WRITE on any topic.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/producer"
)

func init() {
	v := producer.SupportedVersions()
	register(apiEntry{key: kmsg.InitProducerID, min: v[0], max: v[1], handle: h((*Broker).handleInitProducerID), authz: hook(authzInitProducerID)})
}

func (b *Broker) handleInitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	if req.TransactionalID == nil {
		return b.producerIDs.InitProducerID(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	pid, epoch, err := b.txns.InitProducer(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch, req.Version)
	resp.ProducerID, resp.ProducerEpoch = pid, epoch
	if err != nil {
		resp.ErrorCode = err.Code
	}
	return resp, nil
}

func authzInitProducerID(b *Broker, ctx context.Context, req *kmsg.InitProducerIDRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var code int16
	if req.TransactionalID != nil {
		if !b.authorize(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionalID) {
			code = kerr.TransactionalIDAuthorizationFailed.Code
		}
	} else if !b.clusterAllowed(ctx, kmsg.ACLOperationIdempotentWrite) &&
		!b.authorizeAny(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic) {
		code = kerr.ClusterAuthorizationFailed.Code
	}
	if code == 0 {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
	return resp, nil
}
