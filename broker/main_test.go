package broker

import (
	"testing"

	"github.com/strata-io/strata/internal/leakcheck"
)

// TestMain fails the package when goroutines of Strata code (connection readers and
// workers, maintenance and upload loops, group coordinators) or of franz-go clients
// outlive the tests: every broker a test starts must be closed and wait for its goroutines.
func TestMain(m *testing.M) { leakcheck.Main(m, leakcheck.Strata, "twmb/franz-go") }
