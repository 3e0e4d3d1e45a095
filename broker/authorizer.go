package broker

// Authorization of every API (see acl.go for the decision rules).
//
// dispatch calls handleAuthorized, which, when authorizer.class.name is set, runs the
// API's hook from authzHooks: the hook removes from the request what the principal may
// not touch, runs the handler on the rest, and adds the denied entries to the response
// with Kafka's error code (TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED,
// CLUSTER_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED). So handlers stay
// free of authorization code, and a denied topic is never created, read or written. An
// API without a hook needs CLUSTER_ACTION on the cluster (only super users in practice):
// a new API fails closed until it gets a hook. Operations per API follow Kafka's
// KafkaApis:
//
//   Produce            WRITE topic; WRITE transactional id when set
//   Fetch              READ topic
//   ListOffsets, OffsetForLeaderEpoch   DESCRIBE topic
//   Metadata           DESCRIBE topic (undescribable topics are left out of an all-topics
//                      answer and TOPIC_AUTHORIZATION_FAILED when named); auto-creation
//                      needs CREATE on the cluster or the topic
//   CreateTopics       CREATE on the cluster or the topic
//   DeleteTopics, DeleteRecords         DELETE topic
//   CreatePartitions   ALTER topic
//   DescribeConfigs    DESCRIBE_CONFIGS topic / cluster (broker resources)
//   AlterConfigs, IncrementalAlterConfigs   ALTER_CONFIGS topic / cluster
//   DescribeCluster, DescribeLogDirs    DESCRIBE cluster
//   OffsetCommit       READ group, READ topic
//   OffsetFetch        DESCRIBE group, DESCRIBE topic (undescribable topics dropped)
//   OffsetDelete       DELETE group, READ topic
//   FindCoordinator    DESCRIBE group / transactional id
//   Join/Sync/Heartbeat/LeaveGroup      READ group
//   DescribeGroups     DESCRIBE group;  DeleteGroups  DELETE group
//   ListGroups         DESCRIBE cluster, else only the groups the principal may describe
//   InitProducerId     WRITE transactional id; without one IDEMPOTENT_WRITE on the
//                      cluster or WRITE on any topic
//   DescribeAcls, DescribeUserScramCredentials  DESCRIBE cluster
//   CreateAcls, DeleteAcls, AlterUserScramCredentials  ALTER cluster

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorize reports whether the request's principal may perform op on the resource.
// Without an authorizer everything is allowed.
func (b *Broker) authorize(ctx context.Context, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if b.authz == nil {
		return true
	}
	host := ""
	if ri, ok := requestInfoFrom(ctx); ok {
		host = ri.ClientHost
	}
	ok := b.authz.Authorize(principalFrom(ctx), host, op, rt, name)
	if !ok {
		b.secm.deny(rt, op)
	}
	return ok
}

func (b *Broker) authorizeAny(ctx context.Context, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if b.authz == nil {
		return true
	}
	host := ""
	if ri, ok := requestInfoFrom(ctx); ok {
		host = ri.ClientHost
	}
	return b.authz.AuthorizeAny(principalFrom(ctx), host, op, rt)
}

func (b *Broker) topicAllowed(ctx context.Context, op kmsg.ACLOperation, name string) bool {
	return b.authorize(ctx, op, kmsg.ACLResourceTypeTopic, name)
}

func (b *Broker) groupAllowed(ctx context.Context, op kmsg.ACLOperation, name string) bool {
	return b.authorize(ctx, op, kmsg.ACLResourceTypeGroup, name)
}

func (b *Broker) clusterAllowed(ctx context.Context, op kmsg.ACLOperation) bool {
	return b.authorize(ctx, op, kmsg.ACLResourceTypeCluster, clusterName)
}

// topicNameOrID resolves a topic named by name (older versions) or ID. ok is false for an
// unknown ID, which the handler answers with UNKNOWN_TOPIC_ID without revealing anything.
func (b *Broker) topicNameOrID(name string, id [16]byte) (string, bool) {
	if id != ([16]byte{}) {
		t := b.lookupTopicID(id)
		if t == nil {
			return "", false
		}
		return t.Name, true
	}
	return name, true
}

// split keeps the items allowed returns true for; the others are returned apart.
func split[T any](items []T, allowed func(T) bool) (keep, denied []T) {
	for _, it := range items {
		if allowed(it) {
			keep = append(keep, it)
		} else {
			denied = append(denied, it)
		}
	}
	return keep, denied
}

type authzHook func(b *Broker, ctx context.Context, req kmsg.Request, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error)

// hook adapts a typed hook.
func hook[R kmsg.Request](f func(*Broker, context.Context, R, func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error)) authzHook {
	return func(b *Broker, ctx context.Context, req kmsg.Request, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
		r, ok := req.(R)
		if !ok {
			return next(req)
		}
		return f(b, ctx, r, next)
	}
}

// noHook marks APIs that need no authorization (or authorize inside their handler).
var noHook authzHook = func(_ *Broker, _ context.Context, req kmsg.Request, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	return next(req)
}

var authzHooks map[kmsg.Key]authzHook

func init() {
	authzHooks = map[kmsg.Key]authzHook{
		kmsg.ApiVersions:                  noHook,
		kmsg.SASLHandshake:                noHook,
		kmsg.SASLAuthenticate:             noHook,
		kmsg.DescribeACLs:                 noHook, // authorized in the handler
		kmsg.CreateACLs:                   noHook,
		kmsg.DeleteACLs:                   noHook,
		kmsg.DescribeUserSCRAMCredentials: noHook,
		kmsg.AlterUserSCRAMCredentials:    noHook,
		kmsg.DescribeClientQuotas:         noHook, // authorized in the handler
		kmsg.DescribeTopicPartitions:      noHook,
		kmsg.Produce:                      hook(authzProduce),
		kmsg.Fetch:                        hook(authzFetch),
		kmsg.ListOffsets:                  hook(authzListOffsets),
		kmsg.Metadata:                     hook(authzMetadata),
		kmsg.CreateTopics:                 hook(authzCreateTopics),
		kmsg.DeleteTopics:                 hook(authzDeleteTopics),
		kmsg.DeleteRecords:                hook(authzDeleteRecords),
		kmsg.OffsetForLeaderEpoch:         hook(authzOffsetForLeaderEpoch),
		kmsg.DescribeConfigs:              hook(authzDescribeConfigs),
		kmsg.AlterConfigs:                 hook(authzAlterConfigs),
		kmsg.IncrementalAlterConfigs:      hook(authzIncrementalAlterConfigs),
		kmsg.DescribeLogDirs:              hook(authzDescribeLogDirs),
		kmsg.CreatePartitions:             hook(authzCreatePartitions),
		kmsg.DescribeCluster:              hook(authzDescribeCluster),
		kmsg.OffsetCommit:                 hook(authzOffsetCommit),
		kmsg.OffsetFetch:                  hook(authzOffsetFetch),
		kmsg.FindCoordinator:              hook(authzFindCoordinator),
		kmsg.JoinGroup:                    hook(authzJoinGroup),
		kmsg.Heartbeat:                    hook(authzHeartbeat),
		kmsg.LeaveGroup:                   hook(authzLeaveGroup),
		kmsg.SyncGroup:                    hook(authzSyncGroup),
		kmsg.DescribeGroups:               hook(authzDescribeGroups),
		kmsg.ListGroups:                   hook(authzListGroups),
		kmsg.DeleteGroups:                 hook(authzDeleteGroups),
		kmsg.OffsetDelete:                 hook(authzOffsetDelete),
		kmsg.InitProducerID:               hook(authzInitProducerID),
	}
}

// handleAuthorized runs api's handler for req behind its authorization hook.
func (b *Broker) handleAuthorized(ctx context.Context, api *apiEntry, req kmsg.Request) (kmsg.Response, error) {
	next := func(r kmsg.Request) (kmsg.Response, error) { return api.handle(b, ctx, r) }
	if b.authz == nil {
		return next(req)
	}
	hk, ok := authzHooks[api.key]
	if !ok {
		if !b.clusterAllowed(ctx, kmsg.ACLOperationClusterAction) {
			b.logger.Debug("api without authorization hook denied", "api", api.key.Name(), "principal", principalFrom(ctx))
			return nil, errProtocol
		}
		return next(req)
	}
	return hk(b, ctx, req, next)
}

func authzProduce(b *Broker, ctx context.Context, req *kmsg.ProduceRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	txnDenied := req.TransactionID != nil && !b.authorize(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID)
	keep, denied := split(req.Topics, func(t kmsg.ProduceRequestTopic) bool {
		name, ok := b.topicNameOrID(t.Topic, t.TopicID)
		return !txnDenied && (!ok || b.topicAllowed(ctx, kmsg.ACLOperationWrite, name))
	})
	if len(denied) == 0 {
		return next(req)
	}
	code := kerr.TopicAuthorizationFailed.Code
	if txnDenied {
		code = kerr.TransactionalIDAuthorizationFailed.Code
	}
	var resp *kmsg.ProduceResponse
	if len(keep) > 0 {
		req.Topics = keep
		r, err := next(req)
		if err != nil {
			return r, err
		}
		if r == nil { // acks=0
			// Kafka closes an acks=0 connection whose produce failed: the client has
			// no other way to learn of it.
			return nil, fmt.Errorf("%w: acks=0 produce to unauthorized topics", errProtocol)
		}
		resp = r.(*kmsg.ProduceResponse)
	} else if req.Acks == 0 {
		return nil, fmt.Errorf("%w: acks=0 produce to unauthorized topics", errProtocol)
	} else {
		resp = req.ResponseKind().(*kmsg.ProduceResponse)
	}
	for _, t := range denied {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func authzFetch(b *Broker, ctx context.Context, req *kmsg.FetchRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.FetchRequestTopic) bool {
		name, ok := b.topicNameOrID(t.Topic, t.TopicID)
		return !ok || b.topicAllowed(ctx, kmsg.ACLOperationRead, name)
	})
	if len(denied) == 0 {
		return next(req)
	}
	req.Topics = keep
	r, err := next(req)
	if err != nil || r == nil {
		return r, err
	}
	// A response that writes itself (zero-copy) must be a *kmsg.FetchResponse underneath
	// for denied topics to be reported; anything else is a bug caught by the e2e tests.
	resp, ok := r.(*kmsg.FetchResponse)
	if !ok || resp.ErrorCode != 0 {
		return r, nil
	}
	for _, t := range denied {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func authzListOffsets(b *Broker, ctx context.Context, req *kmsg.ListOffsetsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.ListOffsetsRequestTopic) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationDescribe, t.Topic)
	})
	req.Topics = keep
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.ListOffsetsResponse)
	for _, t := range denied {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
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
		resp.AuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeCluster, clusterName, clusterOps)
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp, nil
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

func authzDeleteRecords(b *Broker, ctx context.Context, req *kmsg.DeleteRecordsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.DeleteRecordsRequestTopic) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationDelete, t.Topic)
	})
	req.Topics = keep
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.DeleteRecordsResponse)
	for _, t := range denied {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LowWatermark = -1
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
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

// configResourceAllowed checks op on a config resource (topic or broker = cluster);
// it returns the error code for a denial.
func (b *Broker) configResourceAllowed(ctx context.Context, op kmsg.ACLOperation, rt kmsg.ConfigResourceType, name string) (bool, int16) {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		return b.topicAllowed(ctx, op, name), kerr.TopicAuthorizationFailed.Code
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		return b.clusterAllowed(ctx, op), kerr.ClusterAuthorizationFailed.Code
	}
	return true, 0 // other types: the handler rejects them
}

func authzDescribeConfigs(b *Broker, ctx context.Context, req *kmsg.DescribeConfigsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []kmsg.DescribeConfigsResponseResource
	req.Resources, _ = split(req.Resources, func(rr kmsg.DescribeConfigsRequestResource) bool {
		ok, code := b.configResourceAllowed(ctx, kmsg.ACLOperationDescribeConfigs, rr.ResourceType, rr.ResourceName)
		if !ok {
			sr := kmsg.NewDescribeConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			denied = append(denied, sr)
		}
		return ok
	})
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.DescribeConfigsResponse)
	resp.Resources = append(resp.Resources, denied...)
	return resp, nil
}

func authzAlterConfigs(b *Broker, ctx context.Context, req *kmsg.AlterConfigsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []kmsg.AlterConfigsResponseResource
	req.Resources, _ = split(req.Resources, func(rr kmsg.AlterConfigsRequestResource) bool {
		ok, code := b.configResourceAllowed(ctx, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName)
		if !ok {
			sr := kmsg.NewAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			denied = append(denied, sr)
		}
		return ok
	})
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.AlterConfigsResponse)
	resp.Resources = append(resp.Resources, denied...)
	return resp, nil
}

func authzIncrementalAlterConfigs(b *Broker, ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []kmsg.IncrementalAlterConfigsResponseResource
	req.Resources, _ = split(req.Resources, func(rr kmsg.IncrementalAlterConfigsRequestResource) bool {
		ok, code := b.configResourceAllowed(ctx, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName)
		if !ok {
			sr := kmsg.NewIncrementalAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			denied = append(denied, sr)
		}
		return ok
	})
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.IncrementalAlterConfigsResponse)
	resp.Resources = append(resp.Resources, denied...)
	return resp, nil
}

func authzDescribeLogDirs(b *Broker, ctx context.Context, req *kmsg.DescribeLogDirsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if req.Version >= 3 {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}
	return resp, nil // before v3 Kafka answers an empty list
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

func authzDescribeCluster(b *Broker, ctx context.Context, req *kmsg.DescribeClusterRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		r, err := next(req)
		if err == nil && req.IncludeClusterAuthorizedOperations {
			if dc, ok := r.(*kmsg.DescribeClusterResponse); ok && dc.ErrorCode == 0 {
				dc.ClusterAuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeCluster, clusterName, clusterOps)
			}
		}
		return r, err
	}
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	return resp, nil
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

func authzFindCoordinator(b *Broker, ctx context.Context, req *kmsg.FindCoordinatorRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	rt, code := kmsg.ACLResourceTypeGroup, kerr.GroupAuthorizationFailed.Code
	if req.CoordinatorType == 1 {
		rt, code = kmsg.ACLResourceTypeTransactionalId, kerr.TransactionalIDAuthorizationFailed.Code
	}
	if req.Version < 4 {
		if b.authorize(ctx, kmsg.ACLOperationDescribe, rt, req.CoordinatorKey) {
			return next(req)
		}
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode, resp.NodeID = code, -1
		return resp, nil
	}
	var denied []string
	req.CoordinatorKeys, denied = split(req.CoordinatorKeys, func(k string) bool {
		return b.authorize(ctx, kmsg.ACLOperationDescribe, rt, k)
	})
	var resp *kmsg.FindCoordinatorResponse
	if len(req.CoordinatorKeys) > 0 {
		r, err := next(req)
		if err != nil || len(denied) == 0 {
			return r, err
		}
		resp = r.(*kmsg.FindCoordinatorResponse)
	} else {
		resp = req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	}
	for _, k := range denied {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port, c.ErrorCode = k, -1, -1, code
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}

// groupGate answers a single-group API with GROUP_AUTHORIZATION_FAILED unless op is
// allowed on group; set writes the code into the API's response.
func groupGate[R kmsg.Request](op kmsg.ACLOperation, group func(R) string, set func(kmsg.Response)) func(*Broker, context.Context, R, func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	return func(b *Broker, ctx context.Context, req R, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
		if b.groupAllowed(ctx, op, group(req)) {
			return next(req)
		}
		resp := req.ResponseKind()
		set(resp)
		return resp, nil
	}
}

var (
	authzJoinGroup = groupGate(kmsg.ACLOperationRead, func(r *kmsg.JoinGroupRequest) string { return r.Group },
		func(r kmsg.Response) {
			jr := r.(*kmsg.JoinGroupResponse)
			jr.ErrorCode, jr.Generation = kerr.GroupAuthorizationFailed.Code, -1
		})
	authzHeartbeat = groupGate(kmsg.ACLOperationRead, func(r *kmsg.HeartbeatRequest) string { return r.Group },
		func(r kmsg.Response) { r.(*kmsg.HeartbeatResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code })
	authzLeaveGroup = groupGate(kmsg.ACLOperationRead, func(r *kmsg.LeaveGroupRequest) string { return r.Group },
		func(r kmsg.Response) { r.(*kmsg.LeaveGroupResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code })
	authzSyncGroup = groupGate(kmsg.ACLOperationRead, func(r *kmsg.SyncGroupRequest) string { return r.Group },
		func(r kmsg.Response) { r.(*kmsg.SyncGroupResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code })
	authzOffsetDeleteGroup = groupGate(kmsg.ACLOperationDelete, func(r *kmsg.OffsetDeleteRequest) string { return r.Group },
		func(r kmsg.Response) { r.(*kmsg.OffsetDeleteResponse).ErrorCode = kerr.GroupAuthorizationFailed.Code })
)

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

func authzDescribeGroups(b *Broker, ctx context.Context, req *kmsg.DescribeGroupsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []string
	req.Groups, denied = split(req.Groups, func(g string) bool { return b.groupAllowed(ctx, kmsg.ACLOperationDescribe, g) })
	var resp *kmsg.DescribeGroupsResponse
	if len(req.Groups) > 0 {
		r, err := next(req)
		if err != nil {
			return r, err
		}
		resp = r.(*kmsg.DescribeGroupsResponse)
		if req.IncludeAuthorizedOperations {
			for i := range resp.Groups {
				if g := &resp.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = b.authorizedOps(ctx, kmsg.ACLResourceTypeGroup, g.Group, groupOps)
				}
			}
		}
	} else {
		resp = req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	}
	for _, g := range denied {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = g
		rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

func authzListGroups(b *Broker, ctx context.Context, req *kmsg.ListGroupsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	r, err := next(req)
	if err != nil || b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		return r, err
	}
	resp := r.(*kmsg.ListGroupsResponse)
	resp.Groups = slices.DeleteFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool {
		return !b.groupAllowed(ctx, kmsg.ACLOperationDescribe, g.Group)
	})
	return resp, nil
}

func authzDeleteGroups(b *Broker, ctx context.Context, req *kmsg.DeleteGroupsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []string
	req.Groups, denied = split(req.Groups, func(g string) bool { return b.groupAllowed(ctx, kmsg.ACLOperationDelete, g) })
	var resp *kmsg.DeleteGroupsResponse
	if len(req.Groups) > 0 {
		r, err := next(req)
		if err != nil || len(denied) == 0 {
			return r, err
		}
		resp = r.(*kmsg.DeleteGroupsResponse)
	} else {
		resp = req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	}
	for _, g := range denied {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = g
		rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

func authzInitProducerID(b *Broker, ctx context.Context, req *kmsg.InitProducerIDRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var code int16
	if req.TransactionalID != nil {
		if !b.authorize(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionalID) {
			code = kerr.TransactionalIDAuthorizationFailed.Code
		}
	} else if !b.clusterAllowed(ctx, kmsg.ACLOperationIdempotentWrite) &&
		!b.authorizeAny(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic) {
		code = kerr.ClusterAuthorizationFailed.Code
	}
	if code == 0 {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
	return resp, nil
}

// canCreateTopic reports whether the request's principal may create topic name (CREATE on
// the cluster or on the topic). Auto-creation checks it, so a principal with only WRITE
// cannot create topics by producing to them (Kafka answers UNKNOWN_TOPIC_OR_PARTITION).
func (b *Broker) canCreateTopic(ctx context.Context, name string) bool {
	return b.clusterAllowed(ctx, kmsg.ACLOperationCreate) || b.topicAllowed(ctx, kmsg.ACLOperationCreate, name)
}

// The operations each resource type supports (Kafka's AclEntry.supportedOperations), for
// the authorized-operations bit fields of Metadata, DescribeCluster and DescribeGroups.
var (
	topicOps = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs}
	groupOps   = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete}
	clusterOps = []kmsg.ACLOperation{kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe}
)

// authorizedOps is the bit field (1 << operation) of ops the principal may perform on
// the resource. Checks here are queries, not denials, so they are not counted.
func (b *Broker) authorizedOps(ctx context.Context, rt kmsg.ACLResourceType, name string, ops []kmsg.ACLOperation) int32 {
	host := ""
	if ri, ok := requestInfoFrom(ctx); ok {
		host = ri.ClientHost
	}
	var bits int32
	for _, op := range ops {
		if b.authz == nil || b.authz.Authorize(principalFrom(ctx), host, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}
