package broker

// AlterUserScramCredentials (key 51), version 0.
//
// Upsertions carry salt, iterations and the client-computed salted password; the broker
// keeps only StoredKey and ServerKey (see security/scram.go). Per user, in request order: an empty
// name or iterations outside [4096, 16384] is UNACCEPTABLE_CREDENTIAL, a mechanism other
// than SCRAM-SHA-256 (1) or SCRAM-SHA-512 (2) is UNSUPPORTED_SASL_MECHANISM, the same
// user and mechanism twice in one request is DUPLICATE_RESOURCE, deleting a credential
// that does not exist is RESOURCE_NOT_FOUND. A user with any error has none of its
// changes applied. Needs ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED per user).
// Changes are persisted before the response; established connections stay authenticated.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
)

// Authorized in the handler: ALTER on the cluster, answered per user.
func init() {
	register(apiEntry{key: kmsg.AlterUserSCRAMCredentials, min: 0, max: 0, handle: h((*Broker).handleAlterUserScramCredentials), authz: noHook})
}

func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, req *kmsg.AlterUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	type userChange struct {
		code    int16
		msg     string
		changes []security.SCRAMChange
	}
	var order []string
	users := map[string]*userChange{}
	get := func(name string) *userChange {
		u, ok := users[name]
		if !ok {
			u = &userChange{}
			users[name] = u
			order = append(order, name)
		}
		return u
	}
	setErr := func(u *userChange, e *kerr.Error, msg string) {
		if u.code == 0 {
			u.code, u.msg = e.Code, msg
		}
	}
	seen := map[[2]string]bool{}
	authorized := b.authorize(ctx, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, security.ClusterName)
	check := func(u *userChange, name string, m int8) (string, bool) {
		if !authorized {
			setErr(u, kerr.ClusterAuthorizationFailed, "")
			return "", false
		}
		if name == "" {
			setErr(u, kerr.UnacceptableCredential, "Username must not be empty")
			return "", false
		}
		mech, ok := security.MechanismName(m)
		if !ok {
			setErr(u, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
			return "", false
		}
		if seen[[2]string{name, mech}] {
			setErr(u, kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
			return "", false
		}
		seen[[2]string{name, mech}] = true
		return mech, true
	}
	for _, d := range req.Deletions {
		u := get(d.Name)
		if mech, ok := check(u, d.Name, d.Mechanism); ok {
			u.changes = append(u.changes, security.SCRAMChange{Mechanism: mech, Delete: true})
		}
	}
	for _, up := range req.Upsertions {
		u := get(up.Name)
		mech, ok := check(u, up.Name, up.Mechanism)
		if !ok {
			continue
		}
		if up.Iterations < security.MinIterations || up.Iterations > security.MaxIterations {
			setErr(u, kerr.UnacceptableCredential, "Iterations must be between 4096 and 16384")
			continue
		}
		if len(up.Salt) == 0 || len(up.SaltedPassword) == 0 {
			setErr(u, kerr.UnacceptableCredential, "Salt and salted password must not be empty")
			continue
		}
		u.changes = append(u.changes, security.SCRAMChange{Mechanism: mech, Cred: security.CredentialFromSalted(mech, up.Salt, up.SaltedPassword, int(up.Iterations))})
	}

	var valid []string
	changes := map[string][]security.SCRAMChange{}
	for _, name := range order {
		if u := users[name]; u.code == 0 {
			valid = append(valid, name)
			changes[name] = u.changes
		}
	}
	notFound, saveErr := b.scram.Alter(valid, changes)
	for name := range notFound {
		setErr(users[name], kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
	}
	if saveErr != nil {
		b.logger.Error("cannot persist scram credentials", "err", saveErr)
	}
	for _, name := range order {
		u := users[name]
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = name
		r.ErrorCode = u.code
		if u.msg != "" {
			r.ErrorMessage = kmsg.StringPtr(u.msg)
		}
		if u.code == 0 && saveErr != nil {
			r.ErrorCode = kerr.UnknownServerError.Code
			r.ErrorMessage = kmsg.StringPtr("cannot persist credentials")
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
