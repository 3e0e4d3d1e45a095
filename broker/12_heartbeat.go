package broker

// Heartbeat (key 12), versions from group.SupportedVersions(): an adapter onto the group
// coordinator. Needs READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(groupAPI(kmsg.Heartbeat, h((*Broker).handleHeartbeat), hook(authzHeartbeat))) }

func (b *Broker) handleHeartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) (kmsg.Response, error) {
	return b.groups.Heartbeat(ctx, req), nil
}

var authzHeartbeat = groupGate(kmsg.ACLOperationRead, func(r *kmsg.HeartbeatRequest) string { return r.Group },
	func(r kmsg.Response) { r.(*kmsg.HeartbeatResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code })
