package broker

// DescribeUserScramCredentials (key 50), version 0.
//
// Lists users and, per user, the SCRAM mechanisms and iteration counts (never salts or
// keys). A null or empty user list describes every user; a named user without credentials
// is RESOURCE_NOT_FOUND; a user named twice is DUPLICATE_RESOURCE. Needs DESCRIBE on the
// cluster (else CLUSTER_AUTHORIZATION_FAILED at the top level).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
)

// Authorized in the handler: DESCRIBE on the cluster.
func init() {
	register(apiEntry{key: kmsg.DescribeUserSCRAMCredentials, min: 0, max: 0, handle: h((*Broker).handleDescribeUserScramCredentials), authz: noHook})
}

func (b *Broker) handleDescribeUserScramCredentials(ctx context.Context, req *kmsg.DescribeUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.authorize(ctx, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeCluster, security.ClusterName) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	all := b.scram.Describe()
	result := func(info security.SCRAMUserInfo) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = info.User
		for _, m := range []string{security.MechSCRAM256, security.MechSCRAM512} {
			if it, ok := info.Mechanisms[m]; ok {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism = security.MechanismNumber(m)
				ci.Iterations = int32(it)
				r.CredentialInfos = append(r.CredentialInfos, ci)
			}
		}
		return r
	}
	if len(req.Users) == 0 {
		for _, info := range all {
			resp.Results = append(resp.Results, result(info))
		}
		return resp, nil
	}
	byName := make(map[string]security.SCRAMUserInfo, len(all))
	for _, info := range all {
		byName[info.User] = info
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	for _, u := range req.Users {
		if count[u.Name] > 1 {
			if count[u.Name] > 0 {
				r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
				r.User = u.Name
				r.ErrorCode = kerr.DuplicateResource.Code
				r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request")
				resp.Results = append(resp.Results, r)
				count[u.Name] = -1 // report once
			}
			continue
		}
		if count[u.Name] < 0 {
			continue
		}
		info, ok := byName[u.Name]
		if !ok {
			r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			r.User = u.Name
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe nonexistent user credential")
			resp.Results = append(resp.Results, r)
			continue
		}
		resp.Results = append(resp.Results, result(info))
	}
	return resp, nil
}
