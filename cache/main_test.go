package cache

import (
	"testing"

	"github.com/strata-io/strata/internal/leakcheck"
)

// TestMain fails the package when goroutines started by Strata code (prefetches,
// ristretto workers) outlive the tests: every goroutine must have an owner that waits for it.
func TestMain(m *testing.M) { leakcheck.Main(m, leakcheck.Strata, "dgraph-io/ristretto") }
