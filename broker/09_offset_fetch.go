package broker

// OffsetFetch (key 9), versions from group.SupportedVersions() and v10 (topic ids,
// offsets_topicids.go): an adapter onto the group coordinator. Needs DESCRIBE on the group; topics the principal may not describe are left out.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	e := groupAPI(kmsg.OffsetFetch, h((*Broker).handleOffsetFetch), hook(authzOffsetFetch))
	e.max = max(e.max, offsetsByIDVersion)
	register(e)
}

func (b *Broker) handleOffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) (kmsg.Response, error) {
	if req.Version >= offsetsByIDVersion {
		return b.offsetFetchByID(ctx, req), nil // marks unstable offsets itself
	}
	resp := b.groups.OffsetFetch(ctx, req)
	if req.RequireStable {
		b.markUnstableOffsets(req, resp) // offset_fetch_txn.go
	}
	return resp, nil
}

func authzOffsetFetch(b *Broker, ctx context.Context, req *kmsg.OffsetFetchRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if req.Version < 8 {
		if !b.groupAllowed(ctx, kmsg.ACLOperationDescribe, req.Group) {
			resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return resp, nil
		}
		r, err := next(req)
		if err != nil {
			return r, err
		}
		resp := r.(*kmsg.OffsetFetchResponse)
		if req.Topics == nil {
			resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.OffsetFetchResponseTopic) bool {
				return !b.topicAllowed(ctx, kmsg.ACLOperationDescribe, t.Topic)
			})
			return resp, nil
		}
		for i := range resp.Topics {
			t := &resp.Topics[i]
			if !b.topicAllowed(ctx, kmsg.ACLOperationDescribe, t.Topic) {
				for j := range t.Partitions {
					p := &t.Partitions[j]
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, nil, kerr.TopicAuthorizationFailed.Code
				}
			}
		}
		return resp, nil
	}
	var deniedGroups []string
	req.Groups, _ = split(req.Groups, func(g kmsg.OffsetFetchRequestGroup) bool {
		ok := b.groupAllowed(ctx, kmsg.ACLOperationDescribe, g.Group)
		if !ok {
			deniedGroups = append(deniedGroups, g.Group)
		}
		return ok
	})
	allTopics := map[string]bool{}
	for _, g := range req.Groups {
		allTopics[g.Group] = g.Topics == nil
	}
	var resp *kmsg.OffsetFetchResponse
	if len(req.Groups) > 0 {
		r, err := next(req)
		if err != nil {
			return r, err
		}
		resp = r.(*kmsg.OffsetFetchResponse)
	} else {
		resp = req.ResponseKind().(*kmsg.OffsetFetchResponse)
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		allowed := func(t kmsg.OffsetFetchResponseGroupTopic) bool {
			name, ok := b.topicNameOrID(t.Topic, t.TopicID)
			return !ok || b.topicAllowed(ctx, kmsg.ACLOperationDescribe, name)
		}
		if allTopics[g.Group] {
			g.Topics = slices.DeleteFunc(g.Topics, func(t kmsg.OffsetFetchResponseGroupTopic) bool { return !allowed(t) })
			continue
		}
		for ti := range g.Topics {
			if t := &g.Topics[ti]; !allowed(*t) {
				for j := range t.Partitions {
					p := &t.Partitions[j]
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, nil, kerr.TopicAuthorizationFailed.Code
				}
			}
		}
	}
	for _, name := range deniedGroups {
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group = name
		g.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
