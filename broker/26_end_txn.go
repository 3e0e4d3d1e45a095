package broker

// EndTxn (key 26), versions 0-4: commit or abort the ongoing transaction (transaction
// version 1: the producer keeps its epoch; v5, KIP-890 part 2's epoch bump per
// transaction, is not served and the transaction.version feature is not advertised).
// The response comes once the outcome is durable in the coordinator's log and, unless a
// partition failed, the markers and offsets are written. Needs WRITE on the
// transactional id.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.EndTxn, min: 0, max: 4, handle: h((*Broker).handleEndTxn), authz: hook(authzEndTxn)})
}

func (b *Broker) handleEndTxn(ctx context.Context, req *kmsg.EndTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if err := b.txns.End(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version); err != nil {
		resp.ErrorCode = err.Code
	}
	return resp, nil
}

func authzEndTxn(b *Broker, ctx context.Context, req *kmsg.EndTxnRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.authorize(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	return resp, nil
}
