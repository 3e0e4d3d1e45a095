package broker

// ShareGroupDescribe (key 77, KIP-932), v1: members, epochs and assignments of share
// groups. Needs DESCRIBE on each group (else GROUP_AUTHORIZATION_FAILED for it).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.ShareGroupDescribe, min: 1, max: 1, handle: h((*Broker).handleShareGroupDescribe), authz: hook(authzShareGroupDescribe)})
}

func (b *Broker) handleShareGroupDescribe(ctx context.Context, req *kmsg.ShareGroupDescribeRequest) (kmsg.Response, error) {
	resp := b.shares.Describe(req)
	if req.IncludeAuthorizedOperations && b.authz != nil {
		for i := range resp.Groups {
			if g := &resp.Groups[i]; g.ErrorCode == 0 {
				g.AuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeGroup, g.GroupID, groupOps)
			}
		}
	}
	return resp, nil
}

func authzShareGroupDescribe(b *Broker, ctx context.Context, req *kmsg.ShareGroupDescribeRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []string
	req.GroupIDs, denied = split(req.GroupIDs, func(g string) bool { return b.groupAllowed(ctx, kmsg.ACLOperationDescribe, g) })
	var resp *kmsg.ShareGroupDescribeResponse
	if len(req.GroupIDs) > 0 {
		r, err := next(req)
		if err != nil {
			return r, err
		}
		resp = r.(*kmsg.ShareGroupDescribeResponse)
	} else {
		resp = req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	}
	for _, g := range denied {
		sg := kmsg.NewShareGroupDescribeResponseGroup()
		sg.GroupID, sg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, sg)
	}
	return resp, nil
}
