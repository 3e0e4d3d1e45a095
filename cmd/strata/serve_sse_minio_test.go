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

// TestServeSSEKMSOnMinIO runs `strata serve` with strata.tier.s3.sse=aws:kms and
// strata.tier.s3.sse.kms.key.id against a MinIO holding that KMS key: every object Strata
// writes (segments, indexes, manifests) is stored SSE-KMS-encrypted with that key, a consumer
// reads everything back, and neither the key ID nor the credentials reach the logs (at debug
// level).
func TestServeSSEKMSOnMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	mc := miniotest.StartWithKMS(t)
	bucket := mc.NewBucket(t)
	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	data := filepath.Join(t.TempDir(), "data")
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
			"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", data, "--log-level", "debug",
			"--set", "strata.tier.store=s3",
			"--set", "strata.tier.s3.bucket=" + bucket,
			"--set", "strata.tier.s3.endpoint=" + mc.Endpoint,
			"--set", "strata.tier.s3.path.style=true",
			"--set", "strata.tier.s3.region=" + miniotest.Region,
			"--set", "strata.tier.s3.sse=aws:kms",
			"--set", "strata.tier.s3.sse.kms.key.id=" + miniotest.KMSKeyName,
			"--set", "log.retention.check.interval.ms=100",
		})
	}()
	addr := waitListening(t, logs, done)
	b := "--brokers=" + addr

	mustCLI(t, "", "topic", "create", "secrets", b, "--partitions", "1",
		"--config", "remote.storage.enable=true", "--config", "segment.bytes=2048",
		"--config", "local.retention.bytes=1", "--config", "retention.ms=-1")
	const n = 120
	var lines []string
	for i := range n {
		lines = append(lines, fmt.Sprintf("secret-%03d-%s\n", i, strings.Repeat("y", 80)))
	}
	for i := 0; i < n; i += 20 {
		mustCLI(t, strings.Join(lines[i:i+20], ""), "produce", "secrets", b, "-q")
	}

	deadline := time.Now().Add(30 * time.Second)
	var keys []string
	for time.Now().Before(deadline) {
		keys = keys[:0]
		for obj := range mc.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err != nil {
				t.Fatal(obj.Err)
			}
			keys = append(keys, obj.Key)
		}
		if countSuffix(keys, ".log") >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if countSuffix(keys, ".log") < 2 {
		t.Fatalf("want at least 2 uploaded segments, bucket holds %q\n%s", keys, logs)
	}
	for _, k := range keys {
		info, err := mc.Client.StatObject(ctx, bucket, k, minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("stat %s: %v", k, err)
		}
		if got := info.Metadata.Get("X-Amz-Server-Side-Encryption"); got != "aws:kms" {
			t.Errorf("%s: x-amz-server-side-encryption %q, want aws:kms", k, got)
		}
		if kid := info.Metadata.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); !strings.HasSuffix(kid, miniotest.KMSKeyName) {
			t.Errorf("%s: KMS key %q, want %q", k, kid, miniotest.KMSKeyName)
		}
	}

	// Wait until local copies are gone, so the consumer reads (and MinIO decrypts) remote data.
	for time.Now().Before(deadline) {
		local, _ := filepath.Glob(filepath.Join(data, "secrets-0", "*.log"))
		if len(local) < countSuffix(keys, ".log") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := mustCLI(t, "", "consume", "secrets", b, "--from-beginning", "-e", "--format", `%o %v\n`)
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d\n%s", len(got), n, logs)
	}
	for i, line := range got {
		if want := fmt.Sprintf("%d secret-%03d-", i, i); !strings.HasPrefix(line, want) {
			t.Fatalf("record %d: %q, want prefix %q", i, line, want)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs)
	}
	l := logs.String()
	if !strings.Contains(l, `sse=aws:kms`) && !strings.Contains(l, `"sse":"aws:kms"`) {
		t.Errorf("the start-up log does not say which SSE is in use:\n%s", l)
	}
	for name, secret := range map[string]string{"KMS key id": miniotest.KMSKeyName,
		"access key": mc.AccessKey, "secret key": mc.SecretKey} {
		if strings.Contains(l, secret) {
			t.Errorf("%s %q appears in the logs", name, secret)
		}
	}
}
