package broker

// ConsumerGroupHeartbeat (key 68, KIP-848), versions from group.SupportedVersions(): an
// adapter onto the group coordinator's consumer-group protocol. Needs READ on the group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/group"
)

func init() {
	register(groupAPI(kmsg.ConsumerGroupHeartbeat, h((*Broker).handleConsumerGroupHeartbeat), hook(authzConsumerGroupHeartbeat)))
}

func (b *Broker) handleConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) (kmsg.Response, error) {
	ri, _ := requestInfoFrom(ctx)
	client := group.Client{ID: ri.ClientID, Host: "/" + ri.ClientHost}
	if b.authz != nil {
		// A regex subscription matches only topics the member's principal may describe.
		principal, host := principalFrom(ctx), ri.ClientHost
		client.AuthKey = principal + "@" + host
		client.DescribeTopic = func(topic string) bool {
			return b.authz.Authorize(principal, host, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, topic)
		}
	}
	return b.groups.ConsumerGroupHeartbeat(ctx, req, client), nil
}

var authzConsumerGroupHeartbeat = groupGate(kmsg.ACLOperationRead, func(r *kmsg.ConsumerGroupHeartbeatRequest) string { return r.Group },
	func(r kmsg.Response) {
		r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code
	})
