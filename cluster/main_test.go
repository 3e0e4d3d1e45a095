package cluster

import (
	"testing"

	"github.com/strata-io/strata/internal/leakcheck"
)

// TestMain fails the package when goroutines of Strata code or of raft (a node's
// elections, replication, transport connections) outlive the tests: Close must stop them.
func TestMain(m *testing.M) { leakcheck.Main(m, leakcheck.Strata, "hashicorp/raft") }
