package broker

// ListTransactions (key 66), versions 0-2: the transactional ids the coordinator knows,
// filtered by state, producer id, (v1+) transactions running longer than
// DurationFilterMillis and (v2+) a regular expression on the id (Go's RE2 syntax; an
// invalid one is INVALID_REGULAR_EXPRESSION). An unknown state filter is reported in
// UnknownStateFilters. Only the ids the principal may DESCRIBE are listed.

import (
	"context"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.ListTransactions, min: 0, max: 2, handle: h((*Broker).handleListTransactions), authz: noHook})
}

var txnStateNames = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead"}

func (b *Broker) handleListTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	var re *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if re, err = regexp.Compile(*req.TransactionalIDPattern); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
	}
	for _, f := range req.StateFilters {
		if !slices.Contains(txnStateNames, f) {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, f)
		}
	}
	now := time.Now().UnixMilli()
	for _, t := range b.txns.List() {
		switch {
		case len(req.StateFilters) > 0 && !slices.Contains(req.StateFilters, t.State.String()):
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, t.ProducerID):
		case req.Version >= 1 && req.DurationFilterMillis >= 0 && (t.State.String() != "Ongoing" || now-t.StartMs < req.DurationFilterMillis):
		case re != nil && !re.MatchString(t.ID):
		case !b.authorize(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, t.ID):
		default:
			s := kmsg.NewListTransactionsResponseTransactionState()
			s.TransactionalID, s.ProducerID, s.TransactionState = t.ID, t.ProducerID, t.State.String()
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
	}
	return resp, nil
}
