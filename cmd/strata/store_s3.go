package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
		// In an object-lock bucket (versioned) a plain DELETE keeps the data.
		DeleteVersions: c.ObjectLockMode != "",

		MaxRetryDuration: c.MaxRetryDuration,
	})
	if err != nil {
		return nil, func() {}, err
	}
	if c.AccessKey == "" {
		// The SDK's chain ends at the EC2 instance metadata service; a MinIO user without
		// keys would read about IMDS in every upload error. Say it once, in these terms.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := st.CheckCredentials(cctx)
		cancel()
		if err != nil {
			msg := fmt.Sprintf("no S3 credentials for bucket %q: set STRATA_TIER_S3_ACCESS_KEY and STRATA_TIER_S3_SECRET_KEY "+
				"(or strata.tier.s3.access.key and .secret.key), or give the AWS SDK credentials (AWS_ACCESS_KEY_ID and "+
				"AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, an instance role)", c.Bucket)
			if c.Endpoint != "" { // not AWS: an instance role cannot be the answer
				return nil, func() {}, errors.New(msg)
			}
			logger.Warn(msg)
		}
	}
	if tc.CreateBucket {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := st.EnsureBucket(cctx)
		cancel()
		if err != nil {
			return nil, func() {}, bucketError(tc, fmt.Errorf("cannot create bucket: %w", err))
		}
	}
	creds := "default chain"
	if c.AccessKey != "" {
		creds = "static"
	}
	logger.Info("tier store", "kind", "s3", "bucket", c.Bucket, "endpoint", c.Endpoint, "region", c.Region,
		"path_style", c.PathStyle, "credentials", creds, "sse", c.SSE, "storage_class", c.StorageClass, "prefix", tc.Prefix)
	return st, func() {}, nil
}
