package broker

// SaslAuthenticate (key 36), versions 0-2.
//
// Carries the tokens of the mechanism chosen by SaslHandshake. PLAIN takes one round;
// SCRAM-SHA-256/512 take two (client-first -> server-first, client-final ->
// server-final). On success the connection's principal becomes User:<name> and every API
// is served (subject to ACLs); SessionLifetimeMillis is 0 (no re-authentication,
// connections.max.reauth.ms is not supported). On failure: SASL_AUTHENTICATION_FAILED,
// a message naming only the mechanism, and the connection closes after the response.
// Without a preceding handshake: ILLEGAL_SASL_STATE, connection closed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
)

// Needs no authorization: it establishes the principal.
func init() {
	register(apiEntry{key: kmsg.SASLAuthenticate, min: 0, max: 2, handle: h((*Broker).handleSaslAuthenticate), authz: noHook})
}

func (b *Broker) handleSaslAuthenticate(ctx context.Context, req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.SASLAuthBytes = []byte{}
	cs := connStateFrom(ctx)
	if cs == nil || cs.mechanism == "" || cs.authenticated.Load() {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate without a SaslHandshake")
		if cs != nil {
			cs.closeAfter = true
		}
		return resp, nil
	}
	remote := ""
	if ri, ok := requestInfoFrom(ctx); ok {
		remote = ri.ClientHost
	}
	fail := func() (kmsg.Response, error) {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(saslFailedMessage(cs.mechanism))
		cs.closeAfter = true
		cs.scramConv = nil
		b.secm.SASLResult(cs.mechanism, false)
		b.logger.Info("sasl authentication failed", "remote", remote, "mechanism", cs.mechanism, "listener", cs.listener.spec.name)
		return resp, nil
	}
	switch cs.mechanism {
	case security.MechPlain:
		user, ok := security.AuthenticatePlain(b.scram, req.SASLAuthBytes)
		if !ok {
			return fail()
		}
		b.completeSASL(cs, user, remote)
	default:
		out, done, err := b.scramStep(cs, req.SASLAuthBytes)
		if err != nil {
			b.logger.Debug("scram step failed", "err", err) // xdg-go/scram errors name no secret
			return fail()
		}
		resp.SASLAuthBytes = out
		if done {
			b.completeSASL(cs, cs.scramConv.User(), remote)
			cs.scramConv = nil
		}
	}
	return resp, nil
}

func (b *Broker) completeSASL(cs *connState, user, remote string) {
	cs.principal = "User:" + user
	cs.authenticated.Store(true)
	b.secm.SASLResult(cs.mechanism, true)
	b.logger.Debug("sasl authenticated", "remote", remote, "mechanism", cs.mechanism, "principal", cs.principal)
}
