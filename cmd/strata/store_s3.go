package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/strata-io/strata/tiering"
)

// buildS3Store opens the S3 store described by tc.S3.
func buildS3Store(ctx context.Context, tc tierConfig, logger *slog.Logger) (tiering.ObjectStore, func(), error) {
	return nil, func() {}, errors.New("the s3 store is not available in this build yet")
}
