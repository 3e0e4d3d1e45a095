package broker

// FindCoordinator (key 10), versions from group.SupportedVersions(): this broker coordinates
// every group, at the address of the listener the request came in on. Needs DESCRIBE on the
// group (or transactional id).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/group"
)

func init() {
	register(groupAPI(kmsg.FindCoordinator, h((*Broker).handleFindCoordinator), hook(authzFindCoordinator)))
}

func (b *Broker) handleFindCoordinator(ctx context.Context, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	host, port := b.advertisedHostPort(ctx)
	resp := b.groups.FindCoordinator(ctx, req, group.Node{NodeID: b.cfg.NodeID, Host: host, Port: port})
	if c := b.cluster(); c != nil {
		c.state.placeCoordinators(req.CoordinatorKey, resp) // clusterview.go
	}
	return resp, nil
}

func authzFindCoordinator(b *Broker, ctx context.Context, req *kmsg.FindCoordinatorRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	rt, code := kmsg.ACLResourceTypeGroup, kerr.GroupAuthorizationFailed.Code
	if req.CoordinatorType == 1 {
		rt, code = kmsg.ACLResourceTypeTransactionalId, kerr.TransactionalIDAuthorizationFailed.Code
	}
	if req.Version < 4 {
		if b.authorize(ctx, kmsg.ACLOperationDescribe, rt, req.CoordinatorKey) {
			return next(req)
		}
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode, resp.NodeID = code, -1
		return resp, nil
	}
	var denied []string
	req.CoordinatorKeys, denied = split(req.CoordinatorKeys, func(k string) bool {
		return b.authorize(ctx, kmsg.ACLOperationDescribe, rt, k)
	})
	var resp *kmsg.FindCoordinatorResponse
	if len(req.CoordinatorKeys) > 0 {
		r, err := next(req)
		if err != nil || len(denied) == 0 {
			return r, err
		}
		resp = r.(*kmsg.FindCoordinatorResponse)
	} else {
		resp = req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	}
	for _, k := range denied {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port, c.ErrorCode = k, -1, -1, code
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}
