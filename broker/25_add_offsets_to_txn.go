package broker

// AddOffsetsToTxn (key 25), versions 0-4: the group's offsets may be committed in the
// transaction (TxnOffsetCommit). Needs WRITE on the transactional id and READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.AddOffsetsToTxn, min: 0, max: 4, handle: h((*Broker).handleAddOffsetsToTxn), authz: hook(authzAddOffsetsToTxn)})
}

func (b *Broker) handleAddOffsetsToTxn(_ context.Context, req *kmsg.AddOffsetsToTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	if err := b.txns.AddOffsets(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version, req.Group); err != nil {
		resp.ErrorCode = err.Code
	}
	return resp, nil
}

func authzAddOffsetsToTxn(b *Broker, ctx context.Context, req *kmsg.AddOffsetsToTxnRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !b.authorize(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case !b.groupAllowed(ctx, kmsg.ACLOperationRead, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	default:
		return next(req)
	}
	return resp, nil
}
