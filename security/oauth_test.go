package security_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/strata-io/strata/security"
	"github.com/strata-io/strata/security/oauthtest"
)

func newValidator(t *testing.T, cfg security.OAuthConfig) *security.OAuthValidator {
	t.Helper()
	v, err := security.NewOAuthValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOAuthValidate: Kafka's broker rules (KIP-768) for signature, exp/iat/nbf with clock
// skew, issuer, audience, sub and scope claims, one line per case.
func TestOAuthValidate(t *testing.T) {
	iss := oauthtest.New(t)
	v := newValidator(t, security.OAuthConfig{
		JWKSURL: iss.URL(), ExpectedIssuer: iss.Issuer, ExpectedAudience: []string{"strata", "kafka"},
		ClockSkew: 5 * time.Second,
	})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(c map[string]any)) map[string]any {
		c := iss.Claims("alice", "strata", time.Minute)
		edit(c)
		return c
	}
	now := time.Now()
	f := func(name, token, wantErr, wantSub string) {
		t.Helper()
		tok, err := v.Validate(t.Context(), token)
		if wantErr == "" {
			if err != nil || tok.Principal != wantSub {
				t.Errorf("%s: got %+v, %v; want principal %q", name, tok, err, wantSub)
			}
			return
		}
		if !errors.Is(err, security.ErrInvalidToken) || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: got %v, want an ErrInvalidToken saying %q", name, err, wantErr)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("%s: the error quotes the token", name)
		}
	}
	f("valid", iss.Token(t, iss.Claims("alice", "strata", time.Minute)), "", "alice")
	f("aud list", iss.Token(t, with(func(c map[string]any) { c["aud"] = []string{"x", "kafka"} })), "", "alice")
	f("sub trimmed", iss.Token(t, with(func(c map[string]any) { c["sub"] = "  bob " })), "", "bob")
	f("expired within skew", iss.Token(t, with(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Second).Unix() })), "", "alice")
	f("expired", iss.Token(t, with(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), "expired", "")
	f("no exp", iss.Token(t, with(func(c map[string]any) { delete(c, "exp") })), "no exp", "")
	f("exp a string", iss.Token(t, with(func(c map[string]any) { c["exp"] = "tomorrow" })), "not a number", "")
	f("no iat", iss.Token(t, with(func(c map[string]any) { delete(c, "iat") })), "no iat", "")
	f("not yet valid", iss.Token(t, with(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() })), "not valid before", "")
	f("wrong issuer", iss.Token(t, with(func(c map[string]any) { c["iss"] = "https://evil.test" })), "issuer", "")
	f("no issuer", iss.Token(t, with(func(c map[string]any) { delete(c, "iss") })), "issuer", "")
	f("wrong audience", iss.Token(t, with(func(c map[string]any) { c["aud"] = "other" })), "audience", "")
	f("no audience", iss.Token(t, with(func(c map[string]any) { delete(c, "aud") })), "audience", "")
	f("no sub", iss.Token(t, with(func(c map[string]any) { delete(c, "sub") })), `"sub"`, "")
	f("blank sub", iss.Token(t, with(func(c map[string]any) { c["sub"] = "  " })), `"sub"`, "")
	f("sub a number", iss.Token(t, with(func(c map[string]any) { c["sub"] = 7 })), `"sub"`, "")
	f("scope not strings", iss.Token(t, with(func(c map[string]any) { c["scope"] = []any{1} })), "scope", "")
	f("signed by another key", oauthtest.Sign(t, other, jose.RS256, iss.KID, iss.Claims("alice", "strata", time.Minute)), "no key with kid", "")
	f("unknown kid", oauthtest.Sign(t, other, jose.RS256, "nope", iss.Claims("alice", "strata", time.Minute)), "no key with kid", "")
	f("no kid, right key", oauthtest.Sign(t, iss.Key, jose.RS256, "", iss.Claims("alice", "strata", time.Minute)), "", "alice")
	f("no kid, wrong key", oauthtest.Sign(t, other, jose.RS256, "", iss.Claims("alice", "strata", time.Minute)), "no key in the jwks", "")
	f("alg other than the key's", oauthtest.Sign(t, iss.Key, jose.PS256, iss.KID, iss.Claims("alice", "strata", time.Minute)), "no key with kid", "")
	f("unsigned (alg none)", unsigned(iss.Claims("alice", "strata", time.Minute)), "cannot parse", "")
	f("garbage", "a.b.c", "cannot parse", "")
	f("two parts", "a.b", "compact", "")

	tok, err := v.Validate(t.Context(), iss.Token(t, with(func(c map[string]any) { c["scope"] = "a  b c" })))
	if err != nil || strings.Join(tok.Scope, ",") != "a,b,c" {
		t.Errorf("scope string: %v %v", tok.Scope, err)
	}
	tok, err = v.Validate(t.Context(), iss.Token(t, with(func(c map[string]any) { c["scope"] = []string{"x", "y"} })))
	if err != nil || strings.Join(tok.Scope, ",") != "x,y" {
		t.Errorf("scope list: %v %v", tok.Scope, err)
	}
	if tok.Expiry.Unix() != now.Add(time.Minute).Unix() && tok.Expiry.Unix() != now.Add(time.Minute).Unix()+1 {
		t.Errorf("expiry %v", tok.Expiry)
	}
}

// unsigned is an "alg":"none" token (RFC 7519 section 6).
func unsigned(claims map[string]any) string {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	_ = claims
	return enc(`{"alg":"none"}`) + "." + enc(`{"sub":"alice"}`) + "."
}

// TestOAuthOptionalChecks: without an expected issuer or audience those claims are not
// checked; a custom sub claim names the principal.
func TestOAuthOptionalChecks(t *testing.T) {
	iss := oauthtest.New(t)
	v := newValidator(t, security.OAuthConfig{JWKSURL: iss.URL(), SubClaimName: "client_id"})
	c := iss.Claims("ignored", "whatever", time.Minute)
	c["client_id"] = "svc-orders"
	delete(c, "iss")
	tok, err := v.Validate(t.Context(), iss.Token(t, c))
	if err != nil || tok.Principal != "svc-orders" {
		t.Fatalf("got %+v, %v", tok, err)
	}
}

// TestOAuthJWKSRefresh: a token signed by a key added to the issuer's set after the broker
// fetched it is accepted after one on-demand fetch; a second unknown kid within the rate
// limit does not fetch again.
func TestOAuthJWKSRefresh(t *testing.T) {
	iss := oauthtest.New(t)
	v := newValidator(t, security.OAuthConfig{JWKSURL: iss.URL()})
	if n := iss.Fetches.Load(); n != 1 {
		t.Fatalf("%d fetches at start, want 1", n)
	}
	k2 := iss.AddKey(t, "k2")
	if _, err := v.Validate(t.Context(), oauthtest.Sign(t, k2, jose.ES256, "k2", iss.Claims("carol", "a", time.Minute))); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if n := iss.Fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after an unknown kid, want 2", n)
	}
	if _, err := v.Validate(t.Context(), oauthtest.Sign(t, k2, jose.ES256, "k3", iss.Claims("carol", "a", time.Minute))); err == nil {
		t.Fatal("unknown kid k3 accepted")
	}
	if n := iss.Fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2: unknown kids are rate limited", n)
	}
	// The periodic refresh.
	v2 := newValidator(t, security.OAuthConfig{JWKSURL: iss.URL(), JWKSRefresh: 20 * time.Millisecond})
	before := iss.Fetches.Load()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); v2.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for iss.Fetches.Load() < before+3 {
		if time.Now().After(deadline) {
			t.Fatalf("no periodic refresh: %d fetches", iss.Fetches.Load()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOAuthJWKSFile: a file: key set is read at start and re-read when it changes.
func TestOAuthJWKSFile(t *testing.T) {
	iss := oauthtest.New(t)
	dir := t.TempDir()
	u := iss.WriteFile(t, dir)
	v := newValidator(t, security.OAuthConfig{JWKSURL: u})
	if _, err := v.Validate(t.Context(), iss.Token(t, iss.Claims("alice", "a", time.Minute))); err != nil {
		t.Fatal(err)
	}
	k2 := iss.AddKey(t, "k2")
	tok := oauthtest.Sign(t, k2, jose.ES256, "k2", iss.Claims("carol", "a", time.Minute))
	if _, err := v.Validate(t.Context(), tok); err == nil {
		t.Fatal("k2 accepted before the file has it")
	}
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, iss.JWKS(), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(p, later, later)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := v.Validate(t.Context(), tok)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changed file not re-read: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := security.NewOAuthValidator(security.OAuthConfig{JWKSURL: "file://" + filepath.Join(dir, "missing.json")}); err == nil {
		t.Fatal("a missing jwks file was accepted")
	}
}

// TestOAuthBearerExchange: RFC 7628 framing, the error challenge and the authzid rule.
func TestOAuthBearerExchange(t *testing.T) {
	iss := oauthtest.New(t)
	v := newValidator(t, security.OAuthConfig{JWKSURL: iss.URL()})
	good := iss.Token(t, iss.Claims("alice", "a", time.Minute))
	msg := func(gs2, auth string, ext ...string) []byte {
		m := gs2 + "\x01auth=" + auth + "\x01"
		for _, e := range ext {
			m += e + "\x01"
		}
		return []byte(m + "\x01")
	}
	f := func(name string, m []byte, wantOK bool) {
		t.Helper()
		s := security.NewOAuthBearerServer(t.Context(), v)
		resp, done, err := s.Step(m)
		if wantOK {
			if err != nil || !done || len(resp) != 0 || s.User() != "alice" || s.Expiry().IsZero() {
				t.Errorf("%s: resp %q done %v err %v user %q", name, resp, done, err, s.User())
			}
			return
		}
		if err == nil && done {
			t.Errorf("%s: accepted", name)
		}
	}
	f("plain", msg("n,,", "Bearer "+good), true)
	f("scheme case", msg("n,,", "bearer "+good), true)
	f("authzid = sub", msg("n,a=alice,", "Bearer "+good), true)
	f("extensions", msg("n,,", "Bearer "+good, "traceId=123", "x=a b"), true)
	f("y flag", msg("y,,", "Bearer "+good), true)
	f("authzid != sub", msg("n,a=bob,", "Bearer "+good), false)
	f("channel binding", msg("p=tls-unique,,", "Bearer "+good), false)
	f("basic scheme", msg("n,,", "Basic "+good), false)
	f("no auth", []byte("n,,\x01x=1\x01\x01"), false)
	f("unterminated", []byte("n,,\x01auth=Bearer "+good+"\x01"), false)
	f("empty", nil, false)

	s := security.NewOAuthBearerServer(t.Context(), v)
	expired := iss.Token(t, iss.Claims("alice", "a", -time.Hour))
	resp, done, err := s.Step(msg("n,,", "Bearer "+expired))
	if err != nil || done || string(resp) != `{"status":"invalid_token"}` {
		t.Fatalf("refused token: resp %q done %v err %v", resp, done, err)
	}
	if _, _, err := s.Step([]byte{1}); !errors.Is(err, security.ErrInvalidToken) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after the error challenge: %v", err)
	}
}

func TestOAuthConfigValidate(t *testing.T) {
	f := func(u string, ok bool) {
		t.Helper()
		c := security.OAuthConfig{JWKSURL: u}
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("%q: %v", u, err)
		}
	}
	f("https://idp.example.com/jwks", true)
	f("http://127.0.0.1:1/jwks", true)
	f("file:///etc/strata/jwks.json", true)
	f("", false)
	f("ftp://x/y", false)
	f("https:///nohost", false)
	f("/etc/jwks.json", false)
}

// TestOAuthJWKSUnavailableAtStart: a key set that cannot be fetched at start refuses
// tokens (never accepts them) and Run keeps retrying with backoff until it arrives.
func TestOAuthJWKSUnavailableAtStart(t *testing.T) {
	iss := oauthtest.New(t)
	var up atomic.Bool
	var tries atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(iss.JWKS())
	}))
	t.Cleanup(srv.Close)
	v := newValidator(t, security.OAuthConfig{JWKSURL: srv.URL, JWKSRetryBackoff: 10 * time.Millisecond, JWKSRetryBackoffMax: 50 * time.Millisecond})
	tok := iss.Token(t, iss.Claims("alice", "a", time.Minute))
	if _, err := v.Validate(t.Context(), tok); !errors.Is(err, security.ErrInvalidToken) {
		t.Fatalf("without keys: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for tries.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries: %d", tries.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	up.Store(true)
	for {
		if _, err := v.Validate(t.Context(), tok); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the key set never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
