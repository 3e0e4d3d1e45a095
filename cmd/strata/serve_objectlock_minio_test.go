package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/strata-io/strata/test/miniotest"
)

// TestServeObjectLockMinIO runs strata serve with strata.tier.s3.object.lock.mode=GOVERNANCE
// on a MinIO bucket created with object lock: the uploaded segment objects of a topic with
// retention.ms of one day carry GOVERNANCE retention until about a day after their records.
func TestServeObjectLockMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and a broker")
	}
	mc := miniotest.Start(t)
	bucket := fmt.Sprintf("lock-serve-%d", time.Now().UnixNano())
	if err := mc.Client.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{Region: miniotest.Region, ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for o := range mc.Client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			mc.Client.RemoveObject(context.Background(), bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: true})
		}
	})
	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
			"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", filepath.Join(t.TempDir(), "data"), "--admin-addr", "off",
			"--set", "strata.tier.store=s3", "--set", "strata.tier.s3.bucket=" + bucket,
			"--set", "strata.tier.s3.endpoint=" + mc.Endpoint, "--set", "strata.tier.s3.path.style=true",
			"--set", "strata.tier.s3.region=" + miniotest.Region,
			"--set", "strata.tier.s3.object.lock.mode=GOVERNANCE",
		})
	}()
	b := "--brokers=" + waitListening(t, logs, done)
	mustCLI(t, "", "topic", "create", "worm", b, "--partitions", "1",
		"--config", "remote.storage.enable=true", "--config", "segment.bytes=2048", "--config", "retention.ms=86400000")
	start := time.Now()
	for i := 0; i < 60; i += 10 {
		var in strings.Builder
		for j := i; j < i+10; j++ {
			fmt.Fprintf(&in, "record-%03d-%s\n", j, strings.Repeat("w", 80))
		}
		mustCLI(t, in.String(), "produce", "worm", b, "-q")
	}
	var logKey string
	for deadline := time.Now().Add(60 * time.Second); logKey == ""; {
		for o := range mc.Client.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
			if strings.HasSuffix(o.Key, ".log") {
				logKey = o.Key
			}
		}
		if logKey == "" && time.Now().After(deadline) {
			t.Fatalf("no segment uploaded\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mode, until, err := mc.Client.GetObjectRetention(t.Context(), bucket, logKey, "")
	if err != nil || mode == nil || *mode != minio.Governance || until == nil ||
		until.Before(start.Add(23*time.Hour)) || until.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("%s: retention %v until %v (%v), want GOVERNANCE for about a day", logKey, mode, until, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs)
	}
}
