package broker

// OffsetDelete (key 47), versions from group.SupportedVersions(): an adapter onto the group
// coordinator. Needs DELETE on the group and READ on each topic.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(groupAPI(kmsg.OffsetDelete, h((*Broker).handleOffsetDelete), hook(authzOffsetDelete)))
}

func (b *Broker) handleOffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	return b.groups.OffsetDelete(ctx, req), nil
}

var authzOffsetDeleteGroup = groupGate(kmsg.ACLOperationDelete, func(r *kmsg.OffsetDeleteRequest) string { return r.Group },
	func(r kmsg.Response) { r.(*kmsg.OffsetDeleteResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code })

func authzOffsetDelete(b *Broker, ctx context.Context, req *kmsg.OffsetDeleteRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []kmsg.OffsetDeleteRequestTopic
	inner := func(r kmsg.Request) (kmsg.Response, error) {
		odr := r.(*kmsg.OffsetDeleteRequest)
		odr.Topics, denied = split(odr.Topics, func(t kmsg.OffsetDeleteRequestTopic) bool {
			return b.topicAllowed(ctx, kmsg.ACLOperationRead, t.Topic)
		})
		resp, err := next(odr)
		if err != nil || len(denied) == 0 {
			return resp, err
		}
		od := resp.(*kmsg.OffsetDeleteResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			od.Topics = append(od.Topics, rt)
		}
		return od, nil
	}
	return authzOffsetDeleteGroup(b, ctx, req, inner)
}
