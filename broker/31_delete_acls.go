package broker

// DeleteAcls (key 31), versions 1-3.
//
// Removes every ACL each filter selects (filter semantics as DescribeAcls) and reports,
// per filter, the removed bindings. Needs ALTER on the cluster (else
// CLUSTER_AUTHORIZATION_FAILED per filter); without an authorizer, SECURITY_DISABLED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
)

// Authorized in the handler: ALTER on the cluster.
func init() {
	register(apiEntry{key: kmsg.DeleteACLs, min: 1, max: 3, handle: h((*Broker).handleDeleteAcls), authz: noHook})
}

func (b *Broker) handleDeleteAcls(ctx context.Context, req *kmsg.DeleteACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	results := make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range results {
		results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	resp.Results = results
	if b.authz == nil || !b.clusterAllowed(ctx, kmsg.ACLOperationAlter) {
		code := kerr.ClusterAuthorizationFailed.Code
		if b.authz == nil {
			code = kerr.SecurityDisabled.Code
		}
		for i := range results {
			results[i].ErrorCode = code
		}
		return resp, nil
	}
	var filters []security.ACLFilter
	var at []int
	for i, f := range req.Filters {
		af := security.ACLFilter{ResourceType: f.ResourceType, ResourceName: f.ResourceName, PatternType: f.ResourcePatternType,
			Principal: f.Principal, Host: f.Host, Operation: f.Operation, Permission: f.PermissionType}
		if err := security.ValidateFilter(af); err != nil {
			results[i].ErrorCode = kerr.InvalidRequest.Code
			results[i].ErrorMessage = kmsg.StringPtr(err.Error())
			continue
		}
		filters = append(filters, af)
		at = append(at, i)
	}
	removed, err := b.aclStore.Delete(filters)
	if err != nil {
		b.logger.Error("cannot persist acls", "err", err)
		for _, i := range at {
			results[i].ErrorCode = kerr.UnknownServerError.Code
			results[i].ErrorMessage = kmsg.StringPtr("cannot persist ACLs")
		}
		return resp, nil
	}
	for j, i := range at {
		for _, a := range removed[j] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = a.ResourceType, a.ResourceName, a.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
			results[i].MatchingACLs = append(results[i].MatchingACLs, m)
		}
	}
	return resp, nil
}
