package security

import (
	"crypto/subtle"
	"errors"
	"strings"
	"time"
)

// Names shared with Kafka's configuration and protocol.
const (
	MechPlain    = "PLAIN"
	MechSCRAM256 = "SCRAM-SHA-256"
	MechSCRAM512 = "SCRAM-SHA-512"
	// ClusterName is the name of the one CLUSTER resource.
	ClusterName = "kafka-cluster"
	// Anonymous is the principal of an unauthenticated connection.
	Anonymous = "User:ANONYMOUS"
)

// AuthenticatePlain checks a PLAIN token, [authzid] NUL authcid NUL passwd (RFC 4616),
// against the user's SCRAM credential (see VerifyPassword), so one set of users serves
// PLAIN and SCRAM and no password is ever stored.
func AuthenticatePlain(s *SCRAMStore, token []byte) (user string, ok bool) {
	parts := strings.Split(string(token), "\x00")
	if len(parts) != 3 {
		return "", false
	}
	authz, user, pass := parts[0], parts[1], parts[2]
	if user == "" || pass == "" || (authz != "" && authz != user) {
		return "", false
	}
	return user, s.VerifyPassword(user, pass)
}

// NewSCRAMServer starts the server side of one SCRAM exchange with mechanism mech
// against the users of s.
func NewSCRAMServer(s *SCRAMStore, mech string) *SCRAMServer {
	return &SCRAMServer{store: s, mech: mech}
}

// Step handles the client's next message: the client-first-message, then the
// client-final-message. done reports the end of the exchange with success; any error
// fails the authentication (its text names no secret).
func (c *SCRAMServer) Step(token []byte) (resp []byte, done bool, err error) {
	if !c.started {
		c.started = true
		out, err := c.first(string(token))
		return []byte(out), false, err
	}
	out, err := c.final(string(token))
	if err != nil {
		return nil, false, err
	}
	return []byte(out), true, nil
}

// User is the authenticated user name once Step reported done.
func (c *SCRAMServer) User() string { return c.user }

// constantTimeEqual compares secrets without early exit.
func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// PlainServer is the server side of one PLAIN exchange (one message), checked with
// AuthenticatePlain.
type PlainServer struct {
	store *SCRAMStore
	user  string
}

// NewPlainServer starts one PLAIN exchange against the users of s.
func NewPlainServer(s *SCRAMStore) *PlainServer { return &PlainServer{store: s} }

// Step checks the one PLAIN message; done with success, or an error.
func (p *PlainServer) Step(token []byte) (resp []byte, done bool, err error) {
	user, ok := AuthenticatePlain(p.store, token)
	if !ok {
		return nil, false, errors.New("security: PLAIN credentials refused")
	}
	p.user = user
	return []byte{}, true, nil
}

// User is the authenticated user name once Step reported done.
func (p *PlainServer) User() string { return p.user }

// Expiry: passwords do not expire (zero).
func (p *PlainServer) Expiry() time.Time { return time.Time{} }

// Expiry: SCRAM credentials do not expire (zero).
func (c *SCRAMServer) Expiry() time.Time { return time.Time{} }
