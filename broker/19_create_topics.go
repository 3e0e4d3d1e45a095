package broker

// CreateTopics (key 19), versions 0-7.
//
// Single node: replication factor -1 or 1 (else INVALID_REPLICATION_FACTOR); a manual
// replica assignment must put every partition on this node alone (else
// INVALID_REPLICA_ASSIGNMENT) and excludes NumPartitions/ReplicationFactor (INVALID_REQUEST).
// NumPartitions -1 means num.partitions. Configs are validated by name and type
// (INVALID_CONFIG). A name appearing twice in one request is INVALID_REQUEST for each
// occurrence. ValidateOnly (v1+) checks everything and creates nothing. The timeout is
// ignored: creation is synchronous. v5+ responses carry the partition count, replication
// factor and the resulting configs; v7+ the topic ID.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.CreateTopics, min: 0, max: 7, handle: h((*Broker).handleCreateTopics), authz: hook(authzCreateTopics)})
}

func (b *Broker) handleCreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	if c := b.cluster(); c != nil {
		return b.clusterCreateTopics(ctx, c, req, resp) // clusterview.go
	}
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			err := fmt.Errorf("%w: topic %q appears more than once in the request", errInvalidRequest, rt.Topic)
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t, np, configs, err := b.createTopicFromRequest(rt, req.ValidateOnly)
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.NumPartitions, st.ReplicationFactor = np, 1
		if t != nil {
			st.TopicID = t.ID
		}
		if req.Version >= 5 {
			for _, e := range topicConfigEntries(&b.cfg, configs, false) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name = e.name
				c.Value = e.valuePtr()
				c.ReadOnly = e.readOnly
				c.Source = int8(e.source)
				c.IsSensitive = e.sensitive
				st.Configs = append(st.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createTopicFromRequest validates one topic of a CreateTopics request and creates it.
func (b *Broker) createTopicFromRequest(rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (*Topic, int32, map[string]string, error) {
	if err := validateTopicName(rt.Topic); err != nil {
		return nil, 0, nil, err
	}
	np := rt.NumPartitions
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return nil, 0, nil, fmt.Errorf("%w: both numPartitions or replicationFactor and replicasAssignments were set; only one may be", errInvalidRequest)
		}
		got := make(map[int32]bool, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
				return nil, 0, nil, fmt.Errorf("%w: partition %d: replicas %v; this single-node cluster has only broker %d", kerr.InvalidReplicaAssignment, a.Partition, a.Replicas, b.cfg.NodeID)
			}
			got[a.Partition] = true
		}
		np = int32(len(rt.ReplicaAssignment))
		for i := range np {
			if !got[i] {
				return nil, 0, nil, fmt.Errorf("%w: partitions must be numbered 0 to %d consecutively", kerr.InvalidReplicaAssignment, np-1)
			}
		}
	} else {
		if np == -1 {
			np = b.cfg.NumPartitions
		}
		if np < 1 {
			return nil, 0, nil, fmt.Errorf("%w: number of partitions must be larger than 0, or -1 for the default", errInvalidPartitions)
		}
		switch rf := rt.ReplicationFactor; {
		case rf == -1 || rf == 1:
		case rf < 1:
			return nil, 0, nil, fmt.Errorf("%w: replication factor must be larger than 0, or -1 for the default", errInvalidReplFactor)
		default:
			return nil, 0, nil, fmt.Errorf("%w: Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only 1 broker(s) are registered.", errInvalidReplFactor, rf, rf)
		}
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value == nil {
			return nil, 0, nil, fmt.Errorf("%w: null value not supported for topic config %s", errInvalidConfig, c.Name)
		}
		configs[c.Name] = normalizeTopicConfig(*c.Value)
	}
	t, err := b.createTopic(rt.Topic, np, configs, validateOnly)
	return t, np, configs, err
}

func authzCreateTopics(b *Broker, ctx context.Context, req *kmsg.CreateTopicsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationCreate) {
		return next(req)
	}
	keep, denied := split(req.Topics, func(t kmsg.CreateTopicsRequestTopic) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationCreate, t.Topic)
	})
	req.Topics = keep
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.CreateTopicsResponse)
	for _, t := range denied {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
