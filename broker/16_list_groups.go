package broker

// ListGroups (key 16), versions from group.SupportedVersions(): an adapter onto the group
// coordinator. With DESCRIBE on the cluster every group, else those the principal may describe.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(groupAPI(kmsg.ListGroups, h((*Broker).handleListGroups), hook(authzListGroups)))
}

func (b *Broker) handleListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) (kmsg.Response, error) {
	resp := b.groups.ListGroups(ctx, req)
	if req.Version >= 5 { // share groups have a type only from v5 (KIP-848's field); shares.go
		resp.Groups = append(resp.Groups, b.listShareGroups(req)...)
	}
	return resp, nil
}

func authzListGroups(b *Broker, ctx context.Context, req *kmsg.ListGroupsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	r, err := next(req)
	if err != nil || b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		return r, err
	}
	resp := r.(*kmsg.ListGroupsResponse)
	resp.Groups = slices.DeleteFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool {
		return !b.groupAllowed(ctx, kmsg.ACLOperationDescribe, g.Group)
	})
	return resp, nil
}
