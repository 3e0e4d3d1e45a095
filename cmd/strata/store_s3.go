package main

import (
	"context"
	"log/slog"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/s3store"
)

// buildS3Store opens the S3 store described by tc.S3. It does not create the bucket; a
// bucket that cannot be reached stops uploads, not the broker.
func buildS3Store(ctx context.Context, tc tierConfig, logger *slog.Logger) (tiering.ObjectStore, func(), error) {
	c := tc.S3
	st, err := s3store.New(ctx, s3store.Config{
		Bucket:       c.Bucket,
		Region:       c.Region,
		Endpoint:     c.Endpoint,
		PathStyle:    c.PathStyle,
		AccessKey:    c.AccessKey,
		SecretKey:    c.SecretKey,
		SSE:          c.SSE,
		KMSKeyID:     c.SSEKMSKeyID,
		StorageClass: c.StorageClass,
		Logger:       logger.With("component", "s3store"),

		MaxRetryDuration: c.MaxRetryDuration,
	})
	if err != nil {
		return nil, func() {}, err
	}
	creds := "default chain"
	if c.AccessKey != "" {
		creds = "static"
	}
	logger.Info("tier store", "kind", "s3", "bucket", c.Bucket, "endpoint", c.Endpoint, "region", c.Region,
		"path_style", c.PathStyle, "credentials", creds, "sse", c.SSE, "storage_class", c.StorageClass, "prefix", tc.Prefix)
	return st, func() {}, nil
}
