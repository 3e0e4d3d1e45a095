package admin

import (
	"strings"
	"testing"

	"github.com/strata-io/strata/broker"
)

// Readiness is degraded while the broker's disk budget (strata.disk.budget.bytes) is used
// up, since producers are being refused.
func TestEvaluateDiskPressure(t *testing.T) {
	h := broker.Health{Recovered: true, DiskFreeBytes: 50, DiskTotalBytes: 100,
		DiskPressure: "local logs use 99 bytes of the 98-byte disk budget"}
	r := Evaluate(h, Config{})
	if r.Status != StatusDegraded || !strings.Contains(strings.Join(r.Reasons, "|"), "disk budget used up, produce refused: local logs use 99 bytes") {
		t.Fatalf("got %s %q", r.Status, r.Reasons)
	}
}
