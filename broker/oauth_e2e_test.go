package broker

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-io/strata/security"
	"github.com/strata-io/strata/security/oauthtest"
)

// startOAuthBroker runs a broker with a PLAINTEXT listener (User:ANONYMOUS, super user: the
// test's admin) and a SASL_PLAINTEXT one offering OAUTHBEARER, SCRAM-SHA-512 and PLAIN,
// tokens checked against iss's JWKS, issuer and audience "strata", ACLs on.
func startOAuthBroker(t *testing.T, iss *oauthtest.Issuer, extra map[string]string) *secBroker {
	t.Helper()
	props := map[string]string{
		"listeners":                          "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms":            "OAUTHBEARER,SCRAM-SHA-512,PLAIN",
		"sasl.oauthbearer.jwks.endpoint.url": iss.URL(),
		"sasl.oauthbearer.expected.issuer":   iss.Issuer,
		"sasl.oauthbearer.expected.audience": "strata",
		"authorizer.class.name":              "strata",
		"super.users":                        "User:ANONYMOUS",
		"group.initial.rebalance.delay.ms":   "0",
	}
	for k, v := range extra {
		props[k] = v
	}
	return startSecureBrokerProps(t, props)
}

// rfcOAuth is OAUTHBEARER as RFC 7628 and Kafka's Java client run it: on the server's
// error challenge the client answers %x01 and the broker fails the exchange with
// SASL_AUTHENTICATION_FAILED (franz-go's own mechanism gives up locally instead).
type rfcOAuth struct{ sasl.Mechanism }

type rfcSession struct{ sasl.Session }

func (m rfcOAuth) Authenticate(ctx context.Context, host string) (sasl.Session, []byte, error) {
	s, first, err := m.Mechanism.Authenticate(ctx, host)
	return rfcSession{s}, first, err
}

func (s rfcSession) Challenge(resp []byte) (bool, []byte, error) {
	if len(resp) > 0 {
		return false, []byte{1}, nil
	}
	return s.Session.Challenge(resp)
}

func oauthClient(t *testing.T, addr string, tokenFn func() string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	mech := rfcOAuth{oauth.Oauth(func(context.Context) (oauth.Auth, error) { return oauth.Auth{Token: tokenFn()}, nil })}
	return newKgo(t, addr, append([]kgo.Opt{kgo.SASL(mech)}, opts...)...)
}

// TestOAuthBearerEndToEnd: franz-go authenticates with a token signed by the test JWKS;
// the sub claim is the principal the ACLs apply to; tokens with a wrong audience, issuer
// or signature, or expired, fail with SASL_AUTHENTICATION_FAILED.
func TestOAuthBearerEndToEnd(t *testing.T) {
	iss := oauthtest.New(t)
	s := startOAuthBroker(t, iss, nil)
	admCl := newKgo(t, s.addr("PLAINTEXT"))
	adm := kadm.NewClient(admCl)
	ctx := t.Context()
	for _, topic := range []string{"orders", "secret"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	acls := kadm.NewACLs().Allow("User:alice").ResourcePatternType(kadm.ACLPatternLiteral).
		Topics("orders").Operations(kadm.OpWrite, kadm.OpRead, kadm.OpDescribe)
	if res, err := adm.CreateACLs(ctx, acls); err != nil || res[0].Err != nil {
		t.Fatalf("create acls: %v %v", err, res)
	}

	alice := oauthClient(t, s.addr("SASL_PLAINTEXT"), func() string {
		return iss.Token(t, iss.Claims("alice", "strata", time.Hour))
	})
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("v1")}).FirstErr(); err != nil {
		t.Fatalf("alice produce to orders: %v", err)
	}
	err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("v1")}).FirstErr()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produce to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	bob := oauthClient(t, s.addr("SASL_PLAINTEXT"), func() string {
		return iss.Token(t, iss.Claims("bob", "strata", time.Hour))
	})
	if err := bob.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("v1")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob produce to orders: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if got := counterValue(t, s.reg, "strata_sasl_authentications_total", "OAUTHBEARER", "success"); got < 2 {
		t.Fatalf("successful OAUTHBEARER authentications: %v", got)
	}

	f := func(name string, claims map[string]any, sign func(map[string]any) string) {
		t.Helper()
		cl := oauthClient(t, s.addr("SASL_PLAINTEXT"), func() string { return sign(claims) })
		err := cl.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}
	signed := func(c map[string]any) string { return iss.Token(t, c) }
	other := oauthtest.New(t) // same kid, another key
	f("wrong audience", iss.Claims("alice", "other", time.Hour), signed)
	wrongIss := iss.Claims("alice", "strata", time.Hour)
	wrongIss["iss"] = "https://evil.test"
	f("wrong issuer", wrongIss, signed)
	f("wrong signature", iss.Claims("alice", "strata", time.Hour), func(c map[string]any) string { return other.Token(t, c) })
	f("expired", iss.Claims("alice", "strata", -time.Hour), signed)
	if !strings.Contains(s.logs.String(), "audience") || strings.Contains(s.logs.String(), signed(iss.Claims("alice", "strata", time.Hour))[:40]) {
		t.Errorf("the failure log should name the reason and never the token")
	}
	if got := counterValue(t, s.reg, "strata_sasl_authentications_total", "OAUTHBEARER", "failure"); got < 4 {
		t.Fatalf("failed OAUTHBEARER authentications: %v", got)
	}
}

// TestOAuthBearerReauthentication: franz-go, given a token that expires in a few seconds,
// re-authenticates on the same connections (KIP-368) before the broker's session ends and
// keeps producing across several token lifetimes; the broker never has to close an expired
// session. SCRAM sessions re-authenticate the same way under connections.max.reauth.ms.
func TestOAuthBearerReauthentication(t *testing.T) {
	iss := oauthtest.New(t)
	s := startOAuthBroker(t, iss, map[string]string{"connections.max.reauth.ms": "3000"})
	adm := kadm.NewClient(newKgo(t, s.addr("PLAINTEXT")))
	ctx := t.Context()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "reauth"); err != nil {
		t.Fatal(err)
	}
	if res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").ResourcePatternType(kadm.ACLPatternLiteral).
		Topics("reauth").Operations(kadm.OpWrite, kadm.OpDescribe)); err != nil || res[0].Err != nil {
		t.Fatalf("create acls: %v %v", err, res)
	}
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "pw-alice"}}); err != nil {
		t.Fatal(err)
	}
	var tokens atomic.Int64
	oauthCl := oauthClient(t, s.addr("SASL_PLAINTEXT"), func() string {
		tokens.Add(1)
		return iss.Token(t, iss.Claims("alice", "strata", 4*time.Second)) // session: 3-4 s
	})
	scramCl := newKgo(t, s.addr("SASL_PLAINTEXT"), kgo.SASL(scram.Auth{User: "alice", Pass: "pw-alice"}.AsSha512Mechanism()))
	start := time.Now()
	n := 0
	for time.Since(start) < 10*time.Second {
		for name, cl := range map[string]*kgo.Client{"oauth": oauthCl, "scram": scramCl} {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte(name)}).FirstErr(); err != nil {
				t.Fatalf("%s produce %d at %v: %v", name, n, time.Since(start), err)
			}
		}
		n++
		time.Sleep(200 * time.Millisecond)
	}
	if got := counterValue(t, s.reg, "strata_sasl_reauthentications_total", "OAUTHBEARER", "success"); got < 2 {
		t.Fatalf("OAUTHBEARER re-authentications: %v, want >= 2 in 10 s of 3-4 s sessions", got)
	}
	if got := counterValue(t, s.reg, "strata_sasl_reauthentications_total", "SCRAM-SHA-512", "success"); got < 2 {
		t.Fatalf("SCRAM re-authentications: %v, want >= 2 in 10 s of 3 s sessions", got)
	}
	if tokens.Load() < 3 {
		t.Fatalf("%d tokens asked for", tokens.Load())
	}
	if got := counterValue(t, s.reg, "strata_sasl_expired_sessions_closed_total"); got != 0 {
		t.Fatalf("%v sessions closed as expired; the client re-authenticates in time", got)
	}
}

// TestSASLSessionExpiry drives KIP-368 by hand: the session lifetime sent to the client,
// re-authentication after expiry, the principal and mechanism rules, nothing but
// SaslAuthenticate during a re-authentication, and a client that does not re-authenticate
// disconnected on its first request after expiry.
func TestSASLSessionExpiry(t *testing.T) {
	iss := oauthtest.New(t)
	s := startOAuthBroker(t, iss, nil)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", s.addr("SASL_PLAINTEXT"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}
	handshake := func(c net.Conn, mech string) {
		t.Helper()
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, mech
		resp := kmsg.NewPtrSASLHandshakeResponse()
		resp.Version = 1
		if err := resp.ReadFrom(roundTrip(t, c, hs, 1)); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("handshake: %v %d", err, resp.ErrorCode)
		}
	}
	authenticate := func(c net.Conn, token []byte) *kmsg.SASLAuthenticateResponse {
		t.Helper()
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.Version = 2
		auth.SASLAuthBytes = token
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		resp.Version = 2
		if err := resp.ReadFrom(roundTrip(t, c, auth, 2)); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	bearer := func(sub string, ttl time.Duration) []byte {
		return []byte("n,,\x01auth=Bearer " + iss.Token(t, iss.Claims(sub, "strata", ttl)) + "\x01\x01")
	}
	metadata := func(c net.Conn) {
		t.Helper()
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 1
		roundTrip(t, c, md, 9)
	}
	login := func(sub string, ttl time.Duration) (net.Conn, time.Time) {
		t.Helper()
		c := dial()
		handshake(c, "OAUTHBEARER")
		before := time.Now()
		r := authenticate(c, bearer(sub, ttl))
		if r.ErrorCode != 0 || r.SessionLifetimeMillis <= 0 || r.SessionLifetimeMillis > ttl.Milliseconds() {
			t.Fatalf("authenticate: code %d lifetime %d ms (token ttl %v)", r.ErrorCode, r.SessionLifetimeMillis, ttl)
		}
		return c, before.Add(time.Duration(r.SessionLifetimeMillis) * time.Millisecond)
	}
	waitPast := func(at time.Time) {
		time.Sleep(time.Until(at) + 200*time.Millisecond)
	}

	t.Run("no re-authentication: closed after expiry", func(t *testing.T) {
		c, expiry := login("alice", 3*time.Second)
		metadata(c)
		waitPast(expiry)
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 1
		c.Write(encodeRequest(md, 3, "raw"))
		expectClosed(t, c)
		if got := counterValue(t, s.reg, "strata_sasl_expired_sessions_closed_total"); got < 1 {
			t.Fatalf("expired sessions closed: %v", got)
		}
	})
	t.Run("re-authentication after expiry", func(t *testing.T) {
		c, expiry := login("alice", 3*time.Second)
		waitPast(expiry)
		handshake(c, "OAUTHBEARER")
		if r := authenticate(c, bearer("alice", time.Hour)); r.ErrorCode != 0 || r.SessionLifetimeMillis < 50*60*1000 {
			t.Fatalf("re-authenticate: %d, lifetime %d", r.ErrorCode, r.SessionLifetimeMillis)
		}
		metadata(c)
	})
	t.Run("another principal", func(t *testing.T) {
		c, _ := login("alice", time.Hour)
		handshake(c, "OAUTHBEARER")
		r := authenticate(c, bearer("mallory", time.Hour))
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, "Cannot change principals") {
			t.Fatalf("re-authenticate as another: %d %v", r.ErrorCode, r.ErrorMessage)
		}
		expectClosed(t, c)
	})
	t.Run("another mechanism", func(t *testing.T) {
		c, _ := login("alice", time.Hour)
		handshake(c, "PLAIN")
		r := authenticate(c, []byte("\x00alice\x00x"))
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("re-authenticate with PLAIN: %d", r.ErrorCode)
		}
		expectClosed(t, c)
	})
	t.Run("request during re-authentication", func(t *testing.T) {
		c, _ := login("alice", time.Hour)
		handshake(c, "OAUTHBEARER")
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 1
		c.Write(encodeRequest(md, 3, "raw"))
		expectClosed(t, c)
	})
	t.Run("refused token: challenge, then failure", func(t *testing.T) {
		c := dial()
		handshake(c, "OAUTHBEARER")
		r := authenticate(c, bearer("alice", -time.Hour))
		if r.ErrorCode != 0 || string(r.SASLAuthBytes) != `{"status":"invalid_token"}` {
			t.Fatalf("first answer: %d %q", r.ErrorCode, r.SASLAuthBytes)
		}
		r = authenticate(c, []byte{1})
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("after %%x01: %d", r.ErrorCode)
		}
		expectClosed(t, c)
	})
}

func TestOAuthConfigKeys(t *testing.T) {
	f := func(props map[string]string, wantErr string) {
		t.Helper()
		all := map[string]string{"listeners": "SASL_PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()}
		for k, v := range props {
			all[k] = v
		}
		_, err := ParseConfig(all)
		if (err == nil) != (wantErr == "") || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("%v: %v, want %q", props, err, wantErr)
		}
	}
	f(map[string]string{"sasl.enabled.mechanisms": "OAUTHBEARER"}, "sasl.oauthbearer.jwks.endpoint.url")
	f(map[string]string{"sasl.enabled.mechanisms": "OAUTHBEARER", "sasl.oauthbearer.jwks.endpoint.url": "ftp://x/y"}, "scheme")
	f(map[string]string{"sasl.enabled.mechanisms": "OAUTHBEARER", "sasl.oauthbearer.jwks.endpoint.url": "file:///etc/jwks.json"}, "")
	f(map[string]string{"sasl.oauthbearer.clock.skew.seconds": "-1"}, "clock.skew")
	f(map[string]string{"connections.max.reauth.ms": "-5"}, "connections.max.reauth.ms")
	if got := security.MechOAuthBearer; got != "OAUTHBEARER" {
		t.Fatal(got)
	}
}

// TestSessionLifetime: Kafka's rule, one line per case.
func TestSessionLifetime(t *testing.T) {
	now := time.Unix(1000, 0)
	f := func(exp time.Time, maxReauth, want time.Duration, wantOK bool) {
		t.Helper()
		got, ok := sessionLifetime(now, exp, maxReauth)
		if got != want || ok != wantOK {
			t.Errorf("exp %v max %v: %v %v, want %v %v", exp, maxReauth, got, ok, want, wantOK)
		}
	}
	f(time.Time{}, 0, 0, false)
	f(time.Time{}, time.Minute, time.Minute, true)
	f(now.Add(time.Hour), 0, time.Hour, true)
	f(now.Add(time.Hour), time.Minute, time.Minute, true)
	f(now.Add(time.Second), time.Minute, time.Second, true)
	f(now.Add(-time.Second), time.Minute, 0, true) // accepted within the clock skew: expires at once
}

// TestReauthPerListener: listener.name.<l>.<mechanism>.connections.max.reauth.ms and
// listener.name.<l>.connections.max.reauth.ms override the broker's value, as in Kafka.
func TestReauthPerListener(t *testing.T) {
	cfg, err := ParseConfig(map[string]string{
		"listeners":                                 "A://127.0.0.1:0,B://127.0.0.1:0",
		"listener.security.protocol.map":            "A:SASL_PLAINTEXT,B:SASL_PLAINTEXT",
		"log.dirs":                                  t.TempDir(),
		"connections.max.reauth.ms":                 "5000",
		"listener.name.a.connections.max.reauth.ms": "7000",
		"listener.name.a.scram-sha-512.connections.max.reauth.ms": "9000",
	})
	if err != nil {
		t.Fatal(err)
	}
	la := &listener{spec: listenerSpec{name: "A"}, cfg: cfg.forListener("A")}
	lb := &listener{spec: listenerSpec{name: "B"}, cfg: cfg.forListener("B")}
	f := func(l *listener, mech string, want time.Duration) {
		t.Helper()
		if got := l.maxReauth(mech); got != want {
			t.Errorf("%s %s: %v, want %v", l.spec.name, mech, got, want)
		}
	}
	f(la, "SCRAM-SHA-512", 9*time.Second)
	f(la, "PLAIN", 7*time.Second)
	f(lb, "PLAIN", 5*time.Second)
	for _, bad := range []map[string]string{
		{"listener.name.a.oauthbearer.connections.max.reauth.ms": "soon"},
		{"listener.name.a.connections.max.reauth.ms": "-1"},
		{"listener.name.a.gssapi.connections.max.reauth.ms": "1000"},
	} {
		props := map[string]string{"listeners": "A://127.0.0.1:0", "listener.security.protocol.map": "A:SASL_PLAINTEXT", "log.dirs": t.TempDir()}
		for k, v := range bad {
			props[k] = v
		}
		if _, err := ParseConfig(props); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
