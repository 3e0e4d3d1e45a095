package leakcheck

import (
	"strings"
	"testing"
	"time"
)

func parkedUntil(started, stop chan struct{}) {
	close(started)
	<-stop
}

func TestLeakedFindsAndForgets(t *testing.T) {
	started, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		parkedUntil(started, stop)
	}()
	<-started
	got := Leaked(50*time.Millisecond, "leakcheck.parkedUntil")
	if !strings.Contains(got, "parkedUntil") {
		t.Fatalf("running goroutine not reported: %q", got)
	}
	close(stop)
	<-done
	if got := Leaked(time.Second, "leakcheck.parkedUntil"); got != "" {
		t.Fatalf("ended goroutine reported: %q", got)
	}
}
