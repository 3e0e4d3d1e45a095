package shell

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/test/miniotest"
)

// readmeSection returns the ```sh blocks of the README section that starts with heading, up to
// its first subsection.
func readmeSection(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	if i := strings.Index(rest, "\n##"); i >= 0 { // up to the next heading or subsection
		rest = rest[:i]
	}
	var blocks []string
	for {
		_, after, ok := strings.Cut(rest, "```sh\n")
		if !ok {
			return blocks
		}
		block, tail, _ := strings.Cut(after, "```\n")
		blocks = append(blocks, block)
		rest = tail
	}
}

// lockedBuf is a log sink safe for a background process and the test.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReadmeTiering runs the README's "Tiered storage" section as a user would after the
// quickstart: in a directory holding ./bin/strata and the quickstart's ./data (fs store), the
// MinIO serve command exactly as written (only the MinIO port differs: the test's MinIO
// listens on a free port; the broker's own addresses and the credentials come from the
// environment, as the README says), then the topic command as written (STRATA_BROKERS), then
// records through the new topic. Issue 14: the section must keep working verbatim.
func TestReadmeTiering(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and runs the README commands; make test runs it (never -short)")
	}
	blocks := readmeSection(t, "## Tiered storage")
	if len(blocks) != 2 || !strings.Contains(blocks[0], "./bin/strata serve") || !strings.Contains(blocks[1], "./bin/strata topic create events") {
		t.Fatalf("README tiering section changed shape (want the MinIO serve and the topic create blocks): %q", blocks)
	}
	mc := miniotest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(work, "bin", "strata"), "github.com/strata-io/strata/cmd/strata")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"STRATA_LISTENERS=PLAINTEXT://127.0.0.1:0", "STRATA_ADMIN_LISTENER=127.0.0.1:0",
		"STRATA_TIER_S3_ACCESS_KEY="+mc.AccessKey, "STRATA_TIER_S3_SECRET_KEY="+mc.SecretKey)

	// The quickstart left ./data with the default fs store behind.
	qs := exec.CommandContext(ctx, "./bin/strata", "serve", "--log-dirs", "./data")
	qs.Dir, qs.Env = work, env
	qsLog := &lockedBuf{}
	qs.Stdout, qs.Stderr = qsLog, qsLog
	if err := qs.Start(); err != nil {
		t.Fatal(err)
	}
	waitAddr(t, qsLog)
	qs.Process.Signal(os.Interrupt)
	if err := qs.Wait(); err != nil {
		t.Fatalf("quickstart broker: %v\n%s", err, qsLog)
	}

	serveCmd := strings.ReplaceAll(blocks[0], "http://127.0.0.1:9000", mc.Endpoint)
	serve := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", "exec "+serveCmd)
	serve.Dir, serve.Env = work, env
	log := &lockedBuf{}
	serve.Stdout, serve.Stderr = log, log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		serve.Process.Signal(os.Interrupt)
		if err := serve.Wait(); err != nil {
			t.Errorf("serve: %v\n%s", err, log)
		}
	}()
	addr := waitAddr(t, log)
	run := func(stdin, script string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = work, append(env, "STRATA_BROKERS="+addr)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\nbroker log:\n%s", script, err, out, log)
		}
		return string(out)
	}
	if out := run("", blocks[1]); out != "created topic \"events\" with 3 partitions\n" {
		t.Fatalf("topic create: %q", out)
	}
	run("a:1\nb:2\nc:3\n", "./bin/strata produce events --key-separator : -q")
	out := run("", "./bin/strata consume events --from-beginning -e --format '%k=%v\\n' | sort")
	if out != "a=1\nb=2\nc=3\n" {
		t.Fatalf("consume: %q", out)
	}
	if ok, err := mc.Client.BucketExists(ctx, "strata"); err != nil || !ok {
		t.Fatalf("bucket strata not created: %v", err)
	}
	if !strings.Contains(run("", "./bin/strata topic describe events"), "local.retention.ms=3600000") {
		t.Fatal("topic configs not set")
	}
}

var addrRe = regexp.MustCompile(`msg=listening addr=([0-9.]+:[0-9]+)`)

func waitAddr(t *testing.T, log fmt.Stringer) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(log.String()))
		for sc.Scan() {
			if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
				return m[1]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("broker did not start:\n%s", log)
	return ""
}
