package miniotest_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/strata-io/strata/test/miniotest"
)

// A KMS-enabled server encrypts on request with its static key, and keeps the key across
// Restart, so objects written before an outage stay readable.
func TestKMSServerEncryptsAndSurvivesRestart(t *testing.T) {
	s := miniotest.StartWithKMS(t)
	ctx := t.Context()
	sse, err := encrypt.NewSSEKMS(miniotest.KMSKeyName, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("kms-protected-bytes")
	if _, err := s.Client.PutObject(ctx, s.Bucket, "k", bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ServerSideEncryption: sse}); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	info, err := s.Client.StatObject(ctx, s.Bucket, "k", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Metadata.Get("X-Amz-Server-Side-Encryption"); got != "aws:kms" {
		t.Fatalf("x-amz-server-side-encryption %q after restart", got)
	}
	obj, err := s.Client.GetObject(ctx, s.Bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %q, %v", got, err)
	}
}
