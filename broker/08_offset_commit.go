package broker

// OffsetCommit (key 8), versions from group.SupportedVersions() and v10 (topic ids,
// offsets_topicids.go): an adapter onto the group coordinator (broker/group). Needs READ on the group and READ on each topic (denied
// topics answer TOPIC_AUTHORIZATION_FAILED per partition).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	e := groupAPI(kmsg.OffsetCommit, h((*Broker).handleOffsetCommit), hook(authzOffsetCommit))
	e.max = max(e.max, offsetsByIDVersion)
	register(e)
}

func (b *Broker) handleOffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) (kmsg.Response, error) {
	if req.Version >= offsetsByIDVersion {
		return b.offsetCommitByID(ctx, req), nil
	}
	return b.groups.OffsetCommit(ctx, req), nil
}

func authzOffsetCommit(b *Broker, ctx context.Context, req *kmsg.OffsetCommitRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	groupOK := b.groupAllowed(ctx, kmsg.ACLOperationRead, req.Group)
	keep, denied := split(req.Topics, func(t kmsg.OffsetCommitRequestTopic) bool {
		name, ok := b.topicNameOrID(t.Topic, t.TopicID)
		return groupOK && (!ok || b.topicAllowed(ctx, kmsg.ACLOperationRead, name))
	})
	var resp *kmsg.OffsetCommitResponse
	if groupOK {
		req.Topics = keep
		r, err := next(req)
		if err != nil || len(denied) == 0 {
			return r, err
		}
		resp = r.(*kmsg.OffsetCommitResponse)
	} else {
		resp = req.ResponseKind().(*kmsg.OffsetCommitResponse)
	}
	code := kerr.TopicAuthorizationFailed.Code
	if !groupOK {
		code = kerr.GroupAuthorizationFailed.Code
	}
	for _, t := range denied {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
