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
// Kafka does. OAUTHBEARER is security.OAuthBearerServer (oauth.go has its configuration).
//
// Re-authentication (KIP-368), every mechanism: a session lasts until the credential
// expires (an OAUTHBEARER token's exp) or connections.max.reauth.ms, whichever is first.
// A client that authenticated with SaslAuthenticate v1+ is told that lifetime
// (session_lifetime_ms) and re-authenticates on the same connection with SaslHandshake v1
// (the session's mechanism) and SaslAuthenticate, as the same principal; in between no
// other request may be sent. Once the session has expired, any request other than that
// handshake closes the connection, judged by when the request arrived (as Kafka's
// SocketServer does). Clients that used SaslAuthenticate v0 or raw tokens cannot
// re-authenticate and are given no lifetime: their sessions do not expire (Kafka's rule).
//
// PLAIN is checked against the user's SCRAM credential: the broker recomputes the salted
// password from the given password with the stored salt and iteration count and compares
// the derived StoredKey in constant time. So one set of users (managed with
// AlterUserScramCredentials, `strata user`) serves PLAIN and SCRAM, and no password is
// ever stored. After SaslHandshake v0 the tokens travel as raw frames (a size and the
// token, no header); the reader then waits for each token's outcome before reading the
// next frame, and a failure closes the connection.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/security"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// connState is the security state of one connection. The worker goroutine owns every
// field except authenticated, which the reader also reads (to bound frame sizes).
type connState struct {
	listener      *listener
	principal     string
	authenticated atomic.Bool

	mechanism  string        // chosen by SaslHandshake; once authenticated, the session's
	exchange   saslServer    // the exchange in progress (nil between exchanges)
	closeAfter bool          // close the connection once the current response is written
	saslStep   chan struct{} // SaslHandshake v0 / raw token handled (tells the reader)

	// Re-authentication (KIP-368).
	reauthOK      bool      // authenticated with SaslAuthenticate v1+: may re-authenticate
	reauth        bool      // a re-authentication SaslHandshake was accepted; SaslAuthenticate follows
	reauthBadMech string    // that handshake named another mechanism: the failure message
	sessionExpiry time.Time // zero: the session does not expire
}

// saslServer is the server side of one SASL exchange (security.PlainServer,
// security.SCRAMServer, security.OAuthBearerServer).
type saslServer interface {
	// Step handles the client's next token: the response token, and done once the
	// exchange succeeded. An error fails the authentication; its text names no secret.
	Step(token []byte) (resp []byte, done bool, err error)
	// User is the authenticated user name once Step reported done.
	User() string
	// Expiry is when the credential stops being valid once Step reported done (an
	// OAUTHBEARER token's exp); zero: it does not expire.
	Expiry() time.Time
}

// newConnState returns the state of a connection accepted on l.
func newConnState(l *listener) *connState {
	return &connState{listener: l, principal: security.Anonymous, saslStep: make(chan struct{}, 1)}
}

// signalSASLStep tells the reader that a SaslHandshake v0 or raw token was handled.
func (cs *connState) signalSASLStep() {
	select {
	case cs.saslStep <- struct{}{}:
	default:
	}
}

// awaitSASLStep waits for the worker to handle a SaslHandshake v0 or raw token and
// reports whether the next frame is a raw token.
func (cs *connState) awaitSASLStep(ctx context.Context) (bool, error) {
	select {
	case <-cs.saslStep:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	return cs.mechanism != "" && !cs.authenticated.Load() && !cs.closeAfter, nil
}

// readRawSASL reads one raw SASL token frame (SaslHandshake v0): a size and the token,
// no request header.
func (b *Broker) readRawSASL(br *bufio.Reader, admit func(n int64) error, maxSize int32) (*request, error) {
	var sz [4]byte
	if _, err := io.ReadFull(br, sz[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sz[:]))
	if size < 0 || size > maxSize {
		return nil, fmt.Errorf("%w: sasl token of %d bytes (sasl.server.max.receive.size %d)", errProtocol, size, maxSize)
	}
	if err := admit(int64(size)); err != nil {
		return nil, err
	}
	tok, err := readFrameBody(br, int(size)) // requestbudget.go
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.SASLAuthBytes = tok
	return &request{key: int16(kmsg.SASLAuthenticate), req: req, size: int64(size), rawSASL: true}, nil
}

// handleRawSASL runs one raw token through SaslAuthenticate's logic. The answer is a raw
// token; a failure closes the connection (the raw protocol has no error field).
func (c *conn) handleRawSASL(ctx context.Context, r *request) (kmsg.Response, error) {
	hctx := context.WithValue(ctx, requestInfoKey{}, requestInfo{ClientHost: c.host})
	if c.sec != nil {
		defer c.sec.signalSASLStep()
	}
	resp, _ := c.b.handleSaslAuthenticate(hctx, r.req.(*kmsg.SASLAuthenticateRequest))
	ar := resp.(*kmsg.SASLAuthenticateResponse)
	if ar.ErrorCode != 0 {
		return nil, fmt.Errorf("%w: raw sasl authentication failed", errProtocol)
	}
	return rawSASLResponse{ar}, nil
}

// rawSASLResponse writes only a size and the token.
type rawSASLResponse struct {
	*kmsg.SASLAuthenticateResponse
}

func (r rawSASLResponse) writeResponse(nc net.Conn, _ int32) error {
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(r.SASLAuthBytes)))
	_, err := nc.Write(append(buf, r.SASLAuthBytes...))
	return err
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
	return security.Anonymous
}

// frameLimit is the largest frame the connection may send now.
func (b *Broker) frameLimit(cs *connState) int32 {
	if cs != nil && !cs.authenticated.Load() {
		limit := b.cfg.SASLServerMaxReceiveSize
		if limit == 0 {
			limit = 512 << 10
		}
		return min(b.cfg.SocketRequestMaxBytes, limit)
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

// newSASLServer starts an exchange of mechanism mech.
func (b *Broker) newSASLServer(ctx context.Context, mech string) saslServer {
	switch mech {
	case security.MechPlain:
		return security.NewPlainServer(b.scram)
	case security.MechOAuthBearer:
		return security.NewOAuthBearerServer(ctx, b.oauth)
	default:
		return security.NewSCRAMServer(b.scram, mech)
	}
}

// errSessionExpired closes a connection whose SASL session expired (KIP-368).
var errSessionExpired = fmt.Errorf("%w: SASL session expired without re-authentication", errProtocol)

// checkSession runs before every request of an authenticated SASL connection: during a
// re-authentication only SaslAuthenticate may follow the handshake, and once the session
// has expired only a SaslHandshake starting a re-authentication is served (Kafka's
// SocketServer closes the connection otherwise).
func (cs *connState) checkSession(key int16, now time.Time) error {
	if cs.reauth && key != int16(kmsg.SASLAuthenticate) {
		return fmt.Errorf("%w: %s during SASL re-authentication", errProtocol, kmsg.NameForKey(key))
	}
	if cs.sessionExpiry.IsZero() || now.Before(cs.sessionExpiry) || cs.reauth || key == int16(kmsg.SASLHandshake) {
		return nil
	}
	return errSessionExpired
}

// sessionLifetime is how long a session authenticated at now lasts (Kafka's
// SaslServerAuthenticator): the credential's remaining lifetime, capped by
// connections.max.reauth.ms when that is set; ok is false when neither limits it.
func sessionLifetime(now, credExpiry time.Time, maxReauth time.Duration) (life time.Duration, ok bool) {
	switch {
	case credExpiry.IsZero() && maxReauth <= 0:
		return 0, false
	case credExpiry.IsZero():
		return maxReauth, true
	case maxReauth <= 0:
		return max(0, credExpiry.Sub(now)), true
	default:
		return max(0, min(credExpiry.Sub(now), maxReauth)), true
	}
}
