package partition

import (
	"testing"

	"github.com/strata-io/strata/internal/leakcheck"
)

// TestMain fails the package when goroutines of Strata code (background remote reads,
// upload loops of the tiers the tests attach) outlive the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, leakcheck.Strata) }
