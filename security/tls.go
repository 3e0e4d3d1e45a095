package security

// TLS for SSL and SASL_SSL listeners, from PEM files or inline PEM.
//
// Every handshake asks the provider for its configuration; the provider re-reads the
// keystore and truststore files when their modification time or size changed (checked at
// most once a second), so a rotated certificate is served to new connections without a
// restart. A file that fails to load keeps the previous material and logs a warning (the
// path only, never the key). Client certificates (ssl.client.auth requested or required)
// are verified against the truststore; the principal is the certificate subject as an RFC
// 2253 distinguished name (Kafka's DEFAULT rule), or the result of the first matching
// ssl.principal.mapping.rules rule.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// TLSSettings are a listener's ssl.* settings (Kafka's names; PEM only).
type TLSSettings struct {
	KeystoreLocation         string // ssl.keystore.location: PEM chain and unencrypted key
	KeystoreCertificateChain string // ssl.keystore.certificate.chain (inline PEM)
	KeystoreKey              string // ssl.keystore.key (inline PEM)
	TruststoreLocation       string // ssl.truststore.location
	TruststoreCertificates   string // ssl.truststore.certificates (inline PEM)
	EnabledProtocols         string // ssl.enabled.protocols: TLSv1.2, TLSv1.3
	ClientAuth               string // ssl.client.auth: required, requested, none
	PrincipalMappingRules    string // ssl.principal.mapping.rules
}

// TLSProvider holds a listener's current certificate and client CAs.
type TLSProvider struct {
	cfg    TLSSettings
	logger *slog.Logger
	rules  []principalRule
	min    uint16
	max    uint16
	auth   tls.ClientAuthType

	mu        sync.Mutex
	checked   time.Time
	keyStamp  fileStamp
	trustStmp fileStamp
	current   *tls.Config
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	if path == "" {
		return fileStamp{}, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// tlsVersions maps ssl.enabled.protocols to a min and max TLS version ("" = the default,
// TLSv1.2 and TLSv1.3).
func tlsVersions(s string) (lo, hi uint16, err error) {
	if strings.TrimSpace(s) == "" {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	for p := range strings.SplitSeq(s, ",") {
		var v uint16
		switch strings.TrimSpace(p) {
		case "":
			continue
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		default:
			return 0, 0, fmt.Errorf("unsupported protocol %q (TLSv1.2, TLSv1.3)", p)
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	if lo == 0 {
		return 0, 0, errors.New("no protocol enabled")
	}
	return lo, hi, nil
}

// NewTLSProvider loads the material of cfg; an error names the setting at fault, never
// key material.
func NewTLSProvider(cfg TLSSettings, logger *slog.Logger) (*TLSProvider, error) {
	lo, hi, err := tlsVersions(cfg.EnabledProtocols)
	if err != nil {
		return nil, err
	}
	rules, err := parsePrincipalRules(cfg.PrincipalMappingRules)
	if err != nil {
		return nil, err
	}
	p := &TLSProvider{cfg: cfg, logger: logger, rules: rules, min: lo, max: hi}
	switch strings.ToLower(cfg.ClientAuth) {
	case "required":
		p.auth = tls.RequireAndVerifyClientCert
	case "requested":
		p.auth = tls.VerifyClientCertIfGiven
	default:
		p.auth = tls.NoClientCert
	}
	if err := p.reload(time.Now()); err != nil {
		return nil, err
	}
	return p, nil
}

// reload builds a new tls.Config from the configured material.
func (p *TLSProvider) reload(now time.Time) error {
	ks, err := stampOf(p.cfg.KeystoreLocation)
	if err != nil {
		return fmt.Errorf("cannot stat ssl.keystore.location %q: %w", p.cfg.KeystoreLocation, err)
	}
	ts, err := stampOf(p.cfg.TruststoreLocation)
	if err != nil {
		return fmt.Errorf("cannot stat ssl.truststore.location %q: %w", p.cfg.TruststoreLocation, err)
	}
	var certPEM, keyPEM []byte
	if path := p.cfg.KeystoreLocation; path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("cannot read ssl.keystore.location %q: %w", path, err)
		}
		certPEM, keyPEM = data, data
	} else {
		certPEM, keyPEM = []byte(p.cfg.KeystoreCertificateChain), []byte(p.cfg.KeystoreKey)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The tls error text names no key material, but keep it generic to be sure.
		return fmt.Errorf("cannot load the keystore (ssl.keystore.*): not a PEM certificate chain and unencrypted private key")
	}
	var pool *x509.CertPool
	trust := []byte(p.cfg.TruststoreCertificates)
	if path := p.cfg.TruststoreLocation; path != "" {
		if trust, err = os.ReadFile(path); err != nil {
			return fmt.Errorf("cannot read ssl.truststore.location %q: %w", path, err)
		}
	}
	if len(trust) > 0 {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(trust) {
			return errors.New("cannot load the truststore (ssl.truststore.*): no PEM certificate")
		}
	}
	c := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   p.auth,
		MinVersion:   p.min,
		MaxVersion:   p.max,
	}
	if pool == nil && p.auth != tls.NoClientCert {
		c.ClientAuth = tls.NoClientCert // nothing to verify against; validated for required
	}
	p.current, p.keyStamp, p.trustStmp, p.checked = c, ks, ts, now
	return nil
}

// Config is the tls.Config of a new connection: it asks for the current material on
// each ClientHello.
func (p *TLSProvider) Config() *tls.Config {
	return &tls.Config{
		MinVersion: p.min,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return p.get(time.Now()), nil
		},
	}
}

// get returns the current config, reloading changed files at most once a second.
func (p *TLSProvider) get(now time.Time) *tls.Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.checked) < time.Second {
		return p.current
	}
	p.checked = now
	ks, err1 := stampOf(p.cfg.KeystoreLocation)
	ts, err2 := stampOf(p.cfg.TruststoreLocation)
	if err1 != nil || err2 != nil || (ks == p.keyStamp && ts == p.trustStmp) {
		return p.current
	}
	if err := p.reload(now); err != nil {
		p.logger.Warn("cannot reload tls material; keeping the previous one", "err", err)
		p.keyStamp, p.trustStmp = ks, ts // do not retry a bad file every second
	} else {
		p.logger.Info("tls material reloaded", "keystore", p.cfg.KeystoreLocation, "truststore", p.cfg.TruststoreLocation)
	}
	return p.current
}

// PrincipalFor maps a verified client certificate to a user name.
func (p *TLSProvider) PrincipalFor(cert *x509.Certificate) string {
	return mapPrincipal(p.rules, cert.Subject.String())
}

// principalRule is one ssl.principal.mapping.rules entry; a nil re is DEFAULT.
type principalRule struct {
	re      *regexp.Regexp
	repl    string
	toLower bool
	toUpper bool
}

var javaGroupRef = regexp.MustCompile(`\$(\d+)`)

// parsePrincipalRules parses "RULE:pattern/replacement/[LU], ..., DEFAULT"; '/' inside a
// pattern or replacement is written '\/'. Java's $1 group references are accepted.
func parsePrincipalRules(s string) ([]principalRule, error) {
	var out []principalRule
	rest := strings.TrimSpace(s)
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			break
		}
		if strings.HasPrefix(rest, "DEFAULT") {
			out = append(out, principalRule{})
			rest = rest[len("DEFAULT"):]
			continue
		}
		if !strings.HasPrefix(rest, "RULE:") {
			return nil, fmt.Errorf("rule %q is neither RULE:... nor DEFAULT", rest)
		}
		rest = rest[len("RULE:"):]
		var parts [2]string
		for i := range parts {
			var sb strings.Builder
			j := 0
			for ; j < len(rest); j++ {
				if rest[j] == '\\' && j+1 < len(rest) && rest[j+1] == '/' {
					sb.WriteByte('/')
					j++
					continue
				}
				if rest[j] == '/' {
					break
				}
				sb.WriteByte(rest[j])
			}
			if j >= len(rest) {
				return nil, errors.New("rule without closing '/'")
			}
			parts[i] = sb.String()
			rest = rest[j+1:]
		}
		r := principalRule{repl: javaGroupRef.ReplaceAllString(parts[1], "$${$1}")}
		if strings.HasPrefix(rest, "L") {
			r.toLower, rest = true, rest[1:]
		} else if strings.HasPrefix(rest, "U") {
			r.toUpper, rest = true, rest[1:]
		}
		re, err := regexp.Compile("^(?:" + parts[0] + ")$")
		if err != nil {
			return nil, fmt.Errorf("rule pattern %q: %w", parts[0], err)
		}
		r.re = re
		out = append(out, r)
	}
	return out, nil
}

// mapPrincipal applies the first rule that matches the whole DN.
func mapPrincipal(rules []principalRule, dn string) string {
	for _, r := range rules {
		if r.re == nil {
			return dn
		}
		if !r.re.MatchString(dn) {
			continue
		}
		out := r.re.ReplaceAllString(dn, r.repl)
		switch {
		case r.toLower:
			out = strings.ToLower(out)
		case r.toUpper:
			out = strings.ToUpper(out)
		}
		return out
	}
	return dn
}

// ValidateTLSProtocols checks an ssl.enabled.protocols value.
func ValidateTLSProtocols(s string) error {
	_, _, err := tlsVersions(s)
	return err
}

// ValidatePrincipalRules checks an ssl.principal.mapping.rules value.
func ValidatePrincipalRules(s string) error {
	_, err := parsePrincipalRules(s)
	return err
}
