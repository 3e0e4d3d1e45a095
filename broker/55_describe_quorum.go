package broker

// DescribeQuorum (key 55), versions 0-2, as the single voter of a KRaft quorum answers it.
//
// The node is the whole metadata quorum: the only voter and the leader of
// __cluster_metadata-0, with no observers. Strata keeps cluster metadata in
// <data-dir>/meta rather than in a Raft log, so there is no log offset to report: the high
// watermark and the voter's log end offset are -1, Kafka's value for an unknown offset.
// The leader epoch is 0, as for every partition in Metadata. Fetch and caught-up times
// (v1+) are the time of the answer: the leader is always caught up with itself. v2 adds
// the voter's directory id (meta.properties' directory.id) and the node with the
// listener the request came through. A
// request for another topic or partition is INVALID_REQUEST, as Kafka answers (it has
// one quorum). Needs DESCRIBE on the cluster; without it CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.DescribeQuorum, min: 0, max: 2, handle: h((*Broker).handleDescribeQuorum), authz: hook(authzDescribeQuorum)})
}

// metadataTopic is the name of Kafka's metadata log topic.
const metadataTopic = "__cluster_metadata"

func (b *Broker) handleDescribeQuorum(ctx context.Context, req *kmsg.DescribeQuorumRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if len(req.Topics) != 1 || req.Topics[0].Topic != metadataTopic ||
		len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	now := time.Now().UnixMilli()
	voter := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	voter.ReplicaID = b.cfg.NodeID
	if id, err := uuid.Parse(b.directoryID); err == nil {
		voter.ReplicaDirectoryID = id
	}
	voter.LogEndOffset = -1
	voter.LastFetchTimestamp, voter.LastCaughtUpTimestamp = now, now

	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.Partition = 0
	p.LeaderID = b.cfg.NodeID
	p.LeaderEpoch = 0
	p.HighWatermark = -1
	p.CurrentVoters = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{voter}
	p.Observers = []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{}
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic = metadataTopic
	t.Partitions = []kmsg.DescribeQuorumResponseTopicPartition{p}
	resp.Topics = []kmsg.DescribeQuorumResponseTopic{t}

	if req.Version >= 2 {
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = b.cfg.NodeID
		nl := kmsg.NewDescribeQuorumResponseNodeListener()
		host, port := b.advertisedHostPort(ctx) // of the listener the request came through
		nl.Host, nl.Port = host, uint16(port)
		if l, ok := advertisedFor(ctx); ok {
			nl.Name = l.spec.name
		} else if len(b.listeners) > 0 {
			nl.Name = b.listeners[0].spec.name
		}
		n.Listeners = []kmsg.DescribeQuorumResponseNodeListener{nl}
		resp.Nodes = []kmsg.DescribeQuorumResponseNode{n}
	}
	return resp, nil
}

func authzDescribeQuorum(b *Broker, ctx context.Context, req *kmsg.DescribeQuorumRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	return resp, nil
}
