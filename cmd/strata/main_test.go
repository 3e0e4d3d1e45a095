package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines of Strata, of franz-go clients or of kfake
// outlive the tests: every command must close its clients and serve must stop its broker.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := lingeringGoroutines(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func lingeringGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "lingeringGoroutines") || strings.Contains(g, "TestMain") {
				continue
			}
			if strings.Contains(g, "strata-io/strata/") || strings.Contains(g, "twmb/franz-go") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
