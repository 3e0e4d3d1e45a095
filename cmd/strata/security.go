package main

// Client-side security for every client command: TLS and SASL flags, mirroring the
// librdkafka / Kafka client property names.
//
//   --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL   (env STRATA_SECURITY_PROTOCOL)
//   --ssl-ca-location FILE          PEM CAs to trust (default: system roots)
//   --ssl-certificate-location FILE client certificate (PEM) for mTLS
//   --ssl-key-location FILE         its private key (PEM)
//   --sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512          (env STRATA_SASL_MECHANISM)
//   --sasl-username NAME                                         (env STRATA_SASL_USERNAME)
//   --sasl-password-file FILE       the password, first line; else env STRATA_SASL_PASSWORD
//
// The password is never taken from the command line (it would show in ps and shell
// history) and never printed.

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-io/strata/broker"
)

type clientSecurity struct {
	protocol     string
	caFile       string
	certFile     string
	keyFile      string
	mechanism    string
	username     string
	passwordFile string
}

func (c *clientSecurity) register(fs *flag.FlagSet) {
	fs.StringVar(&c.protocol, "security-protocol", envOr("STRATA_SECURITY_PROTOCOL", "PLAINTEXT"), "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (env STRATA_SECURITY_PROTOCOL)")
	fs.StringVar(&c.caFile, "ssl-ca-location", os.Getenv("STRATA_SSL_CA_LOCATION"), "PEM file of CAs to trust (default: system roots)")
	fs.StringVar(&c.certFile, "ssl-certificate-location", os.Getenv("STRATA_SSL_CERTIFICATE_LOCATION"), "client certificate (PEM) for mutual TLS")
	fs.StringVar(&c.keyFile, "ssl-key-location", os.Getenv("STRATA_SSL_KEY_LOCATION"), "client private key (PEM) for mutual TLS")
	fs.StringVar(&c.mechanism, "sasl-mechanism", envOr("STRATA_SASL_MECHANISM", "SCRAM-SHA-512"), "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (env STRATA_SASL_MECHANISM)")
	fs.StringVar(&c.username, "sasl-username", os.Getenv("STRATA_SASL_USERNAME"), "SASL user (env STRATA_SASL_USERNAME)")
	fs.StringVar(&c.passwordFile, "sasl-password-file", "", "file whose first line is the SASL password (else env STRATA_SASL_PASSWORD)")
}

// readSecretFile returns the first line of path.
func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimRight(line, "\r"), nil
}

// opts returns the kgo options for the configured protocol.
func (c *clientSecurity) opts() ([]kgo.Opt, error) {
	proto := strings.ToUpper(strings.TrimSpace(c.protocol))
	var out []kgo.Opt
	switch proto {
	case "", "PLAINTEXT":
		return nil, nil
	case "SSL", "SASL_SSL", "SASL_PLAINTEXT":
	default:
		return nil, usageErrorf("unknown --security-protocol %q", c.protocol)
	}
	if proto != "SASL_PLAINTEXT" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.caFile != "" {
			pem, err := os.ReadFile(c.caFile)
			if err != nil {
				return nil, fmt.Errorf("cannot read --ssl-ca-location %q: %w", c.caFile, err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ssl-ca-location %q holds no PEM certificate", c.caFile)
			}
		}
		if c.certFile != "" || c.keyFile != "" {
			pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
			if err != nil {
				return nil, fmt.Errorf("cannot load the client certificate %q and key: %w", c.certFile, err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		out = append(out, kgo.DialTLSConfig(cfg))
	}
	if strings.HasPrefix(proto, "SASL_") {
		if c.username == "" {
			return nil, usageErrorf("--security-protocol %s needs --sasl-username", proto)
		}
		pass := os.Getenv("STRATA_SASL_PASSWORD")
		if c.passwordFile != "" {
			var err error
			if pass, err = readSecretFile(c.passwordFile); err != nil {
				return nil, err
			}
		}
		if pass == "" {
			return nil, usageErrorf("--security-protocol %s needs a password (--sasl-password-file or STRATA_SASL_PASSWORD)", proto)
		}
		switch strings.ToUpper(c.mechanism) {
		case "PLAIN":
			out = append(out, kgo.SASL(plain.Auth{User: c.username, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			out = append(out, kgo.SASL(scram.Auth{User: c.username, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			out = append(out, kgo.SASL(scram.Auth{User: c.username, Pass: pass}.AsSha512Mechanism()))
		default:
			return nil, usageErrorf("unknown --sasl-mechanism %q", c.mechanism)
		}
	}
	return out, nil
}

// brokerKeySensitive reports whether the broker marks key sensitive (DescribeConfigs
// masks it; startup logs must too).
func brokerKeySensitive(key string) bool {
	if rest, ok := strings.CutPrefix(key, "listener.name."); ok { // listener.name.<l>.<key>
		if _, k, ok := strings.Cut(rest, "."); ok {
			key = k
		}
	}
	for _, k := range broker.ConfigKeys() {
		if k.Name == key {
			return k.Sensitive
		}
	}
	return false
}
