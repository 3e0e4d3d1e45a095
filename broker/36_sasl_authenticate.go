package broker

// SaslAuthenticate (key 36), versions 0-2.
//
// Carries the tokens of the mechanism chosen by SaslHandshake. PLAIN takes one round;
// SCRAM-SHA-256/512 take two (client-first -> server-first, client-final ->
// server-final); OAUTHBEARER one (RFC 7628: a refused token is answered with the
// {"status":"invalid_token"} challenge and fails when the client sends %x01). On success
// the connection's principal becomes User:<name> and every API is served (subject to
// ACLs); SessionLifetimeMillis (v1+) is the session's lifetime (sasl.go: the token's
// remaining lifetime and connections.max.reauth.ms; 0 = no limit). On failure:
// SASL_AUTHENTICATION_FAILED, a message naming only the mechanism, and the connection
// closes after the response. Without a preceding handshake: ILLEGAL_SASL_STATE,
// connection closed. A re-authentication (after a SaslHandshake on an authenticated
// connection) must name the session's mechanism and yield the same principal, or it
// fails the same way.

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	if cs == nil || cs.mechanism == "" || (cs.authenticated.Load() && !cs.reauth) {
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
	fail := func(msg string, reason error) (kmsg.Response, error) {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(msg)
		resp.SASLAuthBytes = []byte{}
		cs.closeAfter = true
		cs.exchange = nil
		if cs.reauth {
			b.secm.SASLReauth(cs.mechanism, false)
		} else {
			b.secm.SASLResult(cs.mechanism, false)
		}
		attrs := []any{"remote", remote, "mechanism", cs.mechanism, "listener", cs.listener.spec.name, "reauthentication", cs.reauth}
		if errors.Is(reason, security.ErrInvalidToken) || cs.reauth {
			attrs = append(attrs, "reason", reason) // token refusals name claims, never the token
		} else if reason != nil {
			b.logger.Debug("sasl step failed", "err", reason) // SCRAM/PLAIN errors name no secret
		}
		b.logger.Info("sasl authentication failed", attrs...)
		return resp, nil
	}
	if cs.reauthBadMech != "" {
		return fail(cs.reauthBadMech, errors.New(cs.reauthBadMech))
	}
	if cs.exchange == nil {
		cs.exchange = b.newSASLServer(ctx, cs.mechanism)
	}
	out, done, err := cs.exchange.Step(req.SASLAuthBytes)
	if err != nil {
		return fail(saslFailedMessage(cs.mechanism), err)
	}
	resp.SASLAuthBytes = out
	if !done {
		return resp, nil
	}
	principal := "User:" + cs.exchange.User()
	if cs.reauth && principal != cs.principal {
		msg := fmt.Sprintf("Cannot change principals during re-authentication from %s: %s", cs.principal, principal)
		return fail(msg, errors.New(msg))
	}
	resp.SessionLifetimeMillis = b.completeSASL(cs, principal, req.Version, remote)
	return resp, nil
}

// completeSASL ends a successful exchange: the connection's principal and session, and
// the session lifetime to tell the client (ms; 0 = none).
func (b *Broker) completeSASL(cs *connState, principal string, version int16, remote string) int64 {
	now := time.Now()
	maxReauth := b.cfg.ConnectionsMaxReauth
	if cs.listener != nil {
		maxReauth = cs.listener.maxReauth(cs.mechanism) // listener.name.<l>.[<mech>.]connections.max.reauth.ms
	}
	life, limited := sessionLifetime(now, cs.exchange.Expiry(), maxReauth)
	reauth := cs.reauth
	if !reauth {
		cs.reauthOK = version >= 1 // v0 and raw tokens cannot re-authenticate
	}
	cs.sessionExpiry = time.Time{}
	var lifeMs int64
	if limited && cs.reauthOK {
		cs.sessionExpiry = now.Add(life)
		lifeMs = life.Milliseconds()
	}
	cs.principal = principal
	cs.exchange = nil
	cs.reauth = false
	cs.authenticated.Store(true)
	if reauth {
		b.secm.SASLReauth(cs.mechanism, true)
	} else {
		b.secm.SASLResult(cs.mechanism, true)
	}
	b.logger.Debug("sasl authenticated", "remote", remote, "mechanism", cs.mechanism, "principal", cs.principal,
		"reauthentication", reauth, "session_lifetime_ms", lifeMs)
	return lifeMs
}
