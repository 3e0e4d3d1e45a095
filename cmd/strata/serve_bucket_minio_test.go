package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/strata-io/strata/test/miniotest"
)

// TestServeMisconfiguredBucket runs `strata serve` against a real MinIO with a bucket that
// does not exist, and with a secret key the bucket rejects (issue 14): /readyz fails at
// once, naming the problem, and the log has exactly one ERROR line saying what to fix,
// however often readiness is polled.
func TestServeMisconfiguredBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and real brokers; make test runs it (never -short)")
	}
	mc := miniotest.Start(t)
	adminRe := regexp.MustCompile(`msg="admin listener started" addr=([0-9.]+:[0-9]+)`)
	// serve starts `strata serve` on data with bucket and secret; it returns the logs, the
	// admin address and a stop function.
	serve := func(t *testing.T, data, bucket, secret string) (*syncBuffer, string, string, func()) {
		t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
		t.Setenv("STRATA_TIER_S3_SECRET_KEY", secret)
		ctx, cancel := context.WithCancel(t.Context())
		logs := &syncBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
				"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", data,
				"--set", "strata.admin.listener=127.0.0.1:0",
				"--set", "strata.tier.store=s3",
				"--set", "strata.tier.s3.bucket=" + bucket,
				"--set", "strata.tier.s3.endpoint=" + mc.Endpoint,
				"--set", "strata.tier.s3.path.style=true",
				"--set", "strata.tier.s3.region=" + miniotest.Region,
			})
		}()
		addr := waitListening(t, logs, done)
		m := adminRe.FindStringSubmatch(logs.String())
		if m == nil {
			cancel()
			<-done
			t.Fatalf("no admin listener in the log:\n%s", logs)
		}
		return logs, addr, m[1], func() { cancel(); <-done }
	}
	f := func(name string, breakIt func(bucket string) (string, string), errorLine, reason string) {
		t.Run(name, func(t *testing.T) {
			// An existing data dir: a first run with a good bucket creates it.
			bucket := mc.NewBucket(t)
			data := filepath.Join(t.TempDir(), "data")
			_, addr, _, stop := serve(t, data, bucket, mc.SecretKey)
			mustCLI(t, "", "topic", "create", "events", "--brokers="+addr, "--partitions", "1",
				"--config", "remote.storage.enable=true", "--config", "segment.bytes=2048", "--config", "retention.ms=-1")
			stop()
			useBucket, secret := breakIt(bucket)
			logs, addr, adminAddr, stop := serve(t, data, useBucket, secret)
			defer stop()
			// Records keep coming: their sealed segments cannot be uploaded.
			mustCLI(t, strings.Repeat(strings.Repeat("x", 100)+"\n", 100), "produce", "events", "--brokers="+addr, "-q")
			started := time.Now()
			readyz := func() (int, string) {
				resp, err := http.Get("http://" + adminAddr + "/readyz")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var rd struct {
					Status  string   `json:"status"`
					Reasons []string `json:"reasons"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&rd); err != nil {
					t.Fatal(err)
				}
				return resp.StatusCode, strings.Join(rd.Reasons, "; ")
			}
			for {
				code, reasons := readyz()
				if code == 503 && strings.Contains(reasons, reason) {
					t.Logf("not ready %v after start: %s", time.Since(started).Round(time.Millisecond), reasons)
					break
				}
				if time.Since(started) > 15*time.Second {
					t.Fatalf("/readyz %d %q 15 s after start, want 503 naming %q\n%s", code, reasons, reason, logs)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Polling keeps the probe running; the ERROR line is still there only once.
			for range 40 {
				if code, _ := readyz(); code != 503 {
					t.Fatalf("/readyz became %d with the bucket still misconfigured", code)
				}
				time.Sleep(100 * time.Millisecond)
			}
			var errs, warns []string
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "level=ERROR") {
					errs = append(errs, line)
				}
				if strings.Contains(line, "level=WARN") {
					warns = append(warns, line)
				}
			}
			t.Logf("%d WARN lines besides:\n%s", len(warns), strings.Join(warns, "\n"))
			if len(errs) != 1 || !strings.Contains(errs[0], errorLine) {
				t.Fatalf("want one ERROR line containing %q, got %d:\n%s", errorLine, len(errs), strings.Join(errs, "\n"))
			}
			if strings.Contains(logs.String(), secret) && secret != mc.SecretKey {
				t.Error("the secret key reached the log")
			}
		})
	}
	f("bucket gone", func(bucket string) (string, string) {
		// The bucket is deleted (or, the same to the broker, the name is mistyped).
		if err := mc.Client.RemoveBucketWithOptions(t.Context(), bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Fatal(err)
		}
		return bucket, mc.SecretKey
	}, "the bucket does not exist: create it", "bucket does not exist")
	f("secret key rejected", func(bucket string) (string, string) {
		return bucket, "not-the-secret-key"
	}, "the bucket refused the credentials: set strata.tier.s3.access.key", "access to the bucket denied")
}
