package jvm

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/security/oauthtest"
)

// TestJavaClientOAuthBearer: the Java client's OAUTHBEARER login (client credentials
// against a token endpoint, Kafka's OAuthBearerLoginCallbackHandler) with tokens signed by
// a test JWKS: the roundtrip scenario passes, with the sub claim's principal allowed by
// ACLs, and the client re-authenticates in place under connections.max.reauth.ms; a token
// for another audience is refused with Kafka's authentication error.
func TestJavaClientOAuthBearer(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s Java client, SASL_PLAINTEXT OAUTHBEARER", kafkaVersion)
	iss := oauthtest.New(t)
	var aud = "strata"
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.FormValue("grant_type") != "client_credentials" {
			http.Error(w, "want a client_credentials POST", http.StatusBadRequest)
			return
		}
		a := aud
		if user, _, _ := r.BasicAuth(); user == "wrong-aud" {
			a = "other"
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": iss.Token(t, iss.Claims("svc-java", a, time.Hour)),
			"token_type":   "Bearer", "expires_in": 3600,
		})
	}))
	t.Cleanup(tokens.Close)
	reg := prometheus.NewRegistry()
	s := startStrata(t, map[string]string{
		"sasl.enabled.mechanisms":            "OAUTHBEARER",
		"sasl.oauthbearer.jwks.endpoint.url": iss.URL(),
		"sasl.oauthbearer.expected.issuer":   iss.Issuer,
		"sasl.oauthbearer.expected.audience": "strata",
		"connections.max.reauth.ms":          "1000",
		"authorizer.class.name":              "strata",
		"super.users":                        "User:ANONYMOUS",
	}, func(c *broker.Config) { c.Registerer = reg }, "PLAINTEXT", "SASL_PLAINTEXT")
	adm := kadm.NewClient(franz(t, s.addr()))
	createTopic(t, s.addr(), "java-oauth", 1, nil)
	acls := kadm.NewACLs().Allow("User:svc-java").ResourcePatternType(kadm.ACLPatternPrefixed).
		Topics("java-oauth").Groups("java-oauth").Operations(kadm.OpAll)
	if res, err := adm.CreateACLs(t.Context(), acls); err != nil || res[0].Err != nil {
		t.Fatalf("create acls: %v %v", err, res)
	}
	dir := t.TempDir()
	props := func(clientID string) string {
		return "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n" +
			"sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n" +
			"sasl.oauthbearer.token.endpoint.url=" + tokens.URL + "/token\n" +
			"sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=\"" + clientID + "\" clientSecret=\"s3cret\";\n"
	}
	// Kafka 4 refuses token endpoints not listed in this system property.
	allow := "KAFKA_OPTS=-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=" + tokens.URL + "/token"
	good := writeFile(t, dir, "oauth.properties", props("svc"))
	scenario(t, []string{"STRATA_CLIENT_PROPS=" + good, allow}, "roundtrip", s.listeners["SASL_PLAINTEXT"], "java-oauth")
	scenario(t, []string{"STRATA_CLIENT_PROPS=" + good, allow}, "produce-for", s.listeners["SASL_PLAINTEXT"], "java-oauth", "5")
	reauths := counter(t, reg, "strata_sasl_reauthentications_total", "OAUTHBEARER", "success")
	expired := counter(t, reg, "strata_sasl_expired_sessions_closed_total")
	t.Logf("re-authentications %v, expired sessions closed %v", reauths, expired)
	if reauths < 1 || expired != 0 {
		t.Fatalf("java client: re-authentications %v, expired sessions closed %v", reauths, expired)
	}

	bad := writeFile(t, dir, "bad.properties", props("wrong-aud"))
	r := runToolEnv(t, 2*time.Minute, []string{"STRATA_CLIENT_PROPS=" + bad, allow}, "", "io.strata.jvmtests.Scenarios", "roundtrip", s.listeners["SASL_PLAINTEXT"], "java-oauth-bad")
	if r.code == 0 || !strings.Contains(r.stderr, "SaslAuthenticationException") {
		t.Fatalf("token for another audience: exit %d, want a SaslAuthenticationException:\n%s", r.code, r.stderr)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i, l := range m.GetLabel() {
				if i < len(labels) && l.GetValue() != labels[i] {
					continue next
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}
