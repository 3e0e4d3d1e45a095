package broker

// AlterPartitionReassignments (key 45), versions 0-1, as a single-node Kafka answers it.
//
// The only broker is this node, so the only valid assignment of any partition is
// [node.id], which every partition has already: it succeeds and starts nothing. Per
// partition, as Kafka's controller validates: an unknown topic or partition is
// UNKNOWN_TOPIC_OR_PARTITION; null replicas (cancel) is NO_REASSIGNMENT_IN_PROGRESS, as no
// reassignment is ever in progress; an empty replica list, a broker listed twice or a
// broker that is not registered (any other id) is INVALID_REPLICA_ASSIGNMENT. v1
// (KIP-860): AllowReplicationFactorChange is echoed; with the only valid assignment the
// replication factor never changes. Needs ALTER on the cluster; without it the response
// and every partition are CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.AlterPartitionAssignments, min: 0, max: 1, handle: h((*Broker).handleAlterPartitionReassignments), authz: hook(authzAlterPartitionReassignments)})
}

func (b *Broker) handleAlterPartitionReassignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			if err, msg := b.checkReassignment(t, rt.Topic, rp); err != nil {
				sp.ErrorCode, sp.ErrorMessage = err.Code, &msg
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// checkReassignment validates one partition's target replicas; nil: the partition
// already has them.
func (b *Broker) checkReassignment(t *Topic, name string, rp kmsg.AlterPartitionAssignmentsRequestTopicPartition) (*kerr.Error, string) {
	switch {
	case t == nil:
		return kerr.UnknownTopicOrPartition, fmt.Sprintf("Unable to find a topic named %s.", name)
	case topicPartition(t, rp.Partition) == nil:
		return kerr.UnknownTopicOrPartition, fmt.Sprintf("Unable to find partition %s:%d.", name, rp.Partition)
	case rp.Replicas == nil:
		return kerr.NoReassignmentInProgress, kerr.NoReassignmentInProgress.Description
	case len(rp.Replicas) == 0:
		return kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list."
	}
	seen := make(map[int32]bool)
	for _, r := range rp.Replicas {
		if seen[r] {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("The manual partition assignment includes the broker %d more than once.", r)
		}
		seen[r] = true
		if r != b.cfg.NodeID {
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("The manual partition assignment includes broker %d, but no such broker is registered.", r)
		}
	}
	return nil, ""
}

func authzAlterPartitionReassignments(b *Broker, ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationAlter) {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	e := kerr.ClusterAuthorizationFailed
	resp.ErrorCode, resp.ErrorMessage = e.Code, kmsg.StringPtr(e.Description)
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.ErrorMessage = rp.Partition, e.Code, kmsg.StringPtr(e.Description)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
