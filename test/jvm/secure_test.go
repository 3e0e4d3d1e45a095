package jvm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// testCA writes a CA and a server certificate for 127.0.0.1 signed by it into dir, and
// returns the CA's PEM file and the server's PEM file (private key and certificate chain).
func testCA(t *testing.T, dir string) (caFile, serverFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strata-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	serverFile = writeFile(t, dir, "server.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))+
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))+
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	return caFile, serverFile
}

// TestJavaClientSecure: the Java client's idempotent producer and consumer over TLS
// (the broker's certificate checked against a PEM truststore, hostname verification on),
// SASL_PLAINTEXT with SCRAM-SHA-256 and SASL_SSL with SCRAM-SHA-512; a wrong password is
// refused with Kafka's authentication error.
func TestJavaClientSecure(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s Java client over SSL, SASL_PLAINTEXT and SASL_SSL (SCRAM-SHA-256/512)", kafkaVersion)
	dir := t.TempDir()
	caFile, serverFile := testCA(t, dir)
	s := startStrata(t, map[string]string{
		"ssl.keystore.location":   serverFile,
		"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
	}, nil, "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
	adm := kadm.NewClient(franz(t, s.addr()))
	createTopic(t, s.addr(), "java-secure", 1, nil)
	r, err := adm.AlterUserSCRAMs(t.Context(), nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-pw"},
		{User: "dave", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "dave-pw"},
	})
	if err == nil {
		err = r.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	tls := "ssl.truststore.type=PEM\nssl.truststore.location=" + caFile + "\n"
	scram := func(mech, user, pw string) string {
		return "sasl.mechanism=" + mech + "\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" +
			user + "\" password=\"" + pw + "\";\n"
	}
	for _, c := range []struct{ name, listener, props string }{
		{"ssl", "SSL", "security.protocol=SSL\n" + tls},
		{"sasl-plaintext-scram-sha-256", "SASL_PLAINTEXT", "security.protocol=SASL_PLAINTEXT\n" + scram("SCRAM-SHA-256", "carol", "carol-pw")},
		{"sasl-ssl-scram-sha-512", "SASL_SSL", "security.protocol=SASL_SSL\n" + tls + scram("SCRAM-SHA-512", "dave", "dave-pw")},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := writeFile(t, dir, c.name+".properties", c.props)
			scenario(t, []string{"STRATA_CLIENT_PROPS=" + f}, "roundtrip", s.listeners[c.listener], "java-secure-"+c.name)
		})
	}
	t.Run("wrong-password", func(t *testing.T) {
		f := writeFile(t, dir, "wrong.properties", "security.protocol=SASL_SSL\n"+tls+scram("SCRAM-SHA-512", "dave", "not-dave"))
		r := runToolEnv(t, 2*time.Minute, []string{"STRATA_CLIENT_PROPS=" + f}, "", "io.strata.jvmtests.Scenarios", "roundtrip", s.listeners["SASL_SSL"], "java-secure-wrong")
		const want = "SaslAuthenticationException: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("wrong password: exit %d, want stderr with %q:\n%s", r.code, want, r.stderr)
		}
	})
}
