package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering/storewrap"
)

// TestReadyzAnswersAtOnceWhileBucketHangs: with every bucket call hanging (an unreachable
// endpoint), /readyz still answers within a short bound from the last known state, and
// turns not-ready once the background probe has timed out; back to ok when the bucket is.
// Before, /readyz waited for its own 3 s probe.
func TestReadyzAnswersAtOnceWhileBucketHangs(t *testing.T) {
	l := startLive(t)
	// Generous for a loaded 2-core machine, and well under the 3 s probe timeout.
	const bound = 1500 * time.Millisecond
	client := &http.Client{Timeout: 10 * time.Second}
	readyz := func() (time.Duration, int, Readiness) {
		t.Helper()
		start := time.Now()
		resp, err := client.Get(l.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rd Readiness
		if err := json.NewDecoder(resp.Body).Decode(&rd); err != nil {
			t.Fatal(err)
		}
		return time.Since(start), resp.StatusCode, rd
	}
	if _, code, rd := readyz(); code != 200 {
		t.Fatalf("/readyz before the outage: %d %+v", code, rd)
	}

	l.store.SetConfig(storewrap.FaultConfig{Latency: time.Hour}) // every call hangs until its ctx ends
	var slowest time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for {
		took, code, rd := readyz()
		slowest = max(slowest, took)
		if took > bound {
			t.Errorf("/readyz took %v while the bucket hangs (bound %v)", took, bound)
		}
		if code == 503 && len(rd.Reasons) > 0 && strings.HasPrefix(rd.Reasons[0], "bucket unreachable: ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %+v 30 s into the outage", code, rd)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("not ready after the background probe timed out; slowest /readyz %v", slowest)

	l.store.SetConfig(storewrap.FaultConfig{})
	waitFor(t, "ready again", 30*time.Second, func() bool {
		took, code, _ := readyz()
		if took > bound {
			t.Errorf("/readyz took %v while the bucket recovers", took)
		}
		return code == 200
	})
}
