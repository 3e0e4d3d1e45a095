package security

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The OAUTHBEARER exchange (RFC 7628 section 3.1; Kafka's OAuthBearerSaslServer):
//
//	client: gs2-header \x01 "auth=Bearer " token \x01 [key=value \x01]... \x01
//	server: ""                            success, done
//	server: {"status":"invalid_token"}    refused; the client answers \x01 and the
//	                                      exchange fails (Step returns the reason)
//
// The gs2-header is "n," or "y," (no channel binding), optionally "a=<authzid>", then ",".
// An authzid must equal the token's principal. Extensions (key=value pairs beside auth)
// are parsed for well-formedness and otherwise ignored, as Kafka's default validator
// accepts every extension.

// errInvalidMessage is a client message that is not an OAUTHBEARER initial response.
var errInvalidMessage = errors.New("security: invalid OAUTHBEARER client first message")

// invalidTokenChallenge is the server's error challenge (RFC 7628 section 3.2.2).
const invalidTokenChallenge = `{"status":"invalid_token"}`

// OAuthBearerServer is the server side of one OAUTHBEARER exchange.
type OAuthBearerServer struct {
	v       *OAuthValidator
	ctx     context.Context
	refused error // the token was refused; the next client message ends the exchange
	token   OAuthToken
}

// NewOAuthBearerServer starts one exchange validating with v; ctx bounds a key-set fetch
// the validation may need.
func NewOAuthBearerServer(ctx context.Context, v *OAuthValidator) *OAuthBearerServer {
	return &OAuthBearerServer{v: v, ctx: ctx}
}

// Step handles the client's next message. A valid token ends the exchange at once (done,
// empty response); a refused one answers the RFC 7628 error challenge, and the client's
// next message (\x01) ends the exchange with the refusal as the error. Any malformed
// message is an error.
func (s *OAuthBearerServer) Step(msg []byte) (resp []byte, done bool, err error) {
	if s.refused != nil {
		return nil, false, s.refused
	}
	authzid, token, err := parseOAuthInitial(string(msg))
	if err != nil {
		return nil, false, err
	}
	tok, err := s.v.Validate(s.ctx, token)
	if err != nil {
		s.refused = err
		return []byte(invalidTokenChallenge), false, nil
	}
	if authzid != "" && authzid != tok.Principal {
		return nil, false, fmt.Errorf("%w: authorization id %q is not the token's principal %q", ErrInvalidToken, authzid, tok.Principal)
	}
	s.token = tok
	return []byte{}, true, nil
}

// User is the token's principal name once Step reported done.
func (s *OAuthBearerServer) User() string { return s.token.Principal }

// Expiry is the token's exp once Step reported done.
func (s *OAuthBearerServer) Expiry() time.Time { return s.token.Expiry }

// Token is the validated token once Step reported done.
func (s *OAuthBearerServer) Token() OAuthToken { return s.token }

// parseOAuthInitial splits a client initial response into its authzid and bearer token.
func parseOAuthInitial(m string) (authzid, token string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("%w: %s", errInvalidMessage, why)
	}
	gs2, rest, ok := strings.Cut(m, "\x01")
	if !ok {
		return bad("no kvsep after the gs2 header")
	}
	if !strings.HasPrefix(gs2, "n,") && !strings.HasPrefix(gs2, "y,") {
		return bad("channel binding flag must be n or y")
	}
	az, tail, ok := strings.Cut(gs2[2:], ",")
	if !ok || tail != "" {
		return bad("malformed gs2 header")
	}
	if az != "" {
		name, ok := strings.CutPrefix(az, "a=")
		if !ok || name == "" {
			return bad("malformed authzid")
		}
		if authzid, ok = unescapeSASLName(name); !ok {
			return bad("malformed authzid")
		}
	}
	body, ok := strings.CutSuffix(rest, "\x01\x01")
	if !ok {
		return bad("not terminated by two kvseps")
	}
	for kv := range strings.SplitSeq(body, "\x01") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || !isAlpha(k) || !validValue(v) {
			return bad("malformed key=value pair")
		}
		if k != "auth" {
			continue // an extension
		}
		if token != "" {
			return bad("auth given twice")
		}
		scheme, t, ok := strings.Cut(v, " ")
		t = strings.TrimLeft(t, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || t == "" || !isB64Token(t) {
			return bad("auth is not 'Bearer <token>'")
		}
		token = t
	}
	if token == "" {
		return bad("no auth")
	}
	return authzid, token, nil
}

// unescapeSASLName decodes =2C and =3D (RFC 5801 saslname).
func unescapeSASLName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',':
			return "", false
		case '=':
			if i+3 > len(s) {
				return "", false
			}
			switch s[i+1 : i+3] {
			case "2C":
				b.WriteByte(',')
			case "3D":
				b.WriteByte('=')
			default:
				return "", false
			}
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// validValue: RFC 7628 value = *(VCHAR / SP / HTAB / CR / LF).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x21 || c > 0x7e) && c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// isB64Token: RFC 6750 b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strings.IndexByte("-._~+/", c) >= 0 {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
