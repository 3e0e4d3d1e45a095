package broker

// Metadata (key 3), versions 0-13.
//
// One broker (this node, at its advertised address), which is also the controller and
// the leader of every partition with leader epoch 0 and replicas = ISR = [node.id].
// Topics: v0 empty list or v1+ null list = all topics. Requested topics that do not exist
// are auto-created when auto.create.topics.enable is set and the request allows it
// (AllowAutoTopicCreation, v4+; always for v0-3); otherwise UNKNOWN_TOPIC_OR_PARTITION,
// or INVALID_TOPIC_EXCEPTION for an illegal name. v10+ may name topics by ID: an unknown
// ID is UNKNOWN_TOPIC_ID. Without an authorizer, authorized operations are left at
// Kafka's "not requested" sentinel; with one, authorizer.go filters undescribable topics,
// answers TOPIC_AUTHORIZATION_FAILED for named ones and fills the operations asked for.

import (
	"context"
	"errors"
	"net"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
)

func init() {
	register(apiEntry{key: kmsg.Metadata, min: 0, max: 13, handle: h((*Broker).handleMetadata), authz: hook(authzMetadata)})
}

func (b *Broker) handleMetadata(ctx context.Context, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := b.advertisedHostPort(ctx)
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID = b.cfg.NodeID
	br.Host = host
	br.Port = port
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	clusterID := b.clusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = b.cfg.NodeID
	if c := b.cluster(); c != nil {
		return b.clusterMetadata(ctx, c, req, resp) // clusterview.go
	}

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range b.allTopicsWithInternal() { // internaltopics.go
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
		return resp, nil
	}
	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			t := b.lookupTopicID(rt.TopicID)
			if t == nil {
				t = b.internalTopicByID(rt.TopicID)
			}
			if t == nil {
				mt.ErrorCode = errorCode(errUnknownTopicID)
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
			continue
		}
		name := *rt.Topic
		t := b.lookupTopic(name)
		if t == nil {
			t = b.internalTopic(name)
		}
		var err error
		if t == nil {
			if err = validateTopicName(name); err == nil {
				if autoCreate {
					t, err = b.maybeAutoCreate(ctx, name)
				} else {
					err = errUnknownTopic
				}
			}
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = errorCode(err)
			if errors.Is(err, errInvalidConfig) { // auto-create with broker defaults that are unusable
				mt.ErrorCode = errorCode(errUnknownTopic)
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
	return resp, nil
}

func (b *Broker) metadataTopic(t *Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	n := t.numPartitions()
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, n)
	for i := range n {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = i
		p.Leader = b.cfg.NodeID
		p.LeaderEpoch = 0
		p.Replicas = []int32{b.cfg.NodeID}
		p.ISR = []int32{b.cfg.NodeID}
		p.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, p)
	}
	return mt
}

// advertisedHostPort is the address clients are told to use: advertised.listeners, else
// listeners; port 0 means the bound port, and an empty or wildcard host means the address
// the client connected to.
func (b *Broker) advertisedHostPort(ctx context.Context) (string, int32) {
	spec := b.cfg.AdvertisedListeners
	if spec == "" {
		spec = b.cfg.Listeners
	}
	host, port, err := parseListener(spec)
	bound, _ := b.ln.Addr().(*net.TCPAddr)
	if err != nil {
		host, port = "", 0
	}
	if l, ok := advertisedFor(ctx); ok { // the listener the client came through (listeners.go)
		a := l.spec
		if l.advertised != nil {
			a = *l.advertised
		}
		host, port = a.host, a.port
		bound, _ = l.ln.Addr().(*net.TCPAddr)
	}
	if port == 0 && bound != nil {
		port = bound.Port
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = ""
		if ri, ok := requestInfoFrom(ctx); ok && ri.LocalHost != "" {
			host = ri.LocalHost
		} else if bound != nil && !bound.IP.IsUnspecified() {
			host = bound.IP.String()
		} else {
			host = "localhost"
		}
	}
	return host, int32(port)
}

func authzMetadata(b *Broker, ctx context.Context, req *kmsg.MetadataRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	var denied []kmsg.MetadataResponseTopic
	if !all {
		autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
		canCreateAll := b.clusterAllowed(ctx, kmsg.ACLOperationCreate)
		var keep []kmsg.MetadataRequestTopic
		for _, t := range req.Topics {
			name, ok := "", true
			if t.Topic != nil {
				name = *t.Topic
			} else {
				name, ok = b.topicNameOrID("", t.TopicID)
			}
			allowed := !ok || b.topicAllowed(ctx, kmsg.ACLOperationDescribe, name)
			if allowed && ok && t.Topic != nil && autoCreate && b.lookupTopic(name) == nil &&
				!canCreateAll && !b.topicAllowed(ctx, kmsg.ACLOperationCreate, name) {
				allowed = false
			}
			if allowed {
				keep = append(keep, t)
				continue
			}
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = t.Topic
			mt.TopicID = t.TopicID
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			denied = append(denied, mt)
		}
		if keep == nil {
			keep = []kmsg.MetadataRequestTopic{} // empty, not null (= all topics)
		}
		req.Topics = keep
	}
	r, err := next(req)
	if err != nil || r == nil {
		return r, err
	}
	resp := r.(*kmsg.MetadataResponse)
	if req.Version == 0 && len(req.Topics) == 0 && !all {
		resp.Topics = nil // v0: an empty list would have meant all topics
	} else if all {
		resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.MetadataResponseTopic) bool {
			return t.Topic != nil && !b.topicAllowed(ctx, kmsg.ACLOperationDescribe, *t.Topic)
		})
	}
	if req.IncludeTopicAuthorizedOperations {
		for i := range resp.Topics {
			if t := &resp.Topics[i]; t.ErrorCode == 0 && t.Topic != nil {
				t.AuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeTopic, *t.Topic, topicOps)
			}
		}
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeCluster, security.ClusterName, clusterOps)
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp, nil
}
