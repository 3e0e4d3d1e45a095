package broker

// JoinGroup (key 11), versions from group.SupportedVersions(): an adapter onto the group
// coordinator. Needs READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/group"
)

func init() { register(groupAPI(kmsg.JoinGroup, h((*Broker).handleJoinGroup), hook(authzJoinGroup))) }

func (b *Broker) handleJoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) (kmsg.Response, error) {
	ri, _ := requestInfoFrom(ctx)
	return b.groups.JoinGroup(ctx, req, group.Client{ID: ri.ClientID, Host: "/" + ri.ClientHost}), nil
}

var authzJoinGroup = groupGate(kmsg.ACLOperationRead, func(r *kmsg.JoinGroupRequest) string { return r.Group },
	func(r kmsg.Response) {
		jr := r.(*kmsg.JoinGroupResponse)
		jr.ErrorCode, jr.Generation = kerr.GroupAuthorizationFailed.Code, -1
	})
