// Package oauthtest is a test OAuth issuer: an RSA signing key, its JSON Web Key Set served
// by an httptest server on a loopback port (or written to a file), and signed JWT access
// tokens with the claims a test chooses. Tokens are signed with go-jose, the library the
// broker verifies with, but through the public JWS format only.
package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuer signs tokens and serves its key set.
type Issuer struct {
	Key     *rsa.PrivateKey
	KID     string
	Issuer  string // the iss of Claims
	Fetches atomic.Int64

	mu   sync.Mutex
	keys []jose.JSONWebKey // served
	srv  *httptest.Server
}

// New starts an issuer whose JWKS (one RS256 key, kid "k1") is served until the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i := &Issuer{Key: k, KID: "k1", Issuer: "https://issuer.test"}
	i.keys = []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: i.KID, Algorithm: string(jose.RS256), Use: "sig"}}
	i.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.Fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(i.JWKS())
	}))
	t.Cleanup(i.srv.Close)
	return i
}

// URL is the JWKS endpoint (sasl.oauthbearer.jwks.endpoint.url).
func (i *Issuer) URL() string { return i.srv.URL + "/jwks.json" }

// JWKS is the key set document served now.
func (i *Issuer) JWKS() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: i.keys})
	if err != nil {
		panic(err)
	}
	return b
}

// WriteFile writes the key set to dir/jwks.json and returns its file: URL.
func (i *Issuer) WriteFile(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, i.JWKS(), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// AddKey generates another key with kid, serves it beside the others and returns it.
func (i *Issuer) AddKey(t testing.TB, kid string) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	i.mu.Lock()
	i.keys = append(i.keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"})
	i.mu.Unlock()
	return k
}

// Claims are the usual claims for sub: iss, aud, iat now, exp after ttl.
func (i *Issuer) Claims(sub, aud string, ttl time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{
		"sub": sub, "iss": i.Issuer, "aud": aud, "scope": "kafka produce",
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
}

// Token signs claims with the issuer's key (RS256, its kid).
func (i *Issuer) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	return Sign(t, i.Key, jose.RS256, i.KID, claims)
}

// Sign signs claims as a compact JWS with key, alg and kid ("" = no kid header).
func Sign(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
