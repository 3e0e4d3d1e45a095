package broker

// CreatePartitions (key 37), versions 0-3.
//
// Grows a topic to Count partitions. Count below the current number is INVALID_PARTITIONS,
// as is an unchanged count. A manual assignment must have one entry per new partition,
// each [node.id] (else INVALID_REPLICA_ASSIGNMENT). A topic named twice is INVALID_REQUEST.
// ValidateOnly checks and changes nothing.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.CreatePartitions, min: 0, max: 3, handle: h((*Broker).handleCreatePartitions), authz: hook(authzCreatePartitions)})
}

func (b *Broker) handleCreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		err := func() error {
			if seen[rt.Topic] > 1 {
				return fmt.Errorf("%w: topic %q appears more than once in the request", errInvalidRequest, rt.Topic)
			}
			if c := b.cluster(); c != nil {
				return b.clusterCreatePartitions(ctx, c, rt, req.ValidateOnly) // clusterview.go
			}
			t := b.lookupTopic(rt.Topic)
			if t == nil {
				return errUnknownTopic
			}
			if cur := t.numPartitions(); rt.Count <= cur {
				return b.createPartitions(t, rt.Count, true) // the count error, as Kafka checks it first
			}
			if rt.Assignment != nil {
				if n := rt.Count - t.numPartitions(); int32(len(rt.Assignment)) != n {
					return fmt.Errorf("%w: %d assignments for %d new partitions", kerr.InvalidReplicaAssignment, len(rt.Assignment), max(n, 0))
				}
				for _, a := range rt.Assignment {
					if len(a.Replicas) != 1 || a.Replicas[0] != b.cfg.NodeID {
						return fmt.Errorf("%w: replicas %v; this single-node cluster has only broker %d", kerr.InvalidReplicaAssignment, a.Replicas, b.cfg.NodeID)
					}
				}
			}
			return b.createPartitions(t, rt.Count, req.ValidateOnly)
		}()
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func authzCreatePartitions(b *Broker, ctx context.Context, req *kmsg.CreatePartitionsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.CreatePartitionsRequestTopic) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationAlter, t.Topic)
	})
	req.Topics = keep
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.CreatePartitionsResponse)
	for _, t := range denied {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
