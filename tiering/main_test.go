package tiering_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines started by Strata code (upload loops,
// prefetches) outlive the tests: every goroutine must have an owner that waits for it.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := strataGoroutines(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func strataGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if (strings.Contains(g, "strata-io/strata/") || strings.Contains(g, "dgraph-io/ristretto")) && !strings.Contains(g, "TestMain") && !strings.Contains(g, "strataGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
