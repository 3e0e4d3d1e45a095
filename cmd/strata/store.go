package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/fsstore"
)

// buildBaseStore opens the object store chosen by tc, without encryption (buildObjectStore
// adds it). It returns a nil store for "none". Secrets in tc are passed to the store and
// never logged.
func buildBaseStore(ctx context.Context, tc tierConfig, logger *slog.Logger, reg prometheus.Registerer) (tiering.ObjectStore, func(), error) {
	noop := func() {}
	switch tc.Store {
	case "none":
		logger.Info("tiered storage disabled", "strata.tier.store", "none")
		return nil, noop, nil
	case "fs":
		st, err := fsstore.New(tc.FSDir)
		if err != nil {
			return nil, noop, err
		}
		logger.Info("tier store", "kind", "fs", "dir", st.Root(), "prefix", tc.Prefix)
		return st, noop, nil
	case "s3":
		return buildS3Store(ctx, tc, logger)
	}
	return nil, noop, fmt.Errorf("unknown store %q", tc.Store)
}
