package broker

// SyncGroup (key 14), versions from group.SupportedVersions(): an adapter onto the group
// coordinator. Needs READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(groupAPI(kmsg.SyncGroup, h((*Broker).handleSyncGroup), hook(authzSyncGroup))) }

func (b *Broker) handleSyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) (kmsg.Response, error) {
	return b.groups.SyncGroup(ctx, req), nil
}

var authzSyncGroup = groupGate(kmsg.ACLOperationRead, func(r *kmsg.SyncGroupRequest) string { return r.Group },
	func(r kmsg.Response) { r.(*kmsg.SyncGroupResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code })
