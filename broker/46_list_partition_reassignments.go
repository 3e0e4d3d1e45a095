package broker

// ListPartitionReassignments (key 46), version 0, as a single-node Kafka answers it.
//
// No reassignment is ever in progress (AlterPartitionReassignments can only confirm the
// assignment every partition has), so the answer lists no topics, for a null topic list
// (all) as for named topics; Kafka's controller also leaves unknown topics out silently.
// Needs DESCRIBE on the cluster; without it CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.ListPartitionReassignments, min: 0, max: 0, handle: h((*Broker).handleListPartitionReassignments), authz: hook(authzListPartitionReassignments)})
}

func (b *Broker) handleListPartitionReassignments(ctx context.Context, req *kmsg.ListPartitionReassignmentsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	resp.Topics = []kmsg.ListPartitionReassignmentsResponseTopic{}
	return resp, nil
}

func authzListPartitionReassignments(b *Broker, ctx context.Context, req *kmsg.ListPartitionReassignmentsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	resp.ErrorMessage = kmsg.StringPtr(kerr.ClusterAuthorizationFailed.Description)
	return resp, nil
}
