package broker

// OffsetForLeaderEpoch (API key 23), versions 0-4.
//
// Strata is a single node whose leader epoch is always 0, so the epoch history has one
// entry: epoch 0 starting at the log start. Following Kafka's LeaderEpochFileCache:
//   - requested epoch 0 (the latest): EndOffset = log end offset, LeaderEpoch 0;
//   - requested epoch above the latest or negative: UNDEFINED_EPOCH (-1) and
//     UNDEFINED_EPOCH_OFFSET (-1), no error;
//   - CurrentLeaderEpoch (v2+) above 0 is UNKNOWN_LEADER_EPOCH (the client knows a newer
//     leader than we are); -1 means "not given".
// Unknown topics and partitions are UNKNOWN_TOPIC_OR_PARTITION.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

func init() {
	register(apiEntry{key: kmsg.OffsetForLeaderEpoch, min: 0, max: 4, handle: h((*Broker).handleOffsetForLeaderEpoch), authz: hook(authzOffsetForLeaderEpoch)})
}

const (
	offsetForLeaderEpochMinVersion = 0
	offsetForLeaderEpochMaxVersion = 4
)

func (b *Broker) handleOffsetForLeaderEpoch(ctx context.Context, req *kmsg.OffsetForLeaderEpochRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		st.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			var p *partition.Partition
			if t != nil {
				p = topicPartition(t, rp.Partition)
			}
			cur := rp.CurrentLeaderEpoch
			if req.Version < 2 {
				cur = -1
			}
			lerr := b.leaderCheck(rt.Topic, rp.Partition, cur) // clusterview.go
			switch {
			case p == nil:
				sp.ErrorCode = errUnknownTopic.Code
			case lerr != nil:
				sp.ErrorCode = errorCode(lerr)
			case rp.LeaderEpoch == 0:
				sp.LeaderEpoch, sp.EndOffset = 0, p.HighWatermark()
			}
		}
	}
	return resp, nil
}

func authzOffsetForLeaderEpoch(b *Broker, ctx context.Context, req *kmsg.OffsetForLeaderEpochRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationDescribe, t.Topic)
	})
	req.Topics = keep
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range denied {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LeaderEpoch, rp.EndOffset = -1, -1
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
