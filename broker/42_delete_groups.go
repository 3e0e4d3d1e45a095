package broker

// DeleteGroups (key 42), versions from group.SupportedVersions(): an adapter onto the group
// coordinator. Needs DELETE on each group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(groupAPI(kmsg.DeleteGroups, h((*Broker).handleDeleteGroups), hook(authzDeleteGroups)))
}

func (b *Broker) handleDeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) (kmsg.Response, error) {
	return b.groups.DeleteGroups(ctx, req), nil
}

func authzDeleteGroups(b *Broker, ctx context.Context, req *kmsg.DeleteGroupsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []string
	req.Groups, denied = split(req.Groups, func(g string) bool { return b.groupAllowed(ctx, kmsg.ACLOperationDelete, g) })
	var resp *kmsg.DeleteGroupsResponse
	if len(req.Groups) > 0 {
		r, err := next(req)
		if err != nil || len(denied) == 0 {
			return r, err
		}
		resp = r.(*kmsg.DeleteGroupsResponse)
	} else {
		resp = req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	}
	for _, g := range denied {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = g
		rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
