package broker

// DescribeTopicPartitions (key 75), version 0.
//
// Kafka's paginated topic description (KIP-966), which Admin.describeTopics and so
// kafka-topics --describe use when a broker offers it. Partitions are described as in
// Metadata (this node leads every one, epoch 0, replicas = ISR = [node.id]); eligible
// leader replicas and the last known ELR are empty lists: with one replica there are
// none. An empty topic list means every topic. Topics go in name order, from the cursor
// (topic and first partition) if one is given, and at most ResponsePartitionLimit
// partitions (capped at 2000, Kafka's default max.request.partition.size.limit) are
// described; NextCursor then names where to go on. A requested topic that does not exist
// is UNKNOWN_TOPIC_OR_PARTITION; a cursor topic that is not in a non-empty topic list or
// a negative cursor partition is INVALID_REQUEST on every topic. With an authorizer, a
// topic needs DESCRIBE: requested ones without it are TOPIC_AUTHORIZATION_FAILED, and
// listing all topics leaves them out (authorized here, not in authorizer.go).

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorized in the handler: DESCRIBE on each topic.
func init() {
	register(apiEntry{key: kmsg.DescribeTopicPartitions, min: 0, max: 0, handle: h((*Broker).handleDescribeTopicPartitions), authz: noHook})
}

// maxDescribePartitions is Kafka's default max.request.partition.size.limit.
const maxDescribePartitions = 2000

func (b *Broker) handleDescribeTopicPartitions(ctx context.Context, req *kmsg.DescribeTopicPartitionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	names := make([]string, 0, len(req.Topics))
	for _, t := range req.Topics {
		if !slices.Contains(names, t.Topic) {
			names = append(names, t.Topic)
		}
	}
	all := len(names) == 0
	cursorTopic, cursorPart := "", int32(0)
	if c := req.Cursor; c != nil {
		cursorTopic, cursorPart = c.Topic, c.Partition
		if (!all && !slices.Contains(names, cursorTopic)) || cursorPart < 0 {
			for _, n := range names {
				rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				rt.Topic, rt.ErrorCode = kmsg.StringPtr(n), kerr.InvalidRequest.Code
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
	}
	if all {
		for _, t := range b.allTopicsWithInternal() { // internaltopics.go
			if t.Name >= cursorTopic && b.topicAllowed(ctx, kmsg.ACLOperationDescribe, t.Name) {
				names = append(names, t.Name)
			}
		}
	}
	slices.Sort(names)
	limit := int32(maxDescribePartitions)
	if req.ResponsePartitionLimit > 0 && req.ResponsePartitionLimit < limit {
		limit = req.ResponsePartitionLimit
	}
	for i, name := range names {
		if strings.Compare(name, cursorTopic) < 0 {
			continue
		}
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic = kmsg.StringPtr(name)
		if !b.topicAllowed(ctx, kmsg.ACLOperationDescribe, name) {
			rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		t := b.lookupTopic(name)
		if t == nil {
			t = b.internalTopic(name)
		}
		if t == nil {
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, rt)
			continue
		}
		rt.TopicID = t.ID
		rt.IsInternal = isInternalTopic(name)
		if b.authz != nil {
			rt.AuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeTopic, name, topicOps)
		}
		start := int32(0)
		if name == cursorTopic {
			start = cursorPart
		}
		n := t.numPartitions()
		rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
		for p := start; p < n; p++ {
			if limit == 0 {
				next := kmsg.NewDescribeTopicPartitionsResponseNextCursor()
				next.Topic, next.Partition = name, p
				resp.NextCursor = &next
				break
			}
			rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			rp.Partition = p
			rp.LeaderID = b.cfg.NodeID
			rp.Replicas = []int32{b.cfg.NodeID}
			rp.ISR = []int32{b.cfg.NodeID}
			rp.EligibleLeaderReplicas = []int32{}
			rp.LastKnownELR = []int32{}
			rp.OfflineReplicas = []int32{}
			rt.Partitions = append(rt.Partitions, rp)
			limit--
		}
		resp.Topics = append(resp.Topics, rt)
		if resp.NextCursor != nil {
			break
		}
		if limit == 0 && i+1 < len(names) {
			next := kmsg.NewDescribeTopicPartitionsResponseNextCursor()
			next.Topic, next.Partition = names[i+1], 0
			resp.NextCursor = &next
			break
		}
	}
	return resp, nil
}
