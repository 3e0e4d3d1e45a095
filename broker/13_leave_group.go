package broker

// LeaveGroup (key 13), versions from group.SupportedVersions(): an adapter onto the group
// coordinator. Needs READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(groupAPI(kmsg.LeaveGroup, h((*Broker).handleLeaveGroup), hook(authzLeaveGroup)))
}

func (b *Broker) handleLeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) (kmsg.Response, error) {
	return b.groups.LeaveGroup(ctx, req), nil
}

var authzLeaveGroup = groupGate(kmsg.ACLOperationRead, func(r *kmsg.LeaveGroupRequest) string { return r.Group },
	func(r kmsg.Response) { r.(*kmsg.LeaveGroupResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code })
