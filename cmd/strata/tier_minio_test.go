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

// TestTierCommandsOnMinIO reads and verifies a real S3 bucket (MinIO) with the offline
// tier commands, and checks the one-line errors for a missing bucket and rejected
// credentials.
func TestTierCommandsOnMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	mc := miniotest.Start(t)
	bucket := mc.NewBucket(t)
	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
			"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", filepath.Join(t.TempDir(), "data"),
			"--admin-addr", "off",
			"--set", "strata.tier.store=s3", "--set", "strata.tier.s3.bucket=" + bucket,
			"--set", "strata.tier.s3.endpoint=" + mc.Endpoint, "--set", "strata.tier.s3.path.style=true",
			"--set", "strata.tier.s3.region=" + miniotest.Region, "--set", "strata.tier.prefix=arch",
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	b := "--brokers=" + waitListening(t, logs, done)
	mustCLI(t, "", "topic", "create", "events", b, "--partitions", "1",
		"--config", "remote.storage.enable=true", "--config", "segment.bytes=2048", "--config", "retention.ms=-1")
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "event-%03d-%s\n", i, strings.Repeat("x", 80))
	}
	lines := strings.SplitAfter(in.String(), "\n")
	for i := 0; i < 100; i += 10 {
		mustCLI(t, strings.Join(lines[i:i+10], ""), "produce", "events", b, "-q")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for obj := range mc.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if strings.HasSuffix(obj.Key, ".log") {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no segments uploaded\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	s3 := []string{"--bucket", bucket, "--endpoint", mc.Endpoint, "--path-style", "true", "--region", miniotest.Region, "--prefix", "arch"}
	out := mustCLI(t, "", append([]string{"tier", "cat", "events", "--format", `%o %v\n`, "-n", "3"}, s3...)...)
	if !strings.HasPrefix(out, "0 event-000-") || strings.Count(out, "\n") != 3 {
		t.Fatalf("tier cat from MinIO: %q", out)
	}
	out = mustCLI(t, "", append([]string{"tier", "verify", "events"}, s3...)...)
	if !strings.Contains(out, "0 missing, 0 corrupt, 0 orphaned") {
		t.Fatalf("tier verify on MinIO:\n%s", out)
	}

	f := func(want string, args ...string) {
		t.Helper()
		_, _, err := cli(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("strata %s: %v, want one line with %q", strings.Join(args, " "), err, want)
		}
	}
	missing := append([]string{"tier", "cat", "events"}, s3...)
	missing[4] = "no-such-bucket-" + strings.ToLower(bucket[len(bucket)-6:])
	f("does not exist", missing...)
	f("credentials rejected", append([]string{"tier", "verify", "--secret-key", "wrong-secret", "--access-key", mc.AccessKey}, s3...)...)
}
