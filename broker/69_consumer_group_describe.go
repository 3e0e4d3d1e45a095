package broker

// ConsumerGroupDescribe (key 69, KIP-848), versions from group.SupportedVersions(): an
// adapter onto the group coordinator. Needs DESCRIBE on each group (else
// GROUP_AUTHORIZATION_FAILED for it).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(groupAPI(kmsg.ConsumerGroupDescribe, h((*Broker).handleConsumerGroupDescribe), hook(authzConsumerGroupDescribe)))
}

func (b *Broker) handleConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) (kmsg.Response, error) {
	return b.groups.ConsumerGroupDescribe(ctx, req), nil
}

func authzConsumerGroupDescribe(b *Broker, ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []string
	req.Groups, denied = split(req.Groups, func(g string) bool { return b.groupAllowed(ctx, kmsg.ACLOperationDescribe, g) })
	var resp *kmsg.ConsumerGroupDescribeResponse
	if len(req.Groups) > 0 {
		r, err := next(req)
		if err != nil {
			return r, err
		}
		resp = r.(*kmsg.ConsumerGroupDescribeResponse)
		if req.IncludeAuthorizedOperations {
			for i := range resp.Groups {
				if g := &resp.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeGroup, g.Group, groupOps)
				}
			}
		}
	} else {
		resp = req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	}
	for _, g := range denied {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = g
		rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}
