package broker

// ShareGroupHeartbeat (key 76, KIP-932), v1 (v0 was Kafka 4.0's early access): share-group
// membership (broker/share). Needs READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.ShareGroupHeartbeat, min: 1, max: 1, handle: h((*Broker).handleShareGroupHeartbeat), authz: hook(authzShareGroupHeartbeat)})
}

func (b *Broker) handleShareGroupHeartbeat(ctx context.Context, req *kmsg.ShareGroupHeartbeatRequest) (kmsg.Response, error) {
	ri, _ := requestInfoFrom(ctx)
	return b.shares.Heartbeat(req, ri.ClientID, "/"+ri.ClientHost), nil
}

var authzShareGroupHeartbeat = groupGate(kmsg.ACLOperationRead, func(r *kmsg.ShareGroupHeartbeatRequest) string { return r.GroupID },
	func(r kmsg.Response) {
		r.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code
	})
