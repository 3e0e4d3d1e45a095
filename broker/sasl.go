package broker

// Per-connection security state and SASL authentication.
//
// A connection's principal is User:ANONYMOUS on PLAINTEXT, on SSL without a client
// certificate, and on SASL listeners until authentication succeeds; User:<DN or mapped
// name> for a verified client certificate; User:<name> after SASL. SASL flow (KIP-152):
// ApiVersions (optional), SaslHandshake v1 naming the mechanism, then SaslAuthenticate
// requests carrying the mechanism's tokens. Until it completes, any other API closes the
// connection and frames are limited to sasl.server.max.receive.size. A failed
// authentication answers SASL_AUTHENTICATION_FAILED with a message that names only the
// mechanism (never the user or whether it exists) and then closes the connection, as
// Kafka does.
//
// PLAIN is checked against the user's SCRAM credential: the broker recomputes the salted
// password from the given password with the stored salt and iteration count and compares
// the derived StoredKey in constant time. So one set of users (managed with
// AlterUserScramCredentials, `strata user`) serves PLAIN and SCRAM, and no password is
// ever stored. SaslHandshake v0 (raw tokens, removed in Kafka 4.0 by KIP-896) is not
// served; clients use v1.

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/xdg-go/scram"
)

// connState is the security state of one connection. The worker goroutine owns every
// field except authenticated, which the reader also reads (to bound frame sizes).
type connState struct {
	listener      *listener
	principal     string
	authenticated atomic.Bool

	mechanism  string // chosen by SaslHandshake
	scramConv  *scram.ServerConversation
	closeAfter bool // close the connection once the current response is written
}

type connStateKey struct{}

func withConnState(ctx context.Context, cs *connState) context.Context {
	return context.WithValue(ctx, connStateKey{}, cs)
}

// connStateFrom returns the connection's state; nil for requests that did not come
// through a listener (in-process tests), which are treated as an authenticated
// User:ANONYMOUS.
func connStateFrom(ctx context.Context) *connState {
	cs, _ := ctx.Value(connStateKey{}).(*connState)
	return cs
}

// principalFrom is the principal of the request's connection.
func principalFrom(ctx context.Context) string {
	if cs := connStateFrom(ctx); cs != nil && cs.principal != "" {
		return cs.principal
	}
	return anonymousUser
}

// frameLimit is the largest frame the connection may send now.
func (b *Broker) frameLimit(cs *connState) int32 {
	if cs != nil && !cs.authenticated.Load() {
		return min(b.cfg.SocketRequestMaxBytes, b.cfg.SASLServerMaxReceiveSize)
	}
	return b.cfg.SocketRequestMaxBytes
}

// preAuthAllowed reports whether api key may be sent before SASL authentication.
func preAuthAllowed(key int16) bool {
	return key == 18 || key == 17 || key == 36 // ApiVersions, SaslHandshake, SaslAuthenticate
}

// errSASLFailed is the generic authentication failure; the message names the mechanism only.
func saslFailedMessage(mech string) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
}

// authenticatePlain checks a PLAIN token: [authzid] NUL authcid NUL passwd (RFC 4616).
func (b *Broker) authenticatePlain(token []byte) (user string, ok bool) {
	parts := strings.Split(string(token), "\x00")
	if len(parts) != 3 {
		return "", false
	}
	authz, user, pass := parts[0], parts[1], parts[2]
	if user == "" || pass == "" || (authz != "" && authz != user) {
		return "", false
	}
	return user, b.scram.verifyPassword(user, pass)
}

// scramStep runs one SCRAM step; done reports the end of the exchange with success.
func (b *Broker) scramStep(cs *connState, token []byte) (resp []byte, done bool, err error) {
	if cs.scramConv == nil {
		srv, err := b.scram.server(cs.mechanism)
		if err != nil {
			return nil, false, err
		}
		cs.scramConv = srv.NewConversation()
	}
	out, err := cs.scramConv.Step(string(token))
	if err != nil {
		return nil, false, err
	}
	if cs.scramConv.Done() {
		if !cs.scramConv.Valid() {
			return nil, false, fmt.Errorf("scram: invalid proof")
		}
		if az := cs.scramConv.AuthzID(); az != "" && az != cs.scramConv.Username() {
			return nil, false, fmt.Errorf("scram: authorization id differs from user")
		}
		return []byte(out), true, nil
	}
	return []byte(out), false, nil
}

// constantTimeEqual compares secrets without early exit.
func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
