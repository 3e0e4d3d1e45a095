package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/tiering"
)

// buildObjectStore opens the object store chosen by tc. It returns a nil store for "none".
// Secrets in tc are passed to the store and never logged.
func buildObjectStore(ctx context.Context, tc tierConfig, logger *slog.Logger, reg prometheus.Registerer) (tiering.ObjectStore, func(), error) {
	noop := func() {}
	switch tc.Store {
	case "none":
		logger.Info("tiered storage disabled", "strata.tier.store", "none")
		return nil, noop, nil
	}
	return nil, noop, fmt.Errorf("store %q is not available in this build", tc.Store)
}
