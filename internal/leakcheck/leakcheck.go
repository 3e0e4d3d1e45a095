// Package leakcheck fails a test binary when goroutines outlive its tests: every
// goroutine Strata starts must have an owner that stops it and waits for it. Packages call
// Main from TestMain with the stack fragments that mark their goroutines.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Wait is how long Main lets goroutines wind down before it reports them: a loaded
// 2-core machine under -race can be slow to stop them, and the bound only decides how
// long a real leak takes to report.
const Wait = 10 * time.Second

// Strata marks every goroutine running Strata code.
const Strata = "strata-io/strata/"

// Main runs the tests and then, when they passed, waits up to Wait for the goroutines
// whose stacks contain any of markers (Strata when none are given) to end; any left are
// printed and fail the binary. It does not return.
func Main(m *testing.M, markers ...string) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(Wait, markers...); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked returns the stacks of the goroutines matching markers that are still running
// after up to wait, or "" when none is.
func Leaked(wait time.Duration, markers ...string) string {
	if len(markers) == 0 {
		markers = []string{Strata}
	}
	deadline := time.Now().Add(wait)
	for {
		leaked := matching(markers)
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func matching(markers []string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "leakcheck.Leaked(") {
			continue // the goroutine running this check
		}
		for _, m := range markers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
