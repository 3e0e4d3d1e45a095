package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-io/strata/broker"
)

// TestUserAndACLCommands runs strata user/acl against a broker with ACLs on: the PLAINTEXT
// listener is the operator's (User:ANONYMOUS is a super user there, the usual bootstrap),
// the SASL_PLAINTEXT listener serves users created with `strata user create`.
func TestUserAndACLCommands(t *testing.T) {
	dir := t.TempDir()
	cfg, err := broker.ParseConfig(map[string]string{
		"listeners":             "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"log.dirs":              dir,
		"authorizer.class.name": "strata",
		"super.users":           "User:ANONYMOUS",
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; b.Close() })

	admin := "--brokers=" + b.ListenerAddr("PLAINTEXT").String()
	sasl := []string{"--brokers=" + b.ListenerAddr("SASL_PLAINTEXT").String(), "--security-protocol", "SASL_PLAINTEXT",
		"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-username", "alice"}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cr3t-Pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	mustCLI(t, "", "topic", "create", "orders", admin)
	out := mustCLI(t, "s3cr3t-Pw\n", "user", "create", "alice", "--mechanism", "SCRAM-SHA-256", "--iterations", "4096", admin)
	if strings.Contains(out, "s3cr3t") || !strings.Contains(out, `"alice"`) {
		t.Fatalf("user create: %q", out)
	}
	out = mustCLI(t, "", "user", "list", admin)
	if !strings.Contains(out, "alice") || !strings.Contains(out, "SCRAM-SHA-256") || !strings.Contains(out, "4096") {
		t.Fatalf("user list: %q", out)
	}

	// No ACL yet: alice authenticates but may not write.
	args := append([]string{"produce", "orders", "--sasl-password-file", pwFile}, sasl...)
	if _, _, err := cli(t, "a\n", args...); err == nil || !strings.Contains(err.Error(), "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("produce without acl: %v", err)
	}
	out = mustCLI(t, "", "acl", "create", "--allow", "User:alice", "--operation", "write,describe", "--topic", "ord", "--pattern", "prefixed", admin)
	if strings.Count(out, "created") != 2 {
		t.Fatalf("acl create: %q", out)
	}
	out = mustCLI(t, "", "acl", "list", admin)
	if !strings.Contains(out, "User:alice") || !strings.Contains(out, "prefixed") || strings.Count(out, "\n") != 3 {
		t.Fatalf("acl list: %q", out)
	}
	mustCLI(t, "b\n", args...)
	// A wrong password is refused.
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("nope\n"), 0o600)
	badArgs := append([]string{"topic", "list", "--timeout", "5s", "--sasl-password-file", bad}, sasl...)
	if _, _, err := cli(t, "", badArgs...); err == nil || !strings.Contains(err.Error(), "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("wrong password: %v", err)
	} else if strings.Contains(err.Error(), "nope") {
		t.Fatalf("error shows the password: %v", err)
	}
	// Filters: only alice's write ACL.
	out = mustCLI(t, "", "acl", "delete", "--topic", "ord", "--pattern", "prefixed", "--operation", "write", admin)
	if strings.Count(out, "deleted") != 1 {
		t.Fatalf("acl delete: %q", out)
	}
	if _, _, err := cli(t, "", "acl", "delete", admin); err == nil {
		t.Fatal("acl delete without a resource or --all succeeded")
	}
	out = mustCLI(t, "", "acl", "delete", "--all", admin)
	if strings.Count(out, "deleted") != 1 {
		t.Fatalf("acl delete --all: %q", out)
	}
	mustCLI(t, "", "user", "delete", "alice", admin)
	out = mustCLI(t, "", "user", "list", admin)
	if strings.Contains(out, "alice") {
		t.Fatalf("user list after delete: %q", out)
	}
}

func TestSensitiveKeysRedacted(t *testing.T) {
	out := strings.Join(redacted(map[string]string{"ssl.keystore.key": "-----BEGIN PRIVATE KEY-----", "ssl.key.password": "pw",
		"ssl.keystore.location": "/etc/k.pem", "listener.name.ext.ssl.keystore.key": "-----BEGIN PRIVATE KEY----- 2"}), " ")
	if strings.Contains(out, "PRIVATE") || strings.Contains(out, "=pw") || !strings.Contains(out, "/etc/k.pem") {
		t.Fatalf("redacted: %s", out)
	}
}

// TestDeploySecurePropertiesParses keeps deploy/server-secure.properties valid.
func TestDeploySecurePropertiesParses(t *testing.T) {
	props, err := loadPropertiesFile("../../deploy/server-secure.properties")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := broker.ParseConfig(props)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AuthorizerClassName == "" || cfg.SSLClientAuth != "requested" {
		t.Fatalf("config %+v", cfg.SecurityConfig)
	}
}

// TestUserCreateOffline bootstraps a super user into a stopped broker's data dir, then uses
// it over SASL to create another user.
func TestUserCreateOffline(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, "b00tstrap-pw\n", "user", "create", "admin", "--data-dir", dir)
	cfg, err := broker.ParseConfig(map[string]string{"listeners": "SASL_PLAINTEXT://127.0.0.1:0", "log.dirs": dir,
		"authorizer.class.name": "strata", "super.users": "User:admin"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; b.Close() })
	t.Setenv("STRATA_SASL_PASSWORD", "b00tstrap-pw")
	args := []string{"--brokers=" + b.Addr().String(), "--security-protocol", "SASL_PLAINTEXT", "--sasl-username", "admin"}
	mustCLI(t, "second-pw\n", append([]string{"user", "create", "bob"}, args...)...)
	out := mustCLI(t, "", append([]string{"user", "list"}, args...)...)
	if !strings.Contains(out, "admin") || !strings.Contains(out, "bob") {
		t.Fatalf("user list: %q", out)
	}
}
