package miniotest

import (
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"testing"
)

// KMSKeyName is the name of the static master key a KMS-enabled server (StartWithKMS) holds;
// it is the key ID to pass as SSE-KMS's x-amz-server-side-encryption-aws-kms-key-id.
const KMSKeyName = "strata-test-key"

// StartWithKMS is Start for a server with MinIO's built-in static KMS
// (MINIO_KMS_SECRET_KEY=<KMSKeyName>:<random 32 bytes, base64>), so SSE-S3 ("AES256") and
// SSE-KMS ("aws:kms" with key ID KMSKeyName) requests are served. Objects are encrypted only
// when a request asks for it (no auto-encryption).
func StartWithKMS(t testing.TB) *Server {
	t.Helper()
	s, err := NewWithKMS()
	if err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("minio log tail:\n%s", s.LogTail(4000))
		}
		s.Close()
	})
	return s
}

// NewWithKMS is New for a KMS-enabled server (see StartWithKMS); the caller must Close it.
func NewWithKMS() (*Server, error) {
	key := make([]byte, 32)
	rand.Read(key)
	return newServer([]string{"MINIO_KMS_SECRET_KEY=" + KMSKeyName + ":" + base64.StdEncoding.EncodeToString(key)})
}

// DataDir is the server's data directory (for tests that check what reaches the disk).
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }
