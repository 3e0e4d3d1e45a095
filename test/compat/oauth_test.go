package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/security/oauthtest"
	"github.com/strata-io/strata/test/brokertest"
)

// tokenServer hands out tokens signed by iss: GET ?sub=&aud=&ttl=<seconds> answers
// {"token","exp","sub"}, what the Python oauth_cb returns to librdkafka.
func tokenServer(t *testing.T, iss *oauthtest.Issuer) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ttl, _ := strconv.Atoi(q.Get("ttl"))
		c := iss.Claims(q.Get("sub"), q.Get("aud"), time.Duration(ttl)*time.Second)
		json.NewEncoder(w).Encode(map[string]any{"token": iss.Token(t, c), "exp": c["exp"], "sub": q.Get("sub")})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
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
			total += counterOf(m)
		}
	}
	return total
}

func counterOf(m *dto.Metric) float64 { return m.GetCounter().GetValue() }

// TestLibrdkafkaOAuthBearer: librdkafka (confluent-kafka-python, Debian's 2.0 and PyPI's
// current 2.x) authenticates with OAUTHBEARER tokens from an oauth_cb, signed by a test
// JWKS on an httptest server. Tokens live 4 s and the client produces for 12 s: every
// record is delivered. The PyPI librdkafka (2.2+) re-authenticates its connections in place
// (KIP-368) before the broker's session lifetime ends, and is never disconnected for an
// expired session. Debian's 2.0 authenticates with SaslAuthenticate v0, which cannot carry
// a session lifetime: as in Kafka its sessions do not expire (and it is not cut off). A
// token for another audience fails authentication (SASL_AUTHENTICATION_FAILED, reported by
// librdkafka as _AUTHENTICATION) and nothing is delivered.
func TestLibrdkafkaOAuthBearer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs Python clients for about a minute")
	}
	t.Parallel()
	iss := oauthtest.New(t)
	tokens := tokenServer(t, iss)
	dir, _ := filepath.Abs("py")
	clients := []struct {
		name   string
		py     string
		reauth bool // supports KIP-368 re-authentication
	}{
		{"debian-librdkafka", debianPython(t, "confluent_kafka"), false},
		{"pypi-librdkafka", pypiPython(t, "confluent_kafka"), true},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tb := brokertest.Start(t, brokertest.Config{
				Listeners: []string{"SASL_PLAINTEXT"},
				Props: map[string]string{
					"sasl.enabled.mechanisms":            "OAUTHBEARER",
					"sasl.oauthbearer.jwks.endpoint.url": iss.URL(),
					"sasl.oauthbearer.expected.issuer":   iss.Issuer,
					"sasl.oauthbearer.expected.audience": "strata",
					"authorizer.class.name":              "strata",
					"super.users":                        "User:ANONYMOUS;User:svc-orders",
				},
				Edit: func(cfg *broker.Config) { cfg.Registerer = reg },
			})
			createTopicFranz(t, tb.Addr(), "oauth-rd", 1)
			sasl := tb.ListenerAddr("SASL_PLAINTEXT")
			run := func(url, mode string) map[string]any {
				t.Helper()
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, c.py, "oauth_client.py", sasl, url, "oauth-rd", mode)
				cmd.Dir = dir
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s: %v\n%s\n%s", c.name, err, out, stderr.String())
				}
				var ev map[string]any
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ev); err != nil {
					t.Fatalf("%s output %q: %v", c.name, out, err)
				}
				t.Logf("%s %s: %s", c.name, mode, lines[len(lines)-1])
				return ev
			}
			good := fmt.Sprintf("%s?sub=svc-orders&aud=strata&ttl=4", tokens.URL)
			ev := run(good, "12")
			if ev["sent"].(float64) < 50 || ev["delivered"] != ev["sent"] || len(ev["failed"].([]any)) != 0 {
				t.Fatalf("%s: not every record delivered: %v", c.name, ev)
			}
			if ev["tokens"].(float64) < 3 {
				t.Fatalf("%s: %v tokens fetched in 12 s of 4 s tokens", c.name, ev["tokens"])
			}
			reauths := metric(t, reg, "strata_sasl_reauthentications_total", "OAUTHBEARER", "success")
			expired := metric(t, reg, "strata_sasl_expired_sessions_closed_total")
			t.Logf("%s: re-authentications %v, expired sessions closed %v", c.name, reauths, expired)
			if c.reauth && (reauths < 1 || expired != 0) {
				t.Fatalf("%s: re-authentications %v, expired sessions closed %v", c.name, reauths, expired)
			}
			if !c.reauth && (reauths != 0 || expired != 0) {
				// SaslAuthenticate v0: no session lifetime, so no expiry (Kafka's rule).
				t.Fatalf("%s: a v0 client was re-authenticated or disconnected", c.name)
			}

			bad := run(fmt.Sprintf("%s?sub=svc-orders&aud=other&ttl=60", tokens.URL), "bad")
			if bad["delivered"].(float64) != 0 || bad["auth_failed"] != true {
				t.Fatalf("%s: token for another audience: %v", c.name, bad)
			}
			if got := metric(t, reg, "strata_sasl_authentications_total", "OAUTHBEARER", "failure"); got < 1 {
				t.Fatalf("%s: no failed authentication counted", c.name)
			}
		})
	}
}
