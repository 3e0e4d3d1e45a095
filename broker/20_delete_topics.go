package broker

// DeleteTopics (key 20), versions 0-6.
//
// v0-5 name topics; v6 names them or gives their IDs (exactly one of the two, else
// INVALID_REQUEST). Unknown names are UNKNOWN_TOPIC_OR_PARTITION, unknown IDs
// UNKNOWN_TOPIC_ID. Deletion is synchronous: the registry is rewritten first, then the
// partition directories are removed, so a restart never resurrects a deleted topic.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.DeleteTopics, min: 0, max: 6, handle: h((*Broker).handleDeleteTopics), authz: hook(authzDeleteTopics)})
}

func (b *Broker) handleDeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	topics := req.Topics
	if req.Version < 6 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, 0, len(req.TopicNames))
		for _, n := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(n)
			topics = append(topics, rt)
		}
	}
	for _, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		if c := b.cluster(); c != nil {
			err := b.clusterDeleteTopic(ctx, c, &st) // clusterview.go
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		var (
			t   *Topic
			err error
		)
		switch {
		case rt.Topic != nil && rt.TopicID != [16]byte{}:
			err = fmt.Errorf("%w: give a topic name or a topic ID, not both", errInvalidRequest)
		case rt.Topic != nil:
			if t = b.lookupTopic(*rt.Topic); t == nil {
				err = errUnknownTopic
			}
		case rt.TopicID != [16]byte{}:
			if t = b.lookupTopicID(rt.TopicID); t == nil {
				err = errUnknownTopicID
			} else {
				st.Topic = kmsg.StringPtr(t.Name)
			}
		default:
			err = fmt.Errorf("%w: neither topic name nor topic ID given", errInvalidRequest)
		}
		if err == nil {
			st.TopicID = t.ID
			err = b.deleteTopic(t)
		}
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func authzDeleteTopics(b *Broker, ctx context.Context, req *kmsg.DeleteTopicsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var deniedNames []string
	var deniedTopics []kmsg.DeleteTopicsRequestTopic
	req.TopicNames, deniedNames = split(req.TopicNames, func(n string) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationDelete, n)
	})
	req.Topics, deniedTopics = split(req.Topics, func(t kmsg.DeleteTopicsRequestTopic) bool {
		name, ok := "", true
		if t.Topic != nil {
			name = *t.Topic
		} else {
			name, ok = b.topicNameOrID("", t.TopicID)
		}
		return !ok || b.topicAllowed(ctx, kmsg.ACLOperationDelete, name)
	})
	if req.TopicNames == nil {
		req.TopicNames = []string{}
	}
	r, err := next(req)
	if err != nil || (len(deniedNames) == 0 && len(deniedTopics) == 0) {
		return r, err
	}
	resp := r.(*kmsg.DeleteTopicsResponse)
	for _, n := range deniedNames {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic = kmsg.StringPtr(n)
		rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		resp.Topics = append(resp.Topics, rt)
	}
	for _, t := range deniedTopics {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		rt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
