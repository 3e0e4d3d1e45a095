package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/strata-io/strata/test/miniotest"
)

// TestTierVerifyUnreadableObjectMinIO puts a proxy in front of MinIO that answers every
// GET of one segment object with 503 SlowDown, as MinIO does for a damaged part. tier
// verify retries it for --retry-for, reports it UNREADABLE, checks the other segments and
// exits non-zero; it used to retry until killed, without a summary.
func TestTierVerifyUnreadableObjectMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and real brokers; make test runs it (never -short)")
	}
	mc := miniotest.Start(t)
	bucket := mc.NewBucket(t)
	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)

	// A broker uploads a few segments, then stops.
	ctx, cancel := context.WithCancel(t.Context())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
			"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", filepath.Join(t.TempDir(), "data"),
			"--admin-addr", "off",
			"--set", "strata.tier.store=s3", "--set", "strata.tier.s3.bucket=" + bucket,
			"--set", "strata.tier.s3.endpoint=" + mc.Endpoint, "--set", "strata.tier.s3.path.style=true",
			"--set", "strata.tier.s3.region=" + miniotest.Region,
		})
	}()
	b := "--brokers=" + waitListening(t, logs, done)
	mustCLI(t, "", "topic", "create", "refused", b, "--partitions", "1",
		"--config", "remote.storage.enable=true", "--config", "segment.bytes=2048", "--config", "retention.ms=-1")
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "event-%03d-%s\n", i, strings.Repeat("x", 80))
	}
	lines := strings.SplitAfter(in.String(), "\n")
	for i := 0; i < 100; i += 10 { // a batch per call: segments of two batches
		mustCLI(t, strings.Join(lines[i:i+10], ""), "produce", "refused", b, "-q")
	}
	var logKeys []string
	deadline := time.Now().Add(60 * time.Second)
	for len(logKeys) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 segments uploaded\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
		logKeys = logKeys[:0]
		for obj := range mc.Client.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
			if strings.HasSuffix(obj.Key, ".log") {
				logKeys = append(logKeys, obj.Key)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	// The manifest may name more segments than were listed above; the refused one is among
	// the listed, so it is named.
	refused := "/" + bucket + "/" + logKeys[1]

	target, err := url.Parse(mc.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var refusals atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == refused {
			refusals.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Resource requested is unreadable, please reduce your request rate</Message><Key>%s</Key></Error>`, logKeys[1])
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()

	start := time.Now()
	out, errOut, err := cli(t, "", "tier", "verify", "refused", "--bucket", bucket, "--endpoint", srv.URL,
		"--path-style", "true", "--region", miniotest.Region, "--retry-for", "2s")
	t.Logf("tier verify took %s, %d refused GETs:\n%s%s", time.Since(start).Round(time.Millisecond), refusals.Load(), out, errOut)
	if err == nil || !strings.Contains(err.Error(), "1 unreadable") {
		t.Fatalf("tier verify: error %v, want one naming 1 unreadable object", err)
	}
	if refusals.Load() < 2 {
		t.Fatalf("the refused object was asked for %d times: it was not retried", refusals.Load())
	}
	if !strings.Contains(out, "UNREADABLE refused-0: segment ") || !strings.Contains(out, "SlowDown") {
		t.Fatalf("no UNREADABLE line naming the refusal:\n%s", out)
	}
	if !strings.Contains(out, "0 missing, 0 corrupt, 0 orphaned, 1 unreadable") || !strings.Contains(out, "checked  refused-0") {
		t.Fatalf("no summary with the unreadable object, or the partition was not finished:\n%s", out)
	}
}
