package broker

// ElectLeaders (key 43), versions 0-2, as a single-node Kafka answers it.
//
// Every partition has one replica, this node, which is its leader and its preferred
// replica, so no election is ever needed: a named partition is ELECTION_NOT_NEEDED for both
// election types (preferred 0, unclean 1), as Kafka answers for a partition whose leader is
// already the preferred replica (or, unclean, is alive); an unknown topic or partition is
// UNKNOWN_TOPIC_OR_PARTITION ("No such topic as T", "No such partition as T-P", Kafka's
// messages). A null topic list (all partitions) is answered with no
// partitions: Kafka leaves out the partitions that need no election in that case. Another
// election type is INVALID_REQUEST. Needs ALTER on the cluster; without it every named
// partition and (v1+) the response are CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.ElectLeaders, min: 0, max: 2, handle: h((*Broker).handleElectLeaders), authz: hook(authzElectLeaders)})
}

func (b *Broker) handleElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) (kmsg.Response, error) {
	if req.Version >= 1 && req.ElectionType != 0 && req.ElectionType != 1 {
		return electLeadersError(req, kerr.InvalidRequest), nil
	}
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	for _, rt := range req.Topics { // null (all partitions): nothing needs an election
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			switch {
			case t == nil:
				sp.ErrorCode, sp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, kmsg.StringPtr("No such topic as "+rt.Topic)
			case topicPartition(t, p) == nil:
				sp.ErrorCode, sp.ErrorMessage = kerr.UnknownTopicOrPartition.Code, kmsg.StringPtr(fmt.Sprintf("No such partition as %s-%d", rt.Topic, p))
			default:
				sp.ErrorCode = kerr.ElectionNotNeeded.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// electLeadersError answers every named partition, and the request (v1+), with err.
func electLeadersError(req *kmsg.ElectLeadersRequest, err *kerr.Error) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	resp.ErrorCode = err.Code
	for _, rt := range req.Topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.ErrorMessage = p, err.Code, kmsg.StringPtr(err.Description)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func authzElectLeaders(b *Broker, ctx context.Context, req *kmsg.ElectLeadersRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationAlter) {
		return next(req)
	}
	return electLeadersError(req, kerr.ClusterAuthorizationFailed), nil
}
