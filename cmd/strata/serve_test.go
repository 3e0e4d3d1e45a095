package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running server's logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestGatherServePropsPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.properties")
	file := "# example\nlog.dirs=/from/file\nnum.partitions=2\nnode.id=7\nlisteners=PLAINTEXT://127.0.0.1:9092,\\\n  \nstrata.tier.store=fs\n"
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"STRATA_LOG_DIRS=/from/env", "STRATA_NUM_PARTITIONS=3", "STRATA_TIER_STORE=none", "STRATA_NOT_A_KEY=1", "STRATA_SOAK=1", "HOME=/root",
		"STRATA_DISK_BUDGET_BYTES=1048576"}
	flags := map[string]string{"num.partitions": "4"}
	got, ignored, err := gatherServeProps(path, env, flags)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"log.dirs":                 "/from/env",
		"num.partitions":           "4",
		"node.id":                  "7",
		"listeners":                "PLAINTEXT://127.0.0.1:9092,",
		"strata.tier.store":        "none",
		"strata.disk.budget.bytes": "1048576",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if len(ignored) != 1 || ignored[0] != "not.a.key" {
		t.Fatalf("ignored env %v", ignored)
	}
	if _, _, err := gatherServeProps(filepath.Join(t.TempDir(), "missing"), nil, nil); err == nil {
		t.Fatal("missing config file: want error")
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		_, errOut, err := cli(t, "", append([]string{"serve", "--log-dirs", t.TempDir()}, args...)...)
		if err == nil || !strings.Contains(err.Error()+errOut, want) {
			t.Fatalf("serve %v: err %v, want it to mention %q", args, err, want)
		}
	}
	f("no.such.key", "--set", "no.such.key=1")
	f("strata.tier.bogus", "--set", "strata.tier.bogus=1")
	f("strata.tier.s3.bucket", "--set", "strata.tier.store=s3")
	f("log-format", "--log-format", "xml")
	f("num.partitions", "--set", "num.partitions=lots")
}

func TestServePrintConfigRedactsSecrets(t *testing.T) {
	out := mustCLI(t, "", "serve", "--print-config", "--log-dirs", "/d",
		"--set", "strata.tier.s3.secret.key=hunter2", "--set", "strata.tier.s3.bucket=b")
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret printed: %s", out)
	}
	for _, want := range []string{"log.dirs=/d\n", "strata.tier.s3.secret.key=[redacted]\n", "strata.tier.s3.bucket=b\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("--print-config lacks %q:\n%s", want, out)
		}
	}
}

// TestServeEndToEnd runs `strata serve` in-process on a free port, drives it with the client
// commands, and stops it by cancelling the context as SIGTERM does.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs},
			[]string{"serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", filepath.Join(dir, "data"),
				"--set", "strata.tier.s3.secret.key=hunter2", "--log-level", "debug", "--metrics-addr", "127.0.0.1:0"})
	}()
	addr := waitListening(t, logs, done)
	b := "--brokers=" + addr
	m := regexp.MustCompile(`msg="(?:serving metrics|admin listener started)" addr=([0-9.]+:[0-9]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics address in logs:\n%s", logs)
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("/metrics: %d\n%.500s", resp.StatusCode, body)
	}

	mustCLI(t, "", "topic", "create", "orders", b, "--partitions", "3")
	mustCLI(t, "alice:order-1\nbob:order-2\ncarol:order-3\nalice:order-4\n", "produce", "orders", b, "--key-separator", ":", "-q")
	out := mustCLI(t, "", "consume", "orders", b, "--from-beginning", "-e", "--format", `%k %v\n`)
	want := []string{"alice order-1", "alice order-4", "bob order-2", "carol order-3"}
	if got := sortedLines(out); !equalStrings(got, want) {
		t.Fatalf("consume: got %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "tier")); err != nil {
		t.Fatalf("default fs tier store dir: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop\n%s", logs)
	}
	if !strings.Contains(logs.String(), `msg="strata stopped"`) {
		t.Fatalf("no clean stop in logs:\n%s", logs)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Fatal("secret in logs")
	}
}

var listeningRe = regexp.MustCompile(`msg=listening addr=([0-9.]+:[0-9]+)`)

func waitListening(t *testing.T, logs *syncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRe.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", logs)
	return ""
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDeployServerPropertiesParses keeps deploy/server.properties valid: every key is known
// to the broker or to cmd/strata, and the whole file builds a broker config.
func TestDeployServerPropertiesParses(t *testing.T) {
	props, err := loadPropertiesFile("../../deploy/server.properties")
	if err != nil {
		t.Fatal(err)
	}
	props, adminProps := splitAdminProps(props)
	if _, err := parseAdminConfig(adminProps); err != nil {
		t.Fatal(err)
	}
	brokerProps, tierProps := splitTierProps(props)
	if _, err := parseTierConfig(tierProps, dataDirOf(brokerProps)); err != nil {
		t.Fatal(err)
	}
	if _, err := brokerConfig(brokerParams{props: brokerProps}); err != nil {
		t.Fatal(err)
	}
	if props["log.dirs"] != "/var/lib/strata/data" || props["strata.tier.store"] != "fs" {
		t.Fatalf("unexpected props %v", props)
	}
}

// TestBinaryStopsOnSIGTERM runs the real binary: SIGTERM must stop it gracefully (exit 0).
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", filepath.Join(t.TempDir(), "data"))
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		waitListening(t, logs, done)
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("after %v: %v\n%s", sig, err, logs)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("no exit after %v\n%s", sig, logs)
		}
		if !strings.Contains(logs.String(), `msg="strata stopped"`) {
			t.Fatalf("after %v: no clean stop:\n%s", sig, logs)
		}
	}
}
