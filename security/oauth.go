package security

// OAUTHBEARER (RFC 7628, Kafka's KIP-255) with JWT validation as Kafka's broker does it
// (KIP-768, OAuthBearerValidatorCallbackHandler / BrokerJwtValidator):
//
//   - the token is a compact JWS (header.payload.signature) signed with an algorithm other
//     than "none" (RS*, PS*, ES*, EdDSA), verified against the JSON Web Key Set named by
//     sasl.oauthbearer.jwks.endpoint.url: the key whose "kid" is the token's (any key of
//     the right type when the token names none). A key with "use" other than "sig" or an
//     "alg" other than the token's is never used. Signatures are checked by go-jose
//     (github.com/go-jose/go-jose/v4); the claims are checked here.
//   - exp and iat are required; exp + skew must be after now and nbf (if present) - skew
//     before it (sasl.oauthbearer.clock.skew.seconds, default 30).
//   - iss must equal sasl.oauthbearer.expected.issuer when that is set; aud (a string or a
//     list) must contain one of sasl.oauthbearer.expected.audience when that is set. Unlike
//     jose4j, a token with an aud claim is accepted when no audience is configured.
//   - the claim named sasl.oauthbearer.sub.claim.name (default sub) is a non-blank string:
//     the principal is User:<it, trimmed>. The claim named sasl.oauthbearer.scope.claim.name
//     (default scope) is a string of space-separated scopes or a list of strings; it is
//     optional and carried on the token (Token.Scope), not used for authorization.
//
// Keys: an http(s) URL is fetched at start, every sasl.oauthbearer.jwks.endpoint.refresh.ms
// (retrying a failed fetch with backoff from ...retry.backoff.ms to ...retry.backoff.max.ms),
// and at once when a token names a kid the set does not hold (at most once per
// jwksMissRefresh, so unknown kids cannot make the broker hammer the issuer). A file: URL
// is re-read when its modification time changes (checked at most once a second). The last
// good set stays in use while fetches fail.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MechOAuthBearer is the SASL mechanism name.
const MechOAuthBearer = "OAUTHBEARER"

// ErrInvalidToken is the class of every token refusal; the wrapped text says why (it names
// claims and their values, never the token).
var ErrInvalidToken = errors.New("security: invalid oauth token")

// jwksMissRefresh bounds how often an unknown kid triggers a fetch of the key set.
const jwksMissRefresh = 10 * time.Second

// maxJWKSBytes bounds a key set document.
const maxJWKSBytes = 4 << 20

// jwtAlgorithms are the signature algorithms accepted ("none" and HMAC never are: a JWKS
// holds public keys).
var jwtAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// OAuthConfig configures token validation; field comments end with the default.
type OAuthConfig struct {
	// JWKSURL is where the key set is: https://, http:// or file:/path. Required.
	JWKSURL string
	// JWKSRefresh is how often an http(s) key set is fetched again; default 1 h.
	JWKSRefresh time.Duration
	// JWKSRetryBackoff and JWKSRetryBackoffMax bound the waits between failed fetches;
	// default 100 ms and 10 s.
	JWKSRetryBackoff, JWKSRetryBackoffMax time.Duration
	// ExpectedAudience: one of them must be in aud; empty = aud not checked.
	ExpectedAudience []string
	// ExpectedIssuer must equal iss; "" = iss not checked.
	ExpectedIssuer string
	// SubClaimName names the principal's claim; default "sub".
	SubClaimName string
	// ScopeClaimName names the scope claim; default "scope".
	ScopeClaimName string
	// ClockSkew is allowed on exp and nbf; default 30 s (negative: none).
	ClockSkew time.Duration
	// HTTPClient fetches the key set; nil = a client with a 10 s timeout.
	HTTPClient *http.Client
	// Logger; nil = discard.
	Logger *slog.Logger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// Validate checks the configuration.
func (c *OAuthConfig) Validate() error {
	u, err := url.Parse(c.JWKSURL)
	if err != nil || c.JWKSURL == "" {
		return fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url %q is not a URL", c.JWKSURL)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url %q has no host", c.JWKSURL)
		}
	case "file":
		if filePath(u) == "" {
			return fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url %q has no path", c.JWKSURL)
		}
	default:
		return fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url %q: scheme must be https, http or file", c.JWKSURL)
	}
	if c.JWKSRefresh < 0 || c.JWKSRetryBackoff < 0 || c.JWKSRetryBackoffMax < 0 {
		return errors.New("sasl.oauthbearer.jwks.endpoint durations must not be negative")
	}
	return nil
}

func filePath(u *url.URL) string {
	if u.Path != "" {
		return u.Path
	}
	return u.Opaque
}

// OAuthToken is a validated token.
type OAuthToken struct {
	Principal string    // the sub claim (or the configured one), trimmed
	Scope     []string  // the scope claim's scopes; nil when absent
	Expiry    time.Time // exp
	IssuedAt  time.Time // iat
}

// OAuthValidator validates bearer tokens against a key set it keeps fresh. Safe for
// concurrent use; Run keeps an http(s) key set refreshed.
type OAuthValidator struct {
	cfg    OAuthConfig
	url    *url.URL
	log    *slog.Logger
	client *http.Client
	keys   atomic.Pointer[jwks]

	fetchMu   sync.Mutex // one fetch or file read at a time
	lastMiss  time.Time  // fetchMu: last fetch for an unknown kid
	fileMod   time.Time  // fetchMu: modification time of the file read last
	fileCheck time.Time  // fetchMu: when the file's modification time was last looked at
}

// jwks is one fetched key set.
type jwks struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// NewOAuthValidator checks cfg and loads the key set once: a file must be readable; a
// failed fetch is logged and retried by Run (tokens are refused until keys arrive).
func NewOAuthValidator(cfg OAuthConfig) (*OAuthValidator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.JWKSRefresh == 0 {
		cfg.JWKSRefresh = time.Hour
	}
	if cfg.JWKSRetryBackoff == 0 {
		cfg.JWKSRetryBackoff = 100 * time.Millisecond
	}
	if cfg.JWKSRetryBackoffMax == 0 {
		cfg.JWKSRetryBackoffMax = 10 * time.Second
	}
	if cfg.SubClaimName == "" {
		cfg.SubClaimName = "sub"
	}
	if cfg.ScopeClaimName == "" {
		cfg.ScopeClaimName = "scope"
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 30 * time.Second
	} else if cfg.ClockSkew < 0 {
		cfg.ClockSkew = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &OAuthValidator{cfg: cfg, log: cfg.Logger, client: cfg.HTTPClient}
	if v.log == nil {
		v.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	v.url, _ = url.Parse(cfg.JWKSURL)
	if v.url.Scheme == "file" {
		v.fetchMu.Lock()
		err := v.reloadFileLocked(true)
		v.fetchMu.Unlock()
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.fetch(ctx); err != nil {
		v.log.Warn("cannot fetch the jwks; oauthbearer tokens are refused until it is fetched", "url", cfg.JWKSURL, "err", err)
	}
	return v, nil
}

// Run refreshes an http(s) key set every JWKSRefresh until ctx ends, retrying a failed
// fetch with backoff. For a file it returns at once (the file is checked on use).
func (v *OAuthValidator) Run(ctx context.Context) {
	if v.url.Scheme == "file" {
		return
	}
	backoff := time.Duration(0)
	for {
		wait := v.cfg.JWKSRefresh
		if backoff > 0 {
			wait = backoff
		} else if v.keys.Load() == nil {
			wait = v.cfg.JWKSRetryBackoff
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := v.fetch(fctx)
		cancel()
		if err == nil {
			backoff = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		backoff = min(max(2*backoff, v.cfg.JWKSRetryBackoff), v.cfg.JWKSRetryBackoffMax)
		v.log.Warn("cannot refresh the jwks; keeping the last one", "url", v.cfg.JWKSURL, "err", err, "retry_in", backoff)
	}
}

// fetch gets the key set over http(s) and installs it.
func (v *OAuthValidator) fetch(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	return v.fetchLocked(ctx)
}

func (v *OAuthValidator) fetchLocked(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("cannot fetch jwks %q: %w", v.cfg.JWKSURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot fetch jwks %q: %w", v.cfg.JWKSURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cannot fetch jwks %q: status %s", v.cfg.JWKSURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("cannot read jwks %q: %w", v.cfg.JWKSURL, err)
	}
	return v.install(body)
}

// reloadFileLocked re-reads a file key set when its modification time changed (looked at
// at most once a second unless force).
func (v *OAuthValidator) reloadFileLocked(force bool) error {
	now := time.Now()
	if !force && now.Sub(v.fileCheck) < time.Second {
		return nil
	}
	v.fileCheck = now
	p := filePath(v.url)
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("cannot stat jwks file %q: %w", p, err)
	}
	if !force && st.ModTime().Equal(v.fileMod) {
		return nil
	}
	body, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("cannot read jwks file %q: %w", p, err)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("jwks file %q is over %d bytes", p, maxJWKSBytes)
	}
	if err := v.install(body); err != nil {
		return err
	}
	v.fileMod = st.ModTime()
	return nil
}

// install parses a JWKS document and makes it the current set. Keys of types go-jose does
// not know, private keys and keys not meant for signatures are skipped, not fatal.
func (v *OAuthValidator) install(body []byte) error {
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("jwks %q is over %d bytes", v.cfg.JWKSURL, maxJWKSBytes)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("cannot parse jwks %q: %w", v.cfg.JWKSURL, err)
	}
	set := &jwks{fetched: time.Now()}
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			v.log.Debug("jwks key skipped", "url", v.cfg.JWKSURL, "err", err)
			continue
		}
		if !k.Valid() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if !k.IsPublic() {
			k = k.Public() // never verify with (or keep) private material
		}
		set.keys = append(set.keys, k)
	}
	if len(doc.Keys) > 0 && len(set.keys) == 0 {
		return fmt.Errorf("jwks %q holds no usable signature key", v.cfg.JWKSURL)
	}
	v.keys.Store(set)
	v.log.Debug("jwks loaded", "url", v.cfg.JWKSURL, "keys", len(set.keys))
	return nil
}

// keysFor returns the candidate keys for kid ("" = every key), refreshing the set once
// when kid is unknown (rate limited) or a file changed.
func (v *OAuthValidator) keysFor(ctx context.Context, kid string) []jose.JSONWebKey {
	if v.url.Scheme == "file" {
		v.fetchMu.Lock()
		if err := v.reloadFileLocked(false); err != nil {
			v.log.Warn("cannot reload the jwks file; keeping the last one", "err", err)
		}
		v.fetchMu.Unlock()
	}
	match := func() []jose.JSONWebKey {
		set := v.keys.Load()
		if set == nil {
			return nil
		}
		if kid == "" {
			return set.keys
		}
		var out []jose.JSONWebKey
		for _, k := range set.keys {
			if k.KeyID == kid {
				out = append(out, k)
			}
		}
		return out
	}
	if ks := match(); len(ks) > 0 || v.url.Scheme == "file" {
		return ks
	}
	v.fetchMu.Lock()
	if time.Since(v.lastMiss) >= jwksMissRefresh {
		v.lastMiss = time.Now()
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := v.fetchLocked(fctx); err != nil {
			v.log.Warn("cannot fetch the jwks for an unknown key id", "kid", kid, "err", err)
		}
		cancel()
	}
	v.fetchMu.Unlock()
	return match()
}

// Validate checks a compact JWS token and returns its principal, scope and lifetime; a
// refusal wraps ErrInvalidToken.
func (v *OAuthValidator) Validate(ctx context.Context, token string) (OAuthToken, error) {
	bad := func(format string, args ...any) (OAuthToken, error) {
		return OAuthToken{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
	}
	if strings.Count(token, ".") != 2 {
		return bad("not a compact JWS (header.payload.signature)")
	}
	jws, err := jose.ParseSignedCompact(token, jwtAlgorithms)
	if err != nil {
		return bad("cannot parse: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return bad("%d signatures", len(jws.Signatures))
	}
	hdr := jws.Signatures[0].Header
	var payload []byte
	for _, k := range v.keysFor(ctx, hdr.KeyID) {
		if k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
			continue
		}
		if p, err := jws.Verify(&k); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		if hdr.KeyID != "" {
			return bad("no key with kid %q in the jwks verifies the %s signature", hdr.KeyID, hdr.Algorithm)
		}
		return bad("no key in the jwks verifies the %s signature", hdr.Algorithm)
	}
	return v.checkClaims(payload)
}

// checkClaims applies Kafka's claim rules to a verified payload.
func (v *OAuthValidator) checkClaims(payload []byte) (OAuthToken, error) {
	bad := func(format string, args ...any) (OAuthToken, error) {
		return OAuthToken{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return bad("claims are not a JSON object: %v", err)
	}
	now := v.cfg.Now()
	skew := v.cfg.ClockSkew
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return bad("%v", err)
	}
	if !ok {
		return bad("no exp claim")
	}
	if !now.Before(exp.Add(skew)) {
		return bad("expired at %s (now %s, clock skew %s)", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
	}
	iat, ok, err := numericDate(claims, "iat")
	if err != nil {
		return bad("%v", err)
	}
	if !ok {
		return bad("no iat claim")
	}
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil {
		return bad("%v", err)
	} else if ok && now.Before(nbf.Add(-skew)) {
		return bad("not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	if want := v.cfg.ExpectedIssuer; want != "" {
		if iss, _ := claims["iss"].(string); iss != want {
			return bad("issuer %q is not the expected %q", iss, want)
		}
	}
	if len(v.cfg.ExpectedAudience) > 0 {
		auds, err := stringOrList(claims["aud"], "aud")
		if err != nil {
			return bad("%v", err)
		}
		found := false
		for _, a := range auds {
			for _, w := range v.cfg.ExpectedAudience {
				found = found || a == w
			}
		}
		if !found {
			return bad("audience %q holds none of the expected %q", auds, v.cfg.ExpectedAudience)
		}
	}
	subRaw, present := claims[v.cfg.SubClaimName]
	sub, isString := subRaw.(string)
	sub = strings.TrimSpace(sub)
	if !present || !isString || sub == "" {
		return bad("claim %q is missing, not a string or blank", v.cfg.SubClaimName)
	}
	tok := OAuthToken{Principal: sub, Expiry: exp, IssuedAt: iat}
	if raw, ok := claims[v.cfg.ScopeClaimName]; ok {
		var scopes []string
		switch s := raw.(type) {
		case string:
			scopes = strings.Fields(s)
		default:
			list, err := stringOrList(raw, v.cfg.ScopeClaimName)
			if err != nil {
				return bad("%v", err)
			}
			for _, e := range list {
				if e = strings.TrimSpace(e); e == "" {
					return bad("claim %q holds a blank scope", v.cfg.ScopeClaimName)
				}
				scopes = append(scopes, e)
			}
		}
		tok.Scope = scopes
	}
	return tok, nil
}

// numericDate reads a NumericDate claim (seconds since the epoch, possibly fractional).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	raw, ok := claims[name]
	if !ok || raw == nil {
		return time.Time{}, false, nil
	}
	n, isNum := raw.(json.Number)
	if !isNum {
		return time.Time{}, false, fmt.Errorf("claim %q is not a number", name)
	}
	f, err := n.Float64()
	if err != nil || f < 0 || math.IsInf(f, 0) || f > 1e12 {
		return time.Time{}, false, fmt.Errorf("claim %q is not a valid date", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// stringOrList reads a claim that is a string or a list of strings.
func stringOrList(raw any, name string) ([]string, error) {
	switch x := raw.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("claim %q holds a non-string", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("claim %q is neither a string nor a list", name)
}
