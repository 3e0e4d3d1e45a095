package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/objstoretest"
	"github.com/strata-io/strata/tiering/s3store"
)

// srv is one MinIO for the package; tests that stop it start their own.
var srv *miniotest.Server

func TestMain(m *testing.M) {
	s, err := miniotest.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	s.Close()
	os.Exit(code)
}

func storeConfig(s *miniotest.Server, bucket string) s3store.Config {
	return s3store.Config{
		Bucket:             bucket,
		Region:             miniotest.Region,
		Endpoint:           s.Endpoint,
		PathStyle:          true,
		AccessKey:          s.AccessKey,
		SecretKey:          s.SecretKey,
		PartSize:           5 << 20,
		MultipartThreshold: 5 << 20,
		RetryBaseDelay:     20 * time.Millisecond,
		RetryMaxDelay:      200 * time.Millisecond,
	}
}

func newStore(t *testing.T, cfg s3store.Config) *s3store.Store {
	t.Helper()
	st, err := s3store.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	objstoretest.RunWithOptions(t, func(t *testing.T) tiering.ObjectStore {
		return newStore(t, storeConfig(srv, srv.NewBucket(t)))
	}, objstoretest.Options{LargeSize: 11<<20 + 123, NoFileDirConflicts: true})
}

func TestMultipartIsUsedAndAbortedOnFailure(t *testing.T) {
	bucket := srv.NewBucket(t)
	st := newStore(t, storeConfig(srv, bucket))
	ctx := t.Context()
	data := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16)
	objstoretest.Put(t, st, "mp/ok", data)
	oi, err := st.Stat(ctx, "mp/ok")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.Trim(oi.ETag, `"`), "-2") {
		t.Errorf("ETag %s: want a 2-part multipart ETag", oi.ETag)
	}
	// A reader one byte short fails in the last part: the upload must be aborted.
	if err := st.Put(ctx, "mp/short", bytes.NewReader(data[:len(data)-1]), int64(len(data))); err == nil {
		t.Fatal("short multipart put: no error")
	}
	for u := range srv.Client.ListIncompleteUploads(ctx, bucket, "mp/", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Errorf("incomplete upload left behind: %s %s", u.Key, u.UploadID)
	}
	// The object is visible to an independent client with the same bytes.
	obj, err := srv.Client.GetObject(ctx, bucket, "mp/ok", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("minio-go read %d bytes, %v", len(got), err)
	}
}

func TestEnsureBucket(t *testing.T) {
	cfg := storeConfig(srv, fmt.Sprintf("ensure-%d", time.Now().UnixNano()))
	st := newStore(t, cfg)
	if err := st.EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(t.Context()); err != nil {
		t.Fatalf("second EnsureBucket: %v", err)
	}
	ok, err := srv.Client.BucketExists(t.Context(), cfg.Bucket)
	if err != nil || !ok {
		t.Fatalf("bucket exists = %v, %v", ok, err)
	}
	objstoretest.Put(t, st, "k", []byte("v"))
}

func TestMissingBucketIsNotErrNotExist(t *testing.T) {
	st := newStore(t, storeConfig(srv, "no-such-bucket-here"))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := st.GetRange(ctx, "k", 0, -1)
	if err == nil || errors.Is(err, tiering.ErrNotExist) {
		t.Fatalf("get from a missing bucket: err = %v, want a non-ErrNotExist error", err)
	}
}

func TestWrongCredentialsFailFastWithoutSecret(t *testing.T) {
	cfg := storeConfig(srv, srv.Bucket)
	cfg.SecretKey = "wrong-secret-value-1234"
	st := newStore(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := st.Put(ctx, "k", strings.NewReader("v"), 1)
	if err == nil {
		t.Fatal("put with a wrong secret: no error")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("a permanent auth error was retried for %v", time.Since(start))
	}
	if strings.Contains(err.Error(), cfg.SecretKey) || strings.Contains(fmt.Sprint(cfg), cfg.SecretKey) {
		t.Fatalf("secret leaked: %v / %v", err, cfg)
	}
}

// TestOutage stops MinIO for a few seconds while a Put is in flight: the Put must block,
// retrying, and succeed once the server is back.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test skipped in -short mode")
	}
	m := miniotest.Start(t)
	st := newStore(t, storeConfig(m, m.Bucket))
	objstoretest.Put(t, st, "before", []byte("x"))
	m.Stop()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- st.Put(t.Context(), "during", strings.NewReader("written during the outage"), 25)
	}()
	const outage = 3 * time.Second
	select {
	case err := <-done:
		t.Fatalf("put returned during the outage: %v", err)
	case <-time.After(outage):
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("put after restart: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("put did not finish after the restart")
	}
	t.Logf("put blocked for %v across the outage", time.Since(start).Round(time.Millisecond))
	if got := objstoretest.Get(t, st, "during"); string(got) != "written during the outage" {
		t.Fatalf("object after outage: %q", got)
	}
	// A bounded retry budget gives up during an outage.
	cfg := storeConfig(m, m.Bucket)
	cfg.MaxRetryDuration = 500 * time.Millisecond
	bounded := newStore(t, cfg)
	m.Stop()
	start = time.Now()
	_, err := bounded.Stat(t.Context(), "during")
	if err == nil || errors.Is(err, tiering.ErrNotExist) {
		t.Fatalf("stat during outage with a retry budget: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("bounded retry took %v", d)
	}
	// And ctx cancellation ends an unbounded one.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := st.Delete(ctx, "during"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delete during outage with a deadline: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("ctx deadline honoured after %v", d)
	}
}
