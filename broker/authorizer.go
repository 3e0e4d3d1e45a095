package broker

// Authorization of every API (see security/acl.go for the decision rules).
//
// dispatch calls handleAuthorized, which, when authorizer.class.name is set, runs the
// API's hook (the authz field of its entry, written in its NN_name.go file beside the
// handler): the hook removes from the request what the principal may not touch, runs
// the handler on the rest, and adds the denied entries to the response
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

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
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
		b.secm.Deny(rt, op)
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
	return b.authorize(ctx, op, kmsg.ACLResourceTypeCluster, security.ClusterName)
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

// handleAuthorized runs api's handler for req behind its authorization hook.
func (b *Broker) handleAuthorized(ctx context.Context, api *apiEntry, req kmsg.Request) (kmsg.Response, error) {
	next := func(r kmsg.Request) (kmsg.Response, error) { return api.handle(b, ctx, r) }
	if b.authz == nil {
		return next(req)
	}
	hk := api.authz
	if hk == nil {
		if !b.clusterAllowed(ctx, kmsg.ACLOperationClusterAction) {
			b.logger.Debug("api without authorization hook denied", "api", api.key.Name(), "principal", principalFrom(ctx))
			return nil, errProtocol
		}
		return next(req)
	}
	return hk(b, ctx, req, next)
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
