package broker

// SaslHandshake (key 17), versions 0-1.
//
// Names the mechanism of the SaslAuthenticate exchange that follows. The response lists the
// mechanisms enabled (sasl.enabled.mechanisms). On a listener that is not SASL_PLAINTEXT or
// SASL_SSL, or on a connection that has already authenticated, the answer is
// ILLEGAL_SASL_STATE. An unknown mechanism is UNSUPPORTED_SASL_MECHANISM and closes the
// connection after the response (Kafka's behaviour). After v0 the client sends the
// mechanism's tokens as raw frames instead of SaslAuthenticate requests (sasl.go). On a
// connection that authenticated with SaslAuthenticate v1+, a v1 handshake starts a
// re-authentication (KIP-368, sasl.go).

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Needs no authorization: it runs before a principal exists.
func init() {
	register(apiEntry{key: kmsg.SASLHandshake, min: 0, max: 1, handle: h((*Broker).handleSaslHandshake), authz: noHook})
}

func (b *Broker) handleSaslHandshake(ctx context.Context, req *kmsg.SASLHandshakeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	cs := connStateFrom(ctx)
	cfg := &b.cfg
	if cs != nil && cs.listener != nil {
		cfg = cs.listener.cfg // listener.name.<l>.sasl.enabled.mechanisms
	}
	mechs, _ := cfg.saslMechanisms()
	resp.SupportedMechanisms = mechs
	if cs != nil && req.Version == 0 {
		defer cs.signalSASLStep() // the reader waits to know whether raw tokens follow
	}
	if cs != nil && cs.listener != nil && cs.listener.spec.sasl() && cs.authenticated.Load() &&
		cs.reauthOK && !cs.reauth && req.Version >= 1 {
		return b.reauthHandshake(cs, req, resp, mechs), nil
	}
	if cs == nil || cs.listener == nil || !cs.listener.spec.sasl() || cs.authenticated.Load() || cs.mechanism != "" {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		if cs != nil {
			cs.closeAfter = true
		}
		return resp, nil
	}
	want := strings.ToUpper(req.Mechanism)
	for _, m := range mechs {
		if m == want {
			cs.mechanism = m
			return resp, nil
		}
	}
	resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
	cs.closeAfter = true
	return resp, nil
}

// reauthHandshake starts a re-authentication (KIP-368) on an authenticated connection. A
// mechanism other than the session's is accepted here and fails the SaslAuthenticate that
// follows (Kafka's REAUTH_BAD_MECHANISM); one not enabled at all closes the connection.
func (b *Broker) reauthHandshake(cs *connState, req *kmsg.SASLHandshakeRequest, resp *kmsg.SASLHandshakeResponse, mechs []string) kmsg.Response {
	want := strings.ToUpper(req.Mechanism)
	if !slices.Contains(mechs, want) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		cs.closeAfter = true
		return resp
	}
	cs.reauth = true
	cs.reauthBadMech = ""
	if want != cs.mechanism {
		cs.reauthBadMech = fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", want, cs.mechanism)
	}
	return resp
}
