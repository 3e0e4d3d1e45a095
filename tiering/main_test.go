package tiering_test

import (
	"testing"

	"github.com/strata-io/strata/internal/leakcheck"
)

// TestMain fails the package when goroutines started by Strata code (upload loops,
// prefetches) outlive the tests: every goroutine must have an owner that waits for it.
func TestMain(m *testing.M) { leakcheck.Main(m) }
