package miniotest_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/strata-io/strata/test/miniotest"
)

func TestStartStopRestart(t *testing.T) {
	s := miniotest.Start(t)
	ctx := t.Context()
	ok, err := s.Client.BucketExists(ctx, s.Bucket)
	if err != nil || !ok {
		t.Fatalf("bucket %q exists = %v, %v", s.Bucket, ok, err)
	}
	if _, err := s.Client.PutObject(ctx, s.Bucket, "k", bytes.NewReader([]byte("v")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("running after Stop")
	}
	c := &http.Client{Timeout: time.Second}
	if resp, err := c.Get(s.Endpoint + "/minio/health/live"); err == nil {
		resp.Body.Close()
		t.Fatal("health endpoint answered after Stop")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	obj, err := s.Client.GetObject(ctx, s.Bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	if err != nil || string(b) != "v" {
		t.Fatalf("object after restart: %q, %v", b, err)
	}
	other := s.NewBucket(t)
	if ok, err := s.Client.BucketExists(ctx, other); err != nil || !ok {
		t.Fatalf("new bucket %q exists = %v, %v", other, ok, err)
	}
}
