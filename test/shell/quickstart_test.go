// Package shell runs the shell tests in this directory (kcat against a real strata binary)
// from go test, so `go test ./...` covers them.
package shell

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestQuickstart builds cmd/strata into a temp dir and runs quickstart.sh against it. It is
// skipped with -short and when kcat is not installed (make test installs it).
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat not installed: make test installs it (make kcat)")
	}
	// The build may be the first of cmd/strata on a clean CI machine, next to other
	// packages' builds and tests: the bound is generous (the script itself takes seconds).
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "strata")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/strata-io/strata/cmd/strata")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, "bash", "quickstart.sh")
	cmd.Env = append(os.Environ(), "STRATA_BIN="+bin, "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("quickstart.sh output:\n%s", out)
	if err != nil {
		t.Fatalf("quickstart.sh: %v", err)
	}
}
