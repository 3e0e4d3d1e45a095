package broker

// DescribeTransactions (key 65), version 0: the coordinator's state of each transactional
// id (unknown: TRANSACTIONAL_ID_NOT_FOUND). Needs DESCRIBE on the transactional id.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.DescribeTransactions, min: 0, max: 0, handle: h((*Broker).handleDescribeTransactions), authz: hook(authzDescribeTransactions)})
}

func (b *Broker) handleDescribeTransactions(_ context.Context, req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id
		t, ok := b.txns.Describe(id)
		if !ok {
			s.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, s)
			continue
		}
		s.State, s.TimeoutMillis, s.ProducerID, s.ProducerEpoch = t.State.String(), t.TimeoutMs, t.ProducerID, t.Epoch
		s.StartTimestamp = -1
		if len(t.Partitions) > 0 || t.State.String() == "Ongoing" {
			s.StartTimestamp = t.StartMs
		}
		byTopic := map[string][]int32{}
		for _, p := range t.Partitions {
			byTopic[p.Topic] = append(byTopic[p.Topic], p.Partition)
		}
		names := make([]string, 0, len(byTopic))
		for n := range byTopic {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			rt.Topic, rt.Partitions = n, byTopic[n]
			s.Topics = append(s.Topics, rt)
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return resp, nil
}

func authzDescribeTransactions(b *Broker, ctx context.Context, req *kmsg.DescribeTransactionsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []string
	req.TransactionalIDs, denied = split(req.TransactionalIDs, func(id string) bool {
		return b.authorize(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id)
	})
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.DescribeTransactionsResponse)
	for _, id := range denied {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID, s.ErrorCode = id, kerr.TransactionalIDAuthorizationFailed.Code
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return resp, nil
}
