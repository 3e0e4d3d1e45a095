package broker

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/strata-io/strata/security"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testPKI is a CA with server and client certificates, generated per test.
type testPKI struct {
	dir        string
	caPEM      []byte
	ca         *x509.Certificate
	caKey      *ecdsa.PrivateKey
	serverFile string // key + chain, the broker's ssl.keystore.location
	caFile     string
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serialMu sync.Mutex
var serialN int64 = 1

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serialN++
	return big.NewInt(serialN)
}

func newCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// issue signs a leaf certificate; it returns the PEM certificate and key.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, subject pkix.Name, server bool, notAfter time.Time) (certPEM, keyPEM []byte) {
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: subject,
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	p.ca, p.caKey, p.caPEM = newCA(t, "strata-test-ca")
	p.caFile = filepath.Join(p.dir, "ca.pem")
	if err := os.WriteFile(p.caFile, p.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	p.serverFile = filepath.Join(p.dir, "server.pem")
	p.writeServer(t, "strata-broker")
	return p
}

func (p *testPKI) writeServer(t *testing.T, cn string) {
	c, k := issue(t, p.ca, p.caKey, pkix.Name{CommonName: cn}, true, time.Now().Add(24*time.Hour))
	tmp := p.serverFile + ".new"
	if err := os.WriteFile(tmp, append(k, c...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p.serverFile); err != nil {
		t.Fatal(err)
	}
}

// clientTLS is a client config trusting the test CA, with an optional client certificate.
func (p *testPKI) clientTLS(t *testing.T, cert *tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func (p *testPKI) clientCert(t *testing.T, cn string, notAfter time.Time) *tls.Certificate {
	c, k := issue(t, p.ca, p.caKey, pkix.Name{CommonName: cn, Organization: []string{"Acme"}}, false, notAfter)
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return &pair
}

// syncBuffer collects log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type secBroker struct {
	b    *Broker
	logs *syncBuffer
	dir  string
	reg  *prometheus.Registry
}

func (s *secBroker) addr(name string) string { return s.b.ListenerAddr(name).String() }

// startSecureBroker runs a broker with PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL
// listeners, mTLS requested, ACLs on and User:CN=admin,O=Acme as super user.
func startSecureBroker(t *testing.T, p *testPKI, dir string, extra map[string]string) *secBroker {
	t.Helper()
	props := map[string]string{
		"listeners":                        "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
		"log.dirs":                         dir,
		"ssl.keystore.location":            p.serverFile,
		"ssl.truststore.location":          p.caFile,
		"ssl.client.auth":                  "requested",
		"authorizer.class.name":            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":                      "User:CN=admin,O=Acme",
		"group.initial.rebalance.delay.ms": "0",
	}
	for k, v := range extra {
		props[k] = v
	}
	return startSecureBrokerProps(t, props)
}

// startSecureBrokerProps runs a broker with exactly props, logging at debug into the
// returned logs and counting on its own registry.
func startSecureBrokerProps(t *testing.T, props map[string]string) *secBroker {
	t.Helper()
	logs := &syncBuffer{}
	dir := props["log.dirs"]
	if dir == "" {
		dir = t.TempDir()
		props["log.dirs"] = dir
	}
	cfg, err := ParseConfig(props)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			b.Close()
			<-done
		}
	})
	sb := &secBroker{b: b, logs: logs, dir: dir, reg: reg}
	return sb
}

func newKgo(t *testing.T, seed string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(seed), kgo.RequestRetries(1), kgo.RetryTimeout(3 * time.Second),
		kgo.MetadataMinAge(50 * time.Millisecond), kgo.ProducerLinger(0)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func adminClient(t *testing.T, p *testPKI, s *secBroker) (*kadm.Client, *kgo.Client) {
	cl := newKgo(t, s.addr("SSL"), kgo.DialTLSConfig(p.clientTLS(t, p.clientCert(t, "admin", time.Now().Add(time.Hour)))))
	return kadm.NewClient(cl), cl
}

func TestSecurityEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	p := newTestPKI(t)
	dir := t.TempDir()
	s := startSecureBroker(t, p, dir, nil)
	adm, admCl := adminClient(t, p, s)

	// mTLS super user: create a topic, users and ACLs.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "secret-orders"); err != nil {
		t.Fatalf("admin create topic: %v", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "public-news"); err != nil {
		t.Fatalf("admin create topic: %v", err)
	}
	const alicePass, bobPass = "al1ce-S3cret-pw", "b0b-pw-Zq"
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: alicePass},
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: bobPass},
	})
	if err != nil || res.Error() != nil {
		t.Fatalf("alter scram: %v %v", err, res.Error())
	}
	desc, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(desc) != 2 || desc["bob"].CredInfos[0].Iterations != 8192 {
		t.Fatalf("describe scram: %v %+v", err, desc)
	}
	// Iterations below 4096 are refused.
	low := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	low.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{Name: "carol", Mechanism: 1, Iterations: 100, Salt: []byte("salt"), SaltedPassword: []byte("0123456789abcdef0123456789abcdef")}}
	if lr, err := low.RequestWith(ctx, admCl); err != nil || lr.Results[0].ErrorCode != kerr.UnacceptableCredential.Code {
		t.Fatalf("low iterations: %v %+v", err, lr)
	}
	acl := kadm.NewACLs().Allow("User:alice").Topics("public-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Operations(kadm.OpRead, kadm.OpWrite).AllowHosts("*")
	if r, err := adm.CreateACLs(ctx, acl); err != nil || r[0].Err != nil {
		t.Fatalf("create acls: %v %+v", err, r)
	}
	grpACL := kadm.NewACLs().Allow("User:alice").Groups("g1").Operations(kadm.OpRead).AllowHosts("*")
	if r, err := adm.CreateACLs(ctx, grpACL); err != nil || r[0].Err != nil {
		t.Fatalf("create group acl: %v %+v", err, r)
	}
	described, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
		Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil || len(described) != 1 || len(described[0].Described) != 3 {
		t.Fatalf("describe acls: %v %+v", err, described)
	}

	// Metadata over the SSL listener advertises the SSL listener.
	bm, err := adm.BrokerMetadata(ctx)
	if err != nil || len(bm.Brokers) != 1 || int(bm.Brokers[0].Port) != s.b.ListenerAddr("SSL").(*net.TCPAddr).Port {
		t.Fatalf("ssl metadata: %v %+v", err, bm.Brokers)
	}

	t.Run("scram-sha-512 over tls", func(t *testing.T) {
		cl := newKgo(t, s.addr("SASL_SSL"), kgo.DialTLSConfig(p.clientTLS(t, nil)),
			kgo.SASL(scram.Auth{User: "alice", Pass: alicePass}.AsSha512Mechanism()),
			kgo.ConsumeTopics("public-news"), kgo.ConsumerGroup("g1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "public-news", Value: []byte("hello")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		fs := cl.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %+v", errs)
		}
		if fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "hello" {
			t.Fatalf("consumed %d records", fs.NumRecords())
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		// Metadata over SASL_SSL advertises the SASL_SSL port and hides undescribable topics.
		m, err := kadm.NewClient(cl).Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if int(m.Brokers[0].Port) != s.b.ListenerAddr("SASL_SSL").(*net.TCPAddr).Port {
			t.Errorf("advertised port %d", m.Brokers[0].Port)
		}
		if _, ok := m.Topics["secret-orders"]; ok || len(m.Topics) != 1 {
			t.Errorf("metadata shows %v", m.Topics.Names())
		}
		// Authorized operations: READ and WRITE granted, DESCRIBE implied, nothing else.
		mreq := kmsg.NewPtrMetadataRequest()
		mreq.IncludeTopicAuthorizedOperations = true
		mreq.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("public-news")}}
		mresp, err := mreq.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		want := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationWrite | 1<<kmsg.ACLOperationDescribe)
		if len(mresp.Topics) != 1 || mresp.Topics[0].AuthorizedOperations != want {
			t.Errorf("authorized operations %+v, want %b", mresp.Topics, want)
		}
		// Missing ACLs: TOPIC_AUTHORIZATION_FAILED, and no data.
		err = cl.ProduceSync(ctx, &kgo.Record{Topic: "secret-orders", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("produce to secret topic: %v", err)
		}
		// Cluster operations need cluster ACLs.
		if _, err := kadm.NewClient(cl).CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("x").Operations(kadm.OpAll).AllowHosts("*")); err == nil {
			r, _ := kadm.NewClient(cl).CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("x").Operations(kadm.OpAll).AllowHosts("*"))
			if len(r) == 0 || !errors.Is(r[0].Err, kerr.ClusterAuthorizationFailed) {
				t.Errorf("create acls without cluster alter: %+v", r)
			}
		}
		// WRITE without CREATE: producing to a missing topic does not create it.
		err = cl.ProduceSync(ctx, &kgo.Record{Topic: "public-new", Value: []byte("x")}).FirstErr()
		if err == nil || s.b.lookupTopic("public-new") != nil {
			t.Errorf("produce to a missing topic: %v, created %v", err, s.b.lookupTopic("public-new") != nil)
		}
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "new-topic"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("create topic without create acl: %v", err)
		}
	})

	t.Run("fetch denied", func(t *testing.T) {
		cl := newKgo(t, s.addr("SASL_PLAINTEXT"), kgo.SASL(scram.Auth{User: "bob", Pass: bobPass}.AsSha256Mechanism()))
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 10
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "public-news"
		rt.TopicID = s.b.lookupTopic("public-news").ID // kgo sends v13+: by ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || len(resp.Topics[0].Partitions[0].RecordBatches) != 0 {
			t.Fatalf("fetch by bob: %+v", resp.Topics)
		}
		// Group join without group ACL.
		jg := kmsg.NewPtrJoinGroupRequest()
		jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = "g1", "consumer", 10000, 10000
		jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
		jr, err := jg.RequestWith(ctx, cl)
		if !errors.Is(err, kerr.GroupAuthorizationFailed) && (err != nil || jr.ErrorCode != kerr.GroupAuthorizationFailed.Code) {
			t.Fatalf("join group: %v %+v", err, jr)
		}
	})

	t.Run("plain", func(t *testing.T) {
		cl := newKgo(t, s.addr("SASL_PLAINTEXT"), kgo.SASL(plain.Auth{User: "alice", Pass: alicePass}.AsMechanism()))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "public-news", Value: []byte("plain")}).FirstErr(); err != nil {
			t.Fatalf("produce with PLAIN: %v", err)
		}
		// A fetch of an allowed and a denied topic over plain TCP (where a zero-copy
		// response may be used): data for the one, TOPIC_AUTHORIZATION_FAILED for the other.
		// kgo sends the newest version, so topics go by ID.
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 10
		ids := map[[16]byte]string{}
		for _, name := range []string{"public-news", "secret-orders"} {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = name
			rt.TopicID = s.b.lookupTopic(name).ID
			ids[rt.TopicID] = name
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]kmsg.FetchResponseTopicPartition{}
		for _, rt := range resp.Topics {
			got[ids[rt.TopicID]] = rt.Partitions[0]
		}
		if p := got["public-news"]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
			t.Errorf("allowed topic: code %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
		}
		if p, ok := got["secret-orders"]; !ok || p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.RecordBatches) != 0 {
			t.Errorf("denied topic: %v code %d, %d bytes", ok, p.ErrorCode, len(p.RecordBatches))
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		for name, mech := range map[string]kgo.Opt{
			"plain":      kgo.SASL(plain.Auth{User: "alice", Pass: "wrong-pass-1"}.AsMechanism()),
			"scram":      kgo.SASL(scram.Auth{User: "alice", Pass: "wrong-pass-2"}.AsSha512Mechanism()),
			"nosuchuser": kgo.SASL(scram.Auth{User: "mallory", Pass: "wrong-pass-3"}.AsSha256Mechanism()),
			"wrongmech":  kgo.SASL(scram.Auth{User: "bob", Pass: bobPass}.AsSha512Mechanism()),
		} {
			cl := newKgo(t, s.addr("SASL_PLAINTEXT"), mech)
			err := cl.Ping(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED", name, err)
			}
			if err != nil && (strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "mallory")) {
				t.Errorf("%s: error names the user: %v", name, err)
			}
		}
	})

	t.Run("certificates", func(t *testing.T) {
		// Untrusted client certificate (another CA): the handshake fails.
		otherCA, otherKey, _ := newCA(t, "evil-ca")
		c, k := issue(t, otherCA, otherKey, pkix.Name{CommonName: "admin", Organization: []string{"Acme"}}, false, time.Now().Add(time.Hour))
		evil, _ := tls.X509KeyPair(c, k)
		expired := p.clientCert(t, "admin", time.Now().Add(-time.Hour))
		for name, cert := range map[string]*tls.Certificate{"untrusted": &evil, "expired": expired} {
			cfg := p.clientTLS(t, nil)
			// Send the certificate even though the broker does not list its CA as acceptable.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
			conn, err := tls.Dial("tcp", s.addr("SSL"), cfg)
			if err == nil {
				// TLS 1.3: the server's verdict arrives with the first read.
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("%s client certificate: %v", name, err)
			}
		}
		// TLS 1.1 is refused (ssl.enabled.protocols=TLSv1.2,TLSv1.3).
		old := p.clientTLS(t, nil)
		old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		if c, err := tls.Dial("tcp", s.addr("SSL"), old); err == nil {
			c.Close()
			t.Error("TLS 1.1 handshake succeeded")
		}
		// A client that does not trust the broker's CA.
		cl := newKgo(t, s.addr("SSL"), kgo.DialTLSConfig(&tls.Config{ServerName: "127.0.0.1"}))
		var uerr x509.UnknownAuthorityError
		if err := cl.Ping(ctx); !errors.As(err, &uerr) {
			t.Errorf("untrusted server: %v", err)
		}
		// SSL without a client certificate is User:ANONYMOUS: no topics visible.
		anon := newKgo(t, s.addr("SSL"), kgo.DialTLSConfig(p.clientTLS(t, nil)))
		m, err := kadm.NewClient(anon).Metadata(ctx)
		if err != nil || len(m.Topics) != 0 {
			t.Errorf("anonymous metadata: %v %v", err, m.Topics.Names())
		}
		// PLAINTEXT is ANONYMOUS too.
		pt := newKgo(t, s.addr("PLAINTEXT"))
		if err := pt.ProduceSync(ctx, &kgo.Record{Topic: "public-news", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("anonymous produce: %v", err)
		}
	})

	t.Run("pre-auth limits", func(t *testing.T) {
		f := func(req kmsg.Request) {
			t.Helper()
			c, err := net.Dial("tcp", s.addr("SASL_PLAINTEXT"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write(encodeRequest(req, 1, "raw"))
			if n, err := c.Read(make([]byte, 64)); err == nil {
				t.Errorf("%s before authentication answered (%d bytes)", kmsg.NameForKey(req.Key()), n)
			}
		}
		f(kmsg.NewPtrMetadataRequest())
		big := kmsg.NewPtrSASLAuthenticateRequest()
		big.SASLAuthBytes = make([]byte, 600<<10)
		f(big) // over sasl.server.max.receive.size
	})

	t.Run("acks=0 denied closes", func(t *testing.T) {
		c, err := net.Dial("tcp", s.addr("PLAINTEXT"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pr := kmsg.NewPtrProduceRequest()
		pr.Version, pr.Acks, pr.TimeoutMillis = 9, 0, 1000
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = "public-news"
		pp := kmsg.NewProduceRequestTopicPartition()
		pt.Partitions = append(pt.Partitions, pp)
		pr.Topics = append(pr.Topics, pt)
		c.Write(encodeRequest(pr, 1, "raw"))
		expectClosed(t, c)
	})

	t.Run("describe configs hides secrets", func(t *testing.T) {
		dc, err := adm.DescribeBrokerConfigs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, rc := range dc {
			for _, c := range rc.Configs {
				if c.Key == "ssl.keystore.key" || c.Key == "ssl.key.password" {
					found = true
					if !c.Sensitive || c.Value != nil {
						t.Errorf("%s: sensitive=%v value=%v", c.Key, c.Sensitive, c.Value)
					}
				}
			}
		}
		if !found {
			t.Error("ssl.keystore.key not described")
		}
	})

	t.Run("certificate reload", func(t *testing.T) {
		serverCN := func() string {
			conn, err := tls.Dial("tcp", s.addr("SSL"), p.clientTLS(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
		}
		if cn := serverCN(); cn != "strata-broker" {
			t.Fatalf("server cn %q", cn)
		}
		p.writeServer(t, "strata-broker-rotated")
		future := time.Now().Add(time.Minute)
		os.Chtimes(p.serverFile, future, future)
		deadline := time.Now().Add(20 * time.Second)
		for serverCN() != "strata-broker-rotated" {
			if time.Now().After(deadline) {
				t.Fatal("certificate not reloaded")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	// Metrics count failures without naming users or topics.
	if n := counterValue(t, s.reg, "strata_sasl_authentications_total", "SCRAM-SHA-512", "failure"); n < 1 {
		t.Errorf("scram failures counted %v", n)
	}
	if n := counterValue(t, s.reg, "strata_tls_handshake_failures_total", "SSL"); n < 2 {
		t.Errorf("tls failures counted %v", n)
	}
	if n := counterValue(t, s.reg, "strata_authorization_denials_total", "describe", "topic"); n < 1 { // labels operation, resource_type
		t.Errorf("denials counted %v", n)
	}
	if mfs, err := s.reg.Gather(); err == nil {
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if v := l.GetValue(); v == "alice" || v == "secret-orders" || strings.Contains(v, "pass") {
						t.Errorf("metric %s label %s=%s", mf.GetName(), l.GetName(), v)
					}
				}
			}
		}
	}

	// Nothing secret in the logs.
	logs := s.logs.String()
	for _, secret := range []string{alicePass, bobPass, "wrong-pass", "PRIVATE KEY"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs, "sasl authentication failed") {
		t.Error("failed authentications not logged")
	}
	// The credential file holds no password and is private.
	data, err := os.ReadFile(filepath.Join(dir, metaDirName, security.SCRAMFileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(alicePass)) {
		t.Error("credential file holds the password")
	}
	if fi, _ := os.Stat(filepath.Join(dir, metaDirName, security.SCRAMFileName)); fi.Mode().Perm() != 0o600 {
		t.Errorf("credential file mode %v", fi.Mode())
	}

	// Users and ACLs survive a restart.
	s.b.Close()
	s2 := startSecureBroker(t, p, dir, nil)
	cl := newKgo(t, s2.addr("SASL_SSL"), kgo.DialTLSConfig(p.clientTLS(t, nil)),
		kgo.SASL(scram.Auth{User: "alice", Pass: alicePass}.AsSha512Mechanism()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "public-news", Value: []byte("after restart")}).FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secret-orders", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("secret produce after restart: %v", err)
	}
}

func TestSSLClientAuthRequired(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	p := newTestPKI(t)
	s := startSecureBroker(t, p, t.TempDir(), map[string]string{"listeners": "SSL://127.0.0.1:0", "ssl.client.auth": "required",
		"ssl.principal.mapping.rules": "RULE:^CN=([^,]*),O=Acme$/$1/L,DEFAULT", "super.users": "User:admin"})
	// No client certificate: the handshake fails.
	conn, err := tls.Dial("tcp", s.addr("SSL"), p.clientTLS(t, nil))
	if err == nil {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("no client certificate: %v", err)
	}
	// CN=Admin,O=Acme maps to User:admin, a super user.
	cl := newKgo(t, s.addr("SSL"), kgo.DialTLSConfig(p.clientTLS(t, p.clientCert(t, "Admin", time.Now().Add(time.Hour)))))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "mapped"); err != nil {
		t.Fatalf("mapped super user: %v", err)
	}
	// CN=bob is User:bob: no ACLs.
	bob := newKgo(t, s.addr("SSL"), kgo.DialTLSConfig(p.clientTLS(t, p.clientCert(t, "bob", time.Now().Add(time.Hour)))))
	if _, err := kadm.NewClient(bob).CreateTopic(ctx, 1, 1, nil, "bobs"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob create: %v", err)
	}
}

func TestSecurityConfigValidation(t *testing.T) {
	f := func(props map[string]string, want string) {
		t.Helper()
		p := map[string]string{"log.dirs": t.TempDir()}
		for k, v := range props {
			p[k] = v
		}
		_, err := ParseConfig(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want error naming %s", props, err, want)
		}
	}
	f(map[string]string{"listeners": "SSL://:0"}, "listeners")
	f(map[string]string{"listeners": "FOO://:0"}, "listeners")
	f(map[string]string{"listeners": "FOO://:0", "listener.security.protocol.map": "FOO:BAR"}, "listener.security.protocol.map")
	f(map[string]string{"ssl.client.auth": "maybe"}, "ssl.client.auth")
	f(map[string]string{"ssl.enabled.protocols": "TLSv1.1"}, "ssl.enabled.protocols")
	f(map[string]string{"sasl.enabled.mechanisms": "GSSAPI"}, "sasl.enabled.mechanisms")
	f(map[string]string{"ssl.key.password": "hunter2"}, "ssl.key.password")
	f(map[string]string{"ssl.principal.mapping.rules": "RULE:x"}, "ssl.principal.mapping.rules")
	_, err := ParseConfig(map[string]string{"log.dirs": t.TempDir(), "ssl.key.password": "hunter2"})
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
	c, err := ParseConfig(map[string]string{"log.dirs": t.TempDir(), "listeners": "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
		"listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.ListenerAddr("INTERNAL") == nil || b.ListenerAddr("EXTERNAL") == nil || b.listeners[1].spec.protocol != protoSASLPlaintext {
		t.Errorf("listeners %+v", b.listeners)
	}
}

func TestListenerOverrides(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	p := newTestPKI(t)
	s := startSecureBroker(t, p, t.TempDir(), map[string]string{
		"listeners":                          "SSL://127.0.0.1:0,MTLS://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"listener.security.protocol.map":     "MTLS:SSL",
		"ssl.client.auth":                    "none",
		"listener.name.mtls.ssl.client.auth": "required",
		"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "SCRAM-SHA-512",
	})
	// SSL without a client certificate: fine on SSL, refused on MTLS.
	if err := newKgo(t, s.addr("SSL"), kgo.DialTLSConfig(p.clientTLS(t, nil))).Ping(ctx); err != nil {
		t.Fatalf("SSL without certificate: %v", err)
	}
	conn, err := tls.Dial("tcp", s.addr("MTLS"), p.clientTLS(t, nil))
	if err == nil {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("MTLS without certificate: %v", err)
	}
	// The admin certificate works on MTLS (and is a super user).
	adm := kadm.NewClient(newKgo(t, s.addr("MTLS"), kgo.DialTLSConfig(p.clientTLS(t, p.clientCert(t, "admin", time.Now().Add(time.Hour))))))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "over-mtls"); err != nil {
		t.Fatalf("admin over MTLS: %v", err)
	}
	// SASL_PLAINTEXT offers only SCRAM-SHA-512.
	if err := newKgo(t, s.addr("SASL_PLAINTEXT"), kgo.SASL(plain.Auth{User: "x", Pass: "y"}.AsMechanism())).Ping(ctx); !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("PLAIN on a SCRAM-only listener: %v", err)
	}
	// Overrides must name a listener and a supported key.
	f := func(props map[string]string) {
		t.Helper()
		p := map[string]string{"log.dirs": t.TempDir(), "listeners": "PLAINTEXT://127.0.0.1:0"}
		for k, v := range props {
			p[k] = v
		}
		if _, err := ParseConfig(p); err == nil {
			t.Errorf("%v accepted", props)
		}
	}
	f(map[string]string{"listener.name.nope.ssl.client.auth": "required"})
	f(map[string]string{"listener.name.plaintext.log.retention.ms": "1"})
	f(map[string]string{"listener.name.plaintext.ssl.client.auth": "sometimes"})
}

// counterValue is the value of the counter name whose label values are values (in the
// labels' name order), or 0 when there is none.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, values ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			ls := m.GetLabel()
			if len(ls) != len(values) {
				continue
			}
			for i, l := range ls {
				if l.GetValue() != values[i] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
