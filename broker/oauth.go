package broker

// SASL/OAUTHBEARER configuration and the validator's lifecycle. The mechanism itself (RFC
// 7628 framing, JWT and JWKS rules) is security.OAuthBearerServer / security.OAuthValidator;
// re-authentication (KIP-368) for every mechanism is in sasl.go.
//
//   sasl.enabled.mechanisms=OAUTHBEARER,SCRAM-SHA-512
//   sasl.oauthbearer.jwks.endpoint.url=https://idp.example.com/oauth2/v1/keys   (or file:/etc/strata/jwks.json)
//   sasl.oauthbearer.expected.issuer=https://idp.example.com
//   sasl.oauthbearer.expected.audience=strata,kafka
//   sasl.oauthbearer.sub.claim.name=sub
//   connections.max.reauth.ms=3600000
//
// Unlike Kafka, no JAAS file or callback handler class is needed: enabling OAUTHBEARER
// without a JWKS URL is a configuration error (Kafka would fall back to its unsecured,
// unsigned-token validator, which Strata does not offer).

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/strata-io/strata/security"
)

// OAuthConfig is the OAUTHBEARER and re-authentication part of SecurityConfig (embedded).
type OAuthConfig struct {
	ConnectionsMaxReauth     time.Duration // connections.max.reauth.ms; default 0 (sessions do not expire unless a token does)
	OAuthJWKSURL             string        // sasl.oauthbearer.jwks.endpoint.url; default ""
	OAuthJWKSRefresh         time.Duration // sasl.oauthbearer.jwks.endpoint.refresh.ms; default 1 h
	OAuthJWKSRetryBackoff    time.Duration // sasl.oauthbearer.jwks.endpoint.retry.backoff.ms; default 100 ms
	OAuthJWKSRetryBackoffMax time.Duration // sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms; default 10 s
	OAuthExpectedAudience    string        // sasl.oauthbearer.expected.audience; default "" (comma-separated list)
	OAuthExpectedIssuer      string        // sasl.oauthbearer.expected.issuer; default ""
	OAuthSubClaimName        string        // sasl.oauthbearer.sub.claim.name; default sub
	OAuthScopeClaimName      string        // sasl.oauthbearer.scope.claim.name; default scope
	OAuthClockSkewSeconds    int32         // sasl.oauthbearer.clock.skew.seconds; default 30
}

var oauthKeys = []brokerKey{
	durKey("connections.max.reauth.ms", "0", "KIP-368: the longest a SASL session lasts before the client must re-authenticate on the same connection; 0 = only an OAUTHBEARER token's expiry limits it. Clients using SaslAuthenticate v1+ are told the session lifetime (the smaller of this and the token's remaining lifetime) and a request other than a re-authentication on an expired session closes the connection. Per listener: listener.name.<l>.[<mechanism>.]connections.max.reauth.ms.",
		func(c *Config) *time.Duration { return &c.ConnectionsMaxReauth }),
	strKey("sasl.oauthbearer.jwks.endpoint.url", "", "OAUTHBEARER: the JSON Web Key Set that signs access tokens, https://, http:// or file: (a file is re-read when it changes). Required when OAUTHBEARER is enabled.",
		func(c *Config) *string { return &c.OAuthJWKSURL }),
	durKey("sasl.oauthbearer.jwks.endpoint.refresh.ms", "3600000", "OAUTHBEARER: how often the JWKS URL is fetched again (also fetched at once, at most every 10 s, for a token whose kid is unknown).",
		func(c *Config) *time.Duration { return &c.OAuthJWKSRefresh }),
	durKey("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", "100", "OAUTHBEARER: first wait before retrying a failed JWKS fetch (doubling).",
		func(c *Config) *time.Duration { return &c.OAuthJWKSRetryBackoff }),
	durKey("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", "10000", "OAUTHBEARER: longest wait between JWKS fetch retries.",
		func(c *Config) *time.Duration { return &c.OAuthJWKSRetryBackoffMax }),
	strKey("sasl.oauthbearer.expected.audience", "", "OAUTHBEARER: comma-separated audiences; a token's aud must hold one of them (empty: aud not checked).",
		func(c *Config) *string { return &c.OAuthExpectedAudience }),
	strKey("sasl.oauthbearer.expected.issuer", "", "OAUTHBEARER: a token's iss must equal it (empty: iss not checked).",
		func(c *Config) *string { return &c.OAuthExpectedIssuer }),
	strKey("sasl.oauthbearer.sub.claim.name", "sub", "OAUTHBEARER: the claim holding the principal name (User:<value>).",
		func(c *Config) *string { return &c.OAuthSubClaimName }),
	strKey("sasl.oauthbearer.scope.claim.name", "scope", "OAUTHBEARER: the claim holding the token's scopes (a space-separated string or a list; optional).",
		func(c *Config) *string { return &c.OAuthScopeClaimName }),
	i32Key("sasl.oauthbearer.clock.skew.seconds", "30", "OAUTHBEARER: clock difference allowed with the issuer when checking exp and nbf.",
		func(c *Config) *int32 { return &c.OAuthClockSkewSeconds }),
}

// oauthEnabled reports whether any listener offers OAUTHBEARER.
func (c *Config) oauthEnabled() bool {
	pm, err := c.protocolMap()
	if err != nil {
		return false
	}
	specs, err := parseListeners(c.Listeners, pm)
	if err != nil {
		return false
	}
	for _, s := range specs {
		if !s.sasl() {
			continue
		}
		mechs, _ := c.forListener(s.name).saslMechanisms()
		for _, m := range mechs {
			if m == security.MechOAuthBearer {
				return true
			}
		}
	}
	return false
}

// oauthSettings is the validator's configuration.
func (c *Config) oauthSettings() security.OAuthConfig {
	var aud []string
	for a := range strings.SplitSeq(c.OAuthExpectedAudience, ",") {
		if a = strings.TrimSpace(a); a != "" {
			aud = append(aud, a)
		}
	}
	skew := time.Duration(c.OAuthClockSkewSeconds) * time.Second
	if skew == 0 {
		skew = -1 // none (security's zero means its default)
	}
	return security.OAuthConfig{
		JWKSURL:             c.OAuthJWKSURL,
		JWKSRefresh:         c.OAuthJWKSRefresh,
		JWKSRetryBackoff:    c.OAuthJWKSRetryBackoff,
		JWKSRetryBackoffMax: c.OAuthJWKSRetryBackoffMax,
		ExpectedAudience:    aud,
		ExpectedIssuer:      c.OAuthExpectedIssuer,
		SubClaimName:        c.OAuthSubClaimName,
		ScopeClaimName:      c.OAuthScopeClaimName,
		ClockSkew:           skew,
		Logger:              c.Logger,
	}
}

// validateOAuth checks the OAUTHBEARER keys when the mechanism is enabled.
func (c *Config) validateOAuth(bad func(key, format string, args ...any)) {
	if c.OAuthClockSkewSeconds < 0 {
		bad("sasl.oauthbearer.clock.skew.seconds", "must be >= 0, got %d", c.OAuthClockSkewSeconds)
	}
	if !c.oauthEnabled() {
		return
	}
	if c.OAuthJWKSURL == "" {
		bad("sasl.oauthbearer.jwks.endpoint.url", "OAUTHBEARER is enabled: set the JWKS that signs the tokens (https://... or file:...)")
		return
	}
	s := c.oauthSettings()
	if err := s.Validate(); err != nil {
		bad("sasl.oauthbearer.jwks.endpoint.url", "%v", err)
	}
}

// openOAuth creates the token validator when a listener offers OAUTHBEARER.
func (b *Broker) openOAuth() error {
	if !b.cfg.oauthEnabled() {
		return nil
	}
	s := b.cfg.oauthSettings()
	s.Logger = b.logger
	v, err := security.NewOAuthValidator(s)
	if err != nil {
		return err
	}
	b.oauth = v
	return nil
}

// runOAuth keeps the JWKS fresh until ctx ends.
func (b *Broker) runOAuth(ctx context.Context) {
	if b.oauth != nil {
		b.oauth.Run(ctx)
	}
}

// mechReauthSuffix is the per-mechanism form of connections.max.reauth.ms, as Kafka's
// listener.name.<listener>.<mechanism>.connections.max.reauth.ms.
const mechReauthSuffix = ".connections.max.reauth.ms"

// isMechReauthKey reports whether k is <mechanism>.connections.max.reauth.ms.
func isMechReauthKey(k string) bool {
	mech, ok := strings.CutSuffix(strings.ToLower(k), mechReauthSuffix)
	if !ok {
		return false
	}
	switch strings.ToUpper(mech) {
	case security.MechPlain, security.MechSCRAM256, security.MechSCRAM512, security.MechOAuthBearer:
		return true
	}
	return false
}

// validateMechReauth checks the listener's [<mechanism>.]connections.max.reauth.ms values
// (forListener cannot report a bad one).
func (c *Config) validateMechReauth(listener string, bad func(key, format string, args ...any)) {
	for k, v := range c.ListenerOverrides[strings.ToUpper(listener)] {
		if k != "connections.max.reauth.ms" && !strings.HasSuffix(k, mechReauthSuffix) {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil || n < 0 || n > longMax/int64(time.Millisecond) {
			bad("listener.name."+strings.ToLower(listener)+"."+k, "must be a number of milliseconds >= 0, got %q", v)
		}
	}
}

// maxReauth is connections.max.reauth.ms for mech on listener l: the listener's
// per-mechanism value, else its own, else the broker's.
func (l *listener) maxReauth(mech string) time.Duration {
	if v, ok := l.cfg.ListenerOverrides[l.spec.name][strings.ToLower(mech)+mechReauthSuffix]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			return time.Duration(n) * time.Millisecond
		}
	}
	return l.cfg.ConnectionsMaxReauth
}
