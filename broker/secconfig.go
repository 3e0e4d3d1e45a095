package broker

// Security configuration: listeners with security protocols, TLS from PEM files, SASL
// mechanisms and the authorizer. Keys follow Kafka's names; only the PEM keystore type is
// supported (Kafka's ssl.keystore.type=PEM, KIP-651):
//
//   listeners=PLAINTEXT://:9092,SASL_SSL://:9094,INTERNAL://:9095
//   listener.security.protocol.map=INTERNAL:SSL      (names that are protocols map to themselves)
//   ssl.keystore.location=/etc/strata/broker.pem     (private key + certificate chain, PEM)
//     or ssl.keystore.certificate.chain=<PEM> and ssl.keystore.key=<PEM>
//   ssl.truststore.location=/etc/strata/ca.pem       (CA certificates, PEM), or ssl.truststore.certificates
//   ssl.client.auth=none|requested|required
//   ssl.enabled.protocols=TLSv1.2,TLSv1.3
//   ssl.principal.mapping.rules=DEFAULT              (RULE:pattern/replacement/[LU], ... ,DEFAULT)
//   sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
//   authorizer.class.name=<any non-empty value>      (enables ACL enforcement)
//   super.users=User:admin;User:CN=broker
//   allow.everyone.if.no.acl.found=false
//   listener.name.mtls.ssl.client.auth=required      (per listener, as Kafka's listener.name.<l>.<key>)
//
// Per-listener overrides are accepted for ssl.client.auth, sasl.enabled.mechanisms,
// ssl.enabled.protocols, ssl.keystore.*, ssl.truststore.*, ssl.principal.mapping.rules and
// connections.max.reauth.ms (also per mechanism: listener.name.<l>.<mech>.connections.max.reauth.ms);
// each TLS listener has its own provider (and reload) for its material.
// Key files named by location are re-read when their modification time changes (checked at
// most once a second, on a new TLS handshake), so certificates rotate without a restart.
// ssl.keystore.key and ssl.key.password are sensitive: DescribeConfigs shows them as null.
// Encrypted PEM keys are not supported (ssl.key.password must be empty).

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
	"github.com/strata-io/strata/segment"
)

// SecurityConfig is the security part of Config (embedded).
type SecurityConfig struct {
	ListenerSecurityProtocolMap string // listener.security.protocol.map; default maps each protocol name to itself
	SSLKeystoreType             string // ssl.keystore.type; default PEM (the only type)
	SSLKeystoreLocation         string // ssl.keystore.location; PEM file with key and certificate chain
	SSLKeystoreCertificateChain string // ssl.keystore.certificate.chain; inline PEM
	SSLKeystoreKey              string // ssl.keystore.key; inline PEM private key (sensitive)
	SSLKeyPassword              string // ssl.key.password; must be empty (sensitive)
	SSLTruststoreType           string // ssl.truststore.type; default PEM
	SSLTruststoreLocation       string // ssl.truststore.location; PEM CA certificates
	SSLTruststoreCertificates   string // ssl.truststore.certificates; inline PEM CA certificates
	SSLClientAuth               string // ssl.client.auth; default none
	SSLEnabledProtocols         string // ssl.enabled.protocols; default TLSv1.2,TLSv1.3
	SSLPrincipalMappingRules    string // ssl.principal.mapping.rules; default DEFAULT
	SASLEnabledMechanisms       string // sasl.enabled.mechanisms; default PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
	SASLServerMaxReceiveSize    int32  // sasl.server.max.receive.size; default 524288 (0 = default)
	AuthorizerClassName         string // authorizer.class.name; default "" (no authorization)
	SuperUsers                  string // super.users; default ""
	AllowEveryoneIfNoACLFound   bool   // allow.everyone.if.no.acl.found; default false

	// OAUTHBEARER and re-authentication (oauth.go).
	OAuthConfig

	// ListenerOverrides holds listener.name.<listener>.<key> values: listener name (upper
	// case) -> key -> value, for the keys in listenerOverridable.
	ListenerOverrides map[string]map[string]string
}

// listenerOverridable are the keys a listener may override (Kafka's
// listener.name.<listener>.<key>).
var listenerOverridable = map[string]bool{
	"ssl.client.auth": true, "sasl.enabled.mechanisms": true, "ssl.enabled.protocols": true,
	"ssl.keystore.location": true, "ssl.keystore.certificate.chain": true, "ssl.keystore.key": true,
	"ssl.truststore.location": true, "ssl.truststore.certificates": true, "ssl.principal.mapping.rules": true,
	"connections.max.reauth.ms": true, // also as <mechanism>.connections.max.reauth.ms (oauth.go)
}

// setListenerOverride records a listener.name.<listener>.<key> value; ok is false when key
// has another form.
func (c *Config) setListenerOverride(key, value string) (ok bool, err error) {
	rest, found := strings.CutPrefix(key, "listener.name.")
	if !found {
		return false, nil
	}
	name, k, found := strings.Cut(rest, ".")
	if found && isMechReauthKey(k) { // listener.name.<l>.<mechanism>.connections.max.reauth.ms (oauth.go)
		k = strings.ToLower(k)
	} else if !found || name == "" || !listenerOverridable[k] {
		return true, fmt.Errorf("broker config: %q: per-listener overrides are supported for %s", key, overridableList())
	}
	if c.ListenerOverrides == nil {
		c.ListenerOverrides = map[string]map[string]string{}
	}
	name = strings.ToUpper(name)
	if c.ListenerOverrides[name] == nil {
		c.ListenerOverrides[name] = map[string]string{}
	}
	c.ListenerOverrides[name][k] = strings.TrimSpace(value)
	return true, nil
}

func overridableList() string {
	keys := make([]string, 0, len(listenerOverridable))
	for k := range listenerOverridable {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// forListener is the configuration seen by listener name: c with its overrides applied.
func (c *Config) forListener(name string) *Config {
	o := c.ListenerOverrides[strings.ToUpper(name)]
	if len(o) == 0 {
		return c
	}
	lc := *c
	for k, v := range o {
		if bk := brokerKeyByName(k); bk != nil {
			_ = bk.set(&lc, v) // string keys: set cannot fail
		}
	}
	return &lc
}

func sensitiveStrKey(name, doc string, f func(c *Config) *string) brokerKey {
	k := strKey(name, "", doc, f)
	k.Sensitive = true
	k.typ = kmsg.ConfigTypePassword
	return k
}

var securityKeys = []brokerKey{
	strKey("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
		"Listener name to security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL); entries given are added to the default.",
		func(c *Config) *string { return &c.ListenerSecurityProtocolMap }),
	strKey("ssl.keystore.type", "PEM", "Keystore format; only PEM.", func(c *Config) *string { return &c.SSLKeystoreType }),
	strKey("ssl.keystore.location", "", "PEM file holding the private key and the certificate chain; re-read when it changes.",
		func(c *Config) *string { return &c.SSLKeystoreLocation }),
	strKey("ssl.keystore.certificate.chain", "", "Certificate chain in PEM (instead of ssl.keystore.location).",
		func(c *Config) *string { return &c.SSLKeystoreCertificateChain }),
	sensitiveStrKey("ssl.keystore.key", "Private key in PEM (instead of ssl.keystore.location).",
		func(c *Config) *string { return &c.SSLKeystoreKey }),
	sensitiveStrKey("ssl.key.password", "Password of an encrypted key; not supported, must be empty.",
		func(c *Config) *string { return &c.SSLKeyPassword }),
	strKey("ssl.truststore.type", "PEM", "Truststore format; only PEM.", func(c *Config) *string { return &c.SSLTruststoreType }),
	strKey("ssl.truststore.location", "", "PEM file of CA certificates that sign client certificates; re-read when it changes.",
		func(c *Config) *string { return &c.SSLTruststoreLocation }),
	strKey("ssl.truststore.certificates", "", "CA certificates in PEM (instead of ssl.truststore.location).",
		func(c *Config) *string { return &c.SSLTruststoreCertificates }),
	strKey("ssl.client.auth", "none", "Client certificates: none, requested or required.", func(c *Config) *string { return &c.SSLClientAuth }),
	strKey("ssl.enabled.protocols", "TLSv1.2,TLSv1.3", "TLS versions accepted (TLSv1.2, TLSv1.3).", func(c *Config) *string { return &c.SSLEnabledProtocols }),
	strKey("ssl.principal.mapping.rules", "DEFAULT", "Rules mapping a certificate subject (RFC 2253 DN) to a user name: RULE:pattern/replacement/[LU], ..., DEFAULT.",
		func(c *Config) *string { return &c.SSLPrincipalMappingRules }),
	strKey("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", "SASL mechanisms offered on SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (needs sasl.oauthbearer.jwks.endpoint.url).",
		func(c *Config) *string { return &c.SASLEnabledMechanisms }),
	i32Key("sasl.server.max.receive.size", "524288", "Largest request accepted before authentication completes.",
		func(c *Config) *int32 { return &c.SASLServerMaxReceiveSize }),
	strKey("authorizer.class.name", "", "Any non-empty value enables ACL authorization (Kafka's StandardAuthorizer semantics).",
		func(c *Config) *string { return &c.AuthorizerClassName }),
	strKey("super.users", "", "Principals allowed everything, separated by ';' (User:alice;User:bob).", func(c *Config) *string { return &c.SuperUsers }),
	boolKey("allow.everyone.if.no.acl.found", "false", "Allow access to resources that have no ACL at all.",
		func(c *Config) *bool { return &c.AllowEveryoneIfNoACLFound }),
}

func init() {
	brokerKeys = append(brokerKeys, securityKeys...)
	brokerKeys = append(brokerKeys, oauthKeys...) // oauth.go
}

// Security protocols of a listener.
const (
	protoPlaintext     = "PLAINTEXT"
	protoSSL           = "SSL"
	protoSASLPlaintext = "SASL_PLAINTEXT"
	protoSASLSSL       = "SASL_SSL"
)

// protocolMap parses listener.security.protocol.map on top of the identity mapping.
func (c *Config) protocolMap() (map[string]string, error) {
	m := map[string]string{protoPlaintext: protoPlaintext, protoSSL: protoSSL,
		protoSASLPlaintext: protoSASLPlaintext, protoSASLSSL: protoSASLSSL}
	for e := range strings.SplitSeq(c.ListenerSecurityProtocolMap, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		name, proto, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("entry %q is not NAME:PROTOCOL", e)
		}
		proto = strings.ToUpper(strings.TrimSpace(proto))
		switch proto {
		case protoPlaintext, protoSSL, protoSASLPlaintext, protoSASLSSL:
		default:
			return nil, fmt.Errorf("entry %q: unknown security protocol %q", e, proto)
		}
		m[strings.ToUpper(strings.TrimSpace(name))] = proto
	}
	return m, nil
}

// saslMechanisms lists the enabled mechanisms.
func (c *Config) saslMechanisms() ([]string, error) {
	var out []string
	for m := range strings.SplitSeq(c.SASLEnabledMechanisms, ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		switch m {
		case security.MechPlain, security.MechSCRAM256, security.MechSCRAM512, security.MechOAuthBearer:
		default:
			return nil, fmt.Errorf("unsupported mechanism %q (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", m)
		}
		out = append(out, m)
	}
	return out, nil
}

// authorizerEnabled reports whether ACLs are enforced.
func (c *Config) authorizerEnabled() bool { return strings.TrimSpace(c.AuthorizerClassName) != "" }

// superUsers parses super.users.
func (c *Config) superUsers() map[string]bool {
	out := make(map[string]bool)
	for u := range strings.SplitSeq(c.SuperUsers, ";") {
		if u = strings.TrimSpace(u); u != "" {
			out[u] = true
		}
	}
	return out
}

// validateSecurity checks the security keys and the listeners that need them.
func (c *Config) validateSecurity(bad func(key, format string, args ...any)) {
	pm, err := c.protocolMap()
	if err != nil {
		bad("listener.security.protocol.map", "%v", err)
		return
	}
	specs, err := parseListeners(c.Listeners, pm)
	if err != nil {
		bad("listeners", "%v", err)
		return
	}
	if c.AdvertisedListeners != "" {
		if _, err := parseListeners(c.AdvertisedListeners, pm); err != nil {
			bad("advertised.listeners", "%v", err)
		}
	}
	if t := strings.ToUpper(c.SSLKeystoreType); t != "PEM" && t != "" {
		bad("ssl.keystore.type", "only PEM is supported, got %q", c.SSLKeystoreType)
	}
	if t := strings.ToUpper(c.SSLTruststoreType); t != "PEM" && t != "" {
		bad("ssl.truststore.type", "only PEM is supported, got %q", c.SSLTruststoreType)
	}
	if c.SSLKeyPassword != "" {
		bad("ssl.key.password", "encrypted keys are not supported")
	}
	switch strings.ToLower(c.SSLClientAuth) {
	case "", "none", "requested", "required":
	default:
		bad("ssl.client.auth", "must be none, requested or required, got %q", c.SSLClientAuth)
	}
	if err := security.ValidateTLSProtocols(c.SSLEnabledProtocols); err != nil {
		bad("ssl.enabled.protocols", "%v", err)
	}
	if err := security.ValidatePrincipalRules(c.SSLPrincipalMappingRules); err != nil {
		bad("ssl.principal.mapping.rules", "%v", err)
	}
	mechs, err := c.saslMechanisms()
	if err != nil {
		bad("sasl.enabled.mechanisms", "%v", err)
	}
	if c.SASLServerMaxReceiveSize != 0 && c.SASLServerMaxReceiveSize < minRequestSize {
		bad("sasl.server.max.receive.size", "must be >= %d, got %d", minRequestSize, c.SASLServerMaxReceiveSize)
	}
	_ = mechs
	c.validateOAuth(bad) // oauth.go
	known := map[string]bool{}
	for _, s := range specs {
		known[s.name] = true
		lc := c.forListener(s.name)
		if lc != c {
			lc.validateListenerKeys(s.name, bad)
		}
		if s.tls() && lc.SSLKeystoreLocation == "" && (lc.SSLKeystoreCertificateChain == "" || lc.SSLKeystoreKey == "") {
			bad("listeners", "listener %s (%s) needs ssl.keystore.location or ssl.keystore.certificate.chain and ssl.keystore.key", s.name, s.protocol)
		}
		if m, err := lc.saslMechanisms(); s.sasl() && err == nil && len(m) == 0 {
			bad("sasl.enabled.mechanisms", "listener %s (%s) needs at least one mechanism", s.name, s.protocol)
		}
		if s.tls() && strings.EqualFold(lc.SSLClientAuth, "required") && lc.SSLTruststoreLocation == "" && lc.SSLTruststoreCertificates == "" {
			bad("ssl.truststore.location", "listener %s: ssl.client.auth=required needs a truststore", s.name)
		}
	}
	for name := range c.ListenerOverrides {
		if !known[name] {
			bad("listener.name."+strings.ToLower(name), "no listener named %s", name)
		}
	}
}

// validateListenerKeys checks a listener's overridden values.
func (c *Config) validateListenerKeys(name string, bad func(key, format string, args ...any)) {
	prefix := "listener.name." + strings.ToLower(name) + "."
	switch strings.ToLower(c.SSLClientAuth) {
	case "", "none", "requested", "required":
	default:
		bad(prefix+"ssl.client.auth", "must be none, requested or required, got %q", c.SSLClientAuth)
	}
	if err := security.ValidateTLSProtocols(c.SSLEnabledProtocols); err != nil {
		bad(prefix+"ssl.enabled.protocols", "%v", err)
	}
	if err := security.ValidatePrincipalRules(c.SSLPrincipalMappingRules); err != nil {
		bad(prefix+"ssl.principal.mapping.rules", "%v", err)
	}
	if _, err := c.saslMechanisms(); err != nil {
		bad(prefix+"sasl.enabled.mechanisms", "%v", err)
	}
	c.validateMechReauth(name, bad) // oauth.go
}

// openSecurity loads the SCRAM users and, when an authorizer is configured, the ACLs.
func (b *Broker) openSecurity() error {
	b.secm = security.NewMetrics(b.cfg.Registerer)
	if _, err := b.restoreSecurityFile(security.SCRAMFileName); err != nil { // secbucket.go
		return err
	}
	// Uploads are serialised and send the file as it is then, so the last upload is
	// always the newest state.
	var mirrorMu sync.Mutex
	mirror := func(name string) {
		mirrorMu.Lock()
		defer mirrorMu.Unlock()
		b.mirrorSecurityFile(name)
	}
	s, err := security.OpenSCRAMStore(b.fs(), b.metaDir(), mirror)
	if err != nil {
		return err
	}
	b.scram = s
	if err := b.openOAuth(); err != nil { // oauth.go
		return err
	}
	if !b.cfg.authorizerEnabled() {
		return nil
	}
	var supers []string
	for u := range b.cfg.superUsers() {
		supers = append(supers, u)
	}
	a := security.NewAuthorizer(supers, b.cfg.AllowEveryoneIfNoACLFound)
	if _, err := b.restoreSecurityFile(security.ACLFileName); err != nil {
		return err
	}
	st, err := security.OpenACLStore(b.fs(), b.metaDir(), a, mirror)
	if err != nil {
		return err
	}
	b.authz, b.aclStore = a, st
	return nil
}

// tlsSettings are the listener config's ssl.* settings.
func (c *Config) tlsSettings() security.TLSSettings {
	return security.TLSSettings{
		KeystoreLocation:         c.SSLKeystoreLocation,
		KeystoreCertificateChain: c.SSLKeystoreCertificateChain,
		KeystoreKey:              c.SSLKeystoreKey,
		TruststoreLocation:       c.SSLTruststoreLocation,
		TruststoreCertificates:   c.SSLTruststoreCertificates,
		EnabledProtocols:         c.SSLEnabledProtocols,
		ClientAuth:               c.SSLClientAuth,
		PrincipalMappingRules:    c.SSLPrincipalMappingRules,
	}
}

// SetSCRAMCredentialOffline writes a SCRAM credential for user into the data directory of
// a broker that is not running (Kafka's `kafka-storage format --add-scram`): the way to
// create the first (super) user when no listener lets anyone in yet. It salts and hashes
// password like a client would and keeps only the derived keys.
func SetSCRAMCredentialOffline(dataDir, user, mechanism, password string, iterations int) error {
	// The broker must not be running: it would overwrite the file with its own view.
	lock, err := LockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	meta := filepath.Join(dataDir, metaDirName)
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return fmt.Errorf("cannot create %q: %w", meta, err)
	}
	s, err := security.OpenSCRAMStore(segment.OSFS{}, meta, nil)
	if err != nil {
		return err
	}
	if err := s.SetPassword(user, mechanism, password, iterations); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}
