package tiering

import (
	"testing"
	"time"
)

// The read-error log limiter: a repeat of the last line is held back for
// readErrorLogEvery, distinct failures pass in a burst of readErrorLogBurst and then one
// per readErrorLogEvery, and the next line counts what was held back.
func TestLogLimiter(t *testing.T) {
	var l logLimiter
	t0 := time.Unix(1_000_000, 0)
	allow := func(at time.Duration, key string, off int64, wantOK bool, wantHeld int) {
		t.Helper()
		if ok, held := l.allow(t0.Add(at), key, off); ok != wantOK || held != wantHeld {
			t.Fatalf("at %s, %s@%d: allow = %v, %d held; want %v, %d", at, key, off, ok, held, wantOK, wantHeld)
		}
	}
	allow(0, "a", 5, true, 0)
	allow(time.Second, "a", 5, false, 0) // a consumer retrying the same batch
	allow(2*time.Second, "a", 6, true, 1)
	for i := range readErrorLogBurst - 2 {
		allow(3*time.Second, "b", int64(i), true, 0)
	}
	allow(3*time.Second, "c", 0, false, 0) // the burst is spent
	allow(3*time.Second+readErrorLogEvery, "c", 0, true, 1)
	allow(3*time.Second+readErrorLogEvery+time.Millisecond, "d", 0, false, 0)
}
