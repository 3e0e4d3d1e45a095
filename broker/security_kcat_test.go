package broker

import (
	"context"
	"crypto/x509/pkix"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestKcatSCRAM drives the broker with librdkafka (kcat) over SASL_SSL with
// SCRAM-SHA-256: produce, consume, a wrong password and a missing ACL.
func TestKcatSCRAM(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not installed: make test installs it (make kcat)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	p := newTestPKI(t)
	s := startSecureBroker(t, p, t.TempDir(), nil)
	adm, _ := adminClient(t, p, s)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "kc-events"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "kc-hidden"); err != nil {
		t.Fatal(err)
	}
	const pass = "kc-pa55-word"
	if r, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: pass}}); err != nil || r.Error() != nil {
		t.Fatal(err, r.Error())
	}
	if r, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:carol").Topics("kc-events").Operations(kadm.OpRead, kadm.OpWrite).AllowHosts("*")); err != nil || r[0].Err != nil {
		t.Fatal(err, r)
	}
	run := func(password string, stdin string, args ...string) (string, error) {
		base := []string{"-b", s.addr("SASL_SSL"), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-256",
			"-X", "sasl.username=carol", "-X", "sasl.password=" + password, "-X", "ssl.ca.location=" + p.caFile}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, kcat, append(base, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("kcat %v: %v in %v", args, err, time.Since(start).Round(time.Millisecond))
		return string(out), err
	}
	if out, err := run(pass, "one\ntwo\n", "-P", "-t", "kc-events"); err != nil {
		t.Fatalf("kcat produce: %v\n%s\n%s", err, out, s.logs.String())
	}
	out, err := run(pass, "", "-C", "-t", "kc-events", "-o", "beginning", "-e", "-f", "%s\n")
	if err != nil || !strings.Contains(out, "one\ntwo\n") {
		t.Fatalf("kcat consume: %v\n%s", err, out)
	}
	// Metadata lists only what carol may describe.
	out, err = run(pass, "", "-L")
	if err != nil || !strings.Contains(out, `topic "kc-events"`) || strings.Contains(out, "kc-hidden") {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	// Wrong password: librdkafka reports the SASL failure.
	out, err = run("not-the-password", "", "-L", "-m", "1")
	if err == nil || !strings.Contains(out, "Authentication failed") || strings.Contains(out, "kc-events") {
		t.Fatalf("kcat wrong password: %v\n%s", err, out)
	}
	// Missing ACL: the produce fails with the topic authorization error.
	out, err = run(pass, "x\n", "-P", "-t", "kc-hidden")
	if err == nil || !strings.Contains(strings.ToLower(out), "authoriz") {
		t.Fatalf("kcat produce to hidden topic: %v\n%s", err, out)
	}
	t.Logf("hidden produce: %s", out)
	// librdkafka with a client certificate (mTLS on the SSL listener): CN=admin,O=Acme is a
	// super user and sees every topic.
	certPEM, keyPEM := issue(t, p.ca, p.caKey, pkix.Name{CommonName: "admin", Organization: []string{"Acme"}}, false, time.Now().Add(time.Hour))
	certFile, keyFile := filepath.Join(p.dir, "kc-admin.pem"), filepath.Join(p.dir, "kc-admin.key")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
	defer ccancel()
	outB, err := exec.CommandContext(cctx, kcat, "-b", s.addr("SSL"), "-X", "security.protocol=SSL", "-X", "ssl.ca.location="+p.caFile,
		"-X", "ssl.certificate.location="+certFile, "-X", "ssl.key.location="+keyFile, "-L").CombinedOutput()
	if err != nil || !strings.Contains(string(outB), `topic "kc-hidden"`) {
		t.Fatalf("kcat mTLS -L: %v\n%s", err, outB)
	}
	if strings.Contains(s.logs.String(), pass) {
		t.Error("logs contain the password")
	}
}
