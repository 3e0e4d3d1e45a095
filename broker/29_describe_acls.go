package broker

// DescribeAcls (key 29), versions 1-3.
//
// Lists the ACLs a filter selects, grouped by resource pattern. Filter semantics as
// Kafka's AclBindingFilter: ANY matches every value, a null name/principal/host matches
// any, pattern type MATCH selects every stored pattern that applies to the given name
// (literal equal, literal '*', or a prefix of it). Needs DESCRIBE on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED; without an authorizer, SECURITY_DISABLED. v0 (before
// pattern types) was removed in Kafka 4.0 (KIP-896).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
)

// Authorized in the handler: DESCRIBE on the cluster (SECURITY_DISABLED without an authorizer).
func init() {
	register(apiEntry{key: kmsg.DescribeACLs, min: 1, max: 3, handle: h((*Broker).handleDescribeAcls), authz: noHook})
}

func (b *Broker) handleDescribeAcls(ctx context.Context, req *kmsg.DescribeACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if b.authz == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		resp.ErrorMessage = kmsg.StringPtr("No authorizer is configured (authorizer.class.name)")
		return resp, nil
	}
	if !b.clusterAllowed(ctx, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	f := security.ACLFilter{ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType}
	if err := security.ValidateFilter(f); err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		return resp, nil
	}
	type key struct {
		rt   kmsg.ACLResourceType
		name string
		pt   kmsg.ACLResourcePatternType
	}
	idx := map[key]int{}
	for _, a := range b.authz.ACLs(f) {
		k := key{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := idx[k]
		if !ok {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = k.rt, k.name, k.pt
			resp.Resources = append(resp.Resources, r)
			i = len(resp.Resources) - 1
			idx[k] = i
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	return resp, nil
}
