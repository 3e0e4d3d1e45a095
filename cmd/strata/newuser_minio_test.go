package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/miniotest"
)

// Issue 14's new user, against a real MinIO.

// bgServe is a `strata serve` in the background; startServe runs `strata serve args...` until the test ends (or stop is called) and returns
// its address, or the error it exited with when it did not start.
type bgServe struct {
	logs   *syncBuffer
	done   chan error
	cancel context.CancelFunc
	addr   string
}

func startServe(t *testing.T, args ...string) (*bgServe, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := &bgServe{logs: &syncBuffer{}, done: make(chan error, 1), cancel: cancel}
	all := append([]string{"serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--admin-addr", "off"}, args...)
	deadline := time.Now().Add(time.Minute)
	go func() {
		s.done <- dispatch(ctx, streams{in: strings.NewReader(""), out: s.logs, err: s.logs}, all)
	}()
	for {
		if m := listeningRe.FindStringSubmatch(s.logs.String()); m != nil {
			s.addr = m[1]
			t.Cleanup(func() { s.stop(t) })
			return s, nil
		}
		select {
		case err := <-s.done:
			cancel()
			if err == nil {
				err = errors.New("serve exited 0 without listening")
			}
			return nil, err
		case <-t.Context().Done():
			t.Fatal("serve did not start")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within a minute:\n%s", s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *bgServe) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v\n%s", err, s.logs)
	}
}

func minioFlags(mc *miniotest.Server, bucket, prefix string) []string {
	return []string{
		"--set", "strata.tier.store=s3",
		"--set", "strata.tier.s3.bucket=" + bucket,
		"--set", "strata.tier.s3.endpoint=" + mc.Endpoint,
		"--set", "strata.tier.s3.path.style=true",
		"--set", "strata.tier.s3.region=" + miniotest.Region,
		"--set", "strata.tier.prefix=" + prefix,
	}
}

// Issue 14 item 2: the quickstart (default fs store in ./data/tier), then the README's MinIO
// section on the same ./data: the broker must refuse with one line naming both stores, not
// start with every tiered topic's log start moved up.
func TestServeRefusesAnotherTierStoreMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and real brokers; make test runs it (never -short)")
	}
	mc := miniotest.Start(t)
	bucket := mc.NewBucket(t)
	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)
	data := filepath.Join(t.TempDir(), "data")

	s, err := startServe(t, "--log-dirs", data)
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "", "topic", "create", "tiered", "--brokers", s.addr)
	mustCLI(t, "a\nb\nc\n", "produce", "tiered", "--brokers", s.addr, "-q")
	s.stop(t)

	_, err = startServe(t, append([]string{"--log-dirs", data}, minioFlags(mc, bucket, "")...)...)
	if err == nil {
		t.Fatal("serve started on a data dir of another tier store")
	}
	msg := err.Error()
	for _, want := range []string{"fs:<log.dirs>/tier", "s3://" + bucket + " at " + mc.Endpoint, "--accept-tier-store-change"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Fatalf("error is not one line: %q", msg)
	}
	// Back on the recorded store, everything is there.
	s, err = startServe(t, "--log-dirs", data)
	if err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, "", "consume", "tiered", "--brokers", s.addr, "--from-beginning", "-e")
	if out != "a\nb\nc\n" {
		t.Fatalf("records after the refused switch: %q", out)
	}
	s.stop(t)
	// A deliberate migration with the flag starts.
	s, err = startServe(t, append([]string{"--log-dirs", data, "--accept-tier-store-change"}, minioFlags(mc, bucket, "")...)...)
	if err != nil {
		t.Fatalf("with --accept-tier-store-change: %v", err)
	}
	s.stop(t)
}

// Issue 14 item 1: a second broker on the same data dir refuses to start (one line, the
// holder's pid); a second broker on another data dir but the same bucket prefix (it would
// restore the first one's topics and write the same partitions) refuses too; once the first
// stops cleanly, it may take over (a restore) and sees the first one's records.
func TestSecondBrokerRefusedMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and real brokers; make test runs it (never -short)")
	}
	mc := miniotest.Start(t)
	bucket := mc.NewBucket(t)
	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)
	dataA := filepath.Join(t.TempDir(), "a")
	dataB := filepath.Join(t.TempDir(), "b")
	flags := minioFlags(mc, bucket, "shared")

	a, err := startServe(t, append([]string{"--log-dirs", dataA}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "", "topic", "create", "orders", "--brokers", a.addr, "--config", "segment.bytes=1024")
	for range 10 { // several batches, so several segments of 1 KiB roll and upload
		mustCLI(t, strings.Repeat(strings.Repeat("r", 100)+"\n", 10), "produce", "orders", "--brokers", a.addr, "-q")
	}

	_, err = startServe(t, "--log-dirs", dataA)
	if !errors.Is(err, broker.ErrDataDirLocked) || !strings.Contains(err.Error(), "(pid ") {
		t.Fatalf("second broker on the data dir: err = %v", err)
	}
	_, err = startServe(t, append([]string{"--log-dirs", dataB}, flags...)...)
	if err == nil || !strings.Contains(err.Error(), `bucket prefix "shared" is in use by another strata broker`) ||
		!strings.Contains(err.Error(), dataA) {
		t.Fatalf("second broker on the bucket prefix: err = %v", err)
	}
	// Another prefix in the same bucket is fine.
	c, err := startServe(t, append([]string{"--log-dirs", filepath.Join(t.TempDir(), "c")}, minioFlags(mc, bucket, "other")...)...)
	if err != nil {
		t.Fatalf("broker on another prefix: %v", err)
	}
	c.stop(t)

	// Wait for uploads, so that the restore below has records to find.
	for deadline := time.Now().Add(time.Minute); ; {
		n := 0
		for obj := range mc.Client.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: "shared/", Recursive: true}) {
			if strings.HasSuffix(obj.Key, ".log") {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no segments uploaded:\n%s", a.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.stop(t) // releases the prefix: B restores A's topic and continues after its records
	b, err := startServe(t, append([]string{"--log-dirs", dataB}, flags...)...)
	if err != nil {
		t.Fatalf("after the first broker stopped: %v", err)
	}
	out := mustCLI(t, "", "consume", "orders", "--brokers", b.addr, "--from-beginning", "-e", "--format", `%o\n`)
	if n := strings.Count(out, "\n"); n == 0 {
		t.Fatalf("restored broker reads nothing:\n%s", b.logs)
	}
	// And A, while B runs, is refused.
	_, err = startServe(t, append([]string{"--log-dirs", dataA}, flags...)...)
	if err == nil || !strings.Contains(err.Error(), "in use by another strata broker") {
		t.Fatalf("first broker back while the second runs: err = %v", err)
	}
	b.stop(t)
}

// Item 6: a MinIO user without S3 credentials gets one line naming the variables to set,
// not the AWS SDK's EC2 instance-metadata story. Item 9: strata.tier.s3.create.bucket
// creates a missing bucket.
func TestServeS3CredentialsAndBucketMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and real brokers; make test runs it (never -short)")
	}
	mc := miniotest.Start(t)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"STRATA_TIER_S3_ACCESS_KEY", "STRATA_TIER_S3_SECRET_KEY"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	bucket := "fresh-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[:20]
	flags := minioFlags(mc, bucket, "")

	_, err := startServe(t, append([]string{"--log-dirs", filepath.Join(t.TempDir(), "d")}, flags...)...)
	oneLine(t, "serve without credentials", err, `no S3 credentials for bucket "`+bucket+`"`, "STRATA_TIER_S3_ACCESS_KEY")

	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)
	_, err = startServe(t, append([]string{"--log-dirs", filepath.Join(t.TempDir(), "d")}, flags...)...)
	oneLine(t, "serve with a bucket that does not exist", err, `bucket "`+bucket+`" at `+mc.Endpoint+" does not exist",
		"--set strata.tier.s3.create.bucket=true")
	s, err := startServe(t, append([]string{"--log-dirs", filepath.Join(t.TempDir(), "d"), "--set", "strata.tier.s3.create.bucket=true"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	s.stop(t)
	if ok, err := mc.Client.BucketExists(t.Context(), bucket); err != nil || !ok {
		t.Fatalf("bucket %q not created: %v", bucket, err)
	}
}
