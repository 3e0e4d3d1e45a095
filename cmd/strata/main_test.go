package main

import (
	"testing"

	"github.com/strata-io/strata/internal/leakcheck"
)

// TestMain fails the package when goroutines of Strata, of franz-go clients or of kfake
// outlive the tests: every command must close its clients and serve must stop its broker.
func TestMain(m *testing.M) { leakcheck.Main(m, leakcheck.Strata, "twmb/franz-go") }
