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

// TestServeTiersToMinIO runs `strata serve` with strata.tier.store=s3 against a real MinIO:
// segments of a topic with remote.storage.enable=true appear in the bucket under the prefix,
// local copies go once uploaded (local.retention.bytes=1), and a consumer still reads every
// record from offset 0. Credentials come from the environment and never reach the logs.
func TestServeTiersToMinIO(t *testing.T) {
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
	data := filepath.Join(t.TempDir(), "data")
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
			"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", data,
			"--set", "strata.tier.store=s3",
			"--set", "strata.tier.s3.bucket=" + bucket,
			"--set", "strata.tier.s3.endpoint=" + mc.Endpoint,
			"--set", "strata.tier.s3.path.style=true",
			"--set", "strata.tier.s3.region=" + miniotest.Region,
			"--set", "strata.tier.prefix=cluster-a",
			"--set", "log.retention.check.interval.ms=100",
		})
	}()
	addr := waitListening(t, logs, done)
	b := "--brokers=" + addr

	mustCLI(t, "", "topic", "create", "events", b, "--partitions", "1",
		"--config", "remote.storage.enable=true", "--config", "segment.bytes=2048",
		"--config", "local.retention.bytes=1", "--config", "retention.ms=-1")
	var in strings.Builder
	const n = 200
	for i := range n {
		fmt.Fprintf(&in, "event-%03d-%s\n", i, strings.Repeat("x", 80))
	}
	// One record per request (acks=all, linger 0 with a fresh batch per line is not
	// guaranteed), so produce in a few calls to get several batches and segments.
	lines := strings.SplitAfter(in.String(), "\n")
	for i := 0; i < n; i += 20 {
		mustCLI(t, strings.Join(lines[i:i+20], ""), "produce", "events", b, "-q")
	}

	// Objects appear under the prefix.
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
		if !strings.HasPrefix(k, "cluster-a") {
			t.Fatalf("key %q outside the prefix", k)
		}
	}

	// Uploaded segments past local retention leave the local disk.
	var local []string
	for time.Now().Before(deadline) {
		local, _ = filepath.Glob(filepath.Join(data, "events-0", "*.log"))
		if len(local) < countSuffix(keys, ".log") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(local) >= countSuffix(keys, ".log") {
		t.Fatalf("local segments %q not deleted after upload of %d", local, countSuffix(keys, ".log"))
	}
	// Every record is still readable from the beginning, wherever it lives now.
	out := mustCLI(t, "", "consume", "events", b, "--from-beginning", "-e", "--format", `%o %v\n`)
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d\n%s", len(got), n, logs)
	}
	for i, line := range got {
		if want := fmt.Sprintf("%d event-%03d-", i, i); !strings.HasPrefix(line, want) {
			t.Fatalf("record %d: %q, want prefix %q", i, line, want)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs)
	}
	if strings.Contains(logs.String(), mc.SecretKey) {
		t.Fatal("secret key in logs")
	}
}

func countSuffix(keys []string, suffix string) int {
	n := 0
	for _, k := range keys {
		if strings.HasSuffix(k, suffix) {
			n++
		}
	}
	return n
}
