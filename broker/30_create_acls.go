package broker

// CreateAcls (key 30), versions 1-3.
//
// Adds ACL bindings; one result per creation, in order. An invalid binding (unknown or
// ANY enums, MATCH pattern, empty name, principal not Type:name, cluster name other than
// kafka-cluster, PREFIXED '*') is INVALID_REQUEST; creating an existing binding succeeds
// without duplicating it. Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED per
// creation); without an authorizer, SECURITY_DISABLED. Persisted before the response.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
)

// Authorized in the handler: ALTER on the cluster.
func init() {
	register(apiEntry{key: kmsg.CreateACLs, min: 1, max: 3, handle: h((*Broker).handleCreateAcls), authz: noHook})
}

func (b *Broker) handleCreateAcls(ctx context.Context, req *kmsg.CreateACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	result := func(code int16, msg string) {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode = code
		if msg != "" {
			r.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Results = append(resp.Results, r)
	}
	if b.authz == nil || !b.clusterAllowed(ctx, kmsg.ACLOperationAlter) {
		code := kerr.ClusterAuthorizationFailed.Code
		if b.authz == nil {
			code = kerr.SecurityDisabled.Code
		}
		for range req.Creations {
			result(code, "")
		}
		return resp, nil
	}
	var valid []security.ACL
	codes := make([]int16, len(req.Creations))
	msgs := make([]string, len(req.Creations))
	for i, c := range req.Creations {
		a := security.ACL{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		if err := security.ValidateACL(a); err != nil {
			codes[i], msgs[i] = kerr.InvalidRequest.Code, err.Error()
			continue
		}
		valid = append(valid, a)
	}
	if err := b.aclStore.Create(valid); err != nil {
		b.logger.Error("cannot persist acls", "err", err)
		for i := range codes {
			if codes[i] == 0 {
				codes[i], msgs[i] = kerr.UnknownServerError.Code, "cannot persist ACLs"
			}
		}
	}
	for i := range req.Creations {
		result(codes[i], msgs[i])
	}
	return resp, nil
}
