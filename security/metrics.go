package security

// Security metrics (on Config.Registerer; nothing when it is nil). Labels carry
// mechanisms, listener names, resource types and operations only: never user names,
// topic names or anything secret.
//
//   strata_sasl_authentications_total{mechanism, result="success|failure"}
//     (Kafka: successful-authentication-total / failed-authentication-total)
//   strata_sasl_reauthentications_total{mechanism, result="success|failure"}
//     (Kafka: successful-reauthentication-total / failed-reauthentication-total)
//   strata_sasl_expired_sessions_closed_total (Kafka: expired-connections-killed-count)
//   strata_tls_handshake_failures_total{listener}
//   strata_authorization_denials_total{resource_type, operation}

import (
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metrics are the security counters; a nil *Metrics counts nothing.
type Metrics struct {
	sasl    *prometheus.CounterVec
	reauth  *prometheus.CounterVec
	expired prometheus.Counter
	tlsFail *prometheus.CounterVec
	denied  *prometheus.CounterVec
}

// NewMetrics registers the counters on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sasl: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_sasl_authentications_total",
			Help: "SASL authentications by mechanism and result (Kafka: successful-authentication-total, failed-authentication-total).",
		}, []string{"mechanism", "result"}),
		reauth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_sasl_reauthentications_total",
			Help: "SASL re-authentications (KIP-368) by mechanism and result (Kafka: successful-reauthentication-total, failed-reauthentication-total).",
		}, []string{"mechanism", "result"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_sasl_expired_sessions_closed_total",
			Help: "Connections closed because their SASL session expired without re-authentication (Kafka: expired-connections-killed-count).",
		}),
		tlsFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tls_handshake_failures_total",
			Help: "TLS handshakes that failed (untrusted or expired client certificate, protocol mismatch...), by listener.",
		}, []string{"listener"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_authorization_denials_total",
			Help: "Authorization checks that denied, by resource type and operation.",
		}, []string{"resource_type", "operation"}),
	}
	if reg != nil {
		m.sasl = registerOrExisting(reg, m.sasl)
		m.reauth = registerOrExisting(reg, m.reauth)
		m.expired = registerOrExisting(reg, m.expired)
		m.tlsFail = registerOrExisting(reg, m.tlsFail)
		m.denied = registerOrExisting(reg, m.denied)
	}
	return m
}

// SASLResult counts one authentication outcome.
func (m *Metrics) SASLResult(mech string, ok bool) {
	if m == nil {
		return
	}
	r := "failure"
	if ok {
		r = "success"
	}
	m.sasl.WithLabelValues(mech, r).Inc()
}

// SASLReauth counts one re-authentication outcome.
func (m *Metrics) SASLReauth(mech string, ok bool) {
	if m == nil {
		return
	}
	r := "failure"
	if ok {
		r = "success"
	}
	m.reauth.WithLabelValues(mech, r).Inc()
}

// SessionExpired counts one connection closed for an expired SASL session.
func (m *Metrics) SessionExpired() {
	if m != nil {
		m.expired.Inc()
	}
}

// TLSFailed counts one failed handshake on listener.
func (m *Metrics) TLSFailed(listener string) {
	if m != nil {
		m.tlsFail.WithLabelValues(listener).Inc()
	}
}

// Deny counts one denied authorization check.
func (m *Metrics) Deny(rt kmsg.ACLResourceType, op kmsg.ACLOperation) {
	if m != nil {
		m.denied.WithLabelValues(strings.ToLower(rt.String()), strings.ToLower(op.String())).Inc()
	}
}

// registerOrExisting registers c, or returns the collector already registered under
// its descriptor (several brokers in one process share a registry in tests).
func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
