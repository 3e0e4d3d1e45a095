package s3store_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/objstoretest"
)

// TestServerSideEncryptionMinIO puts and reads objects through s3store with SSE-S3 and SSE-KMS
// on a MinIO that has a KMS key, and checks with an independent client (minio-go StatObject)
// that the server stored them encrypted with the requested scheme and key, and that the
// plaintext is nowhere in the server's data directory.
func TestServerSideEncryptionMinIO(t *testing.T) {
	m := miniotest.StartWithKMS(t)
	cases := []struct {
		name, sse, keyID string
	}{
		{"SSE-S3", "AES256", ""},
		{"SSE-KMS", "aws:kms", miniotest.KMSKeyName},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			bucket := m.NewBucket(t)
			cfg := storeConfig(m, bucket)
			cfg.SSE, cfg.KMSKeyID = c.sse, c.keyID
			st := newStore(t, cfg)
			var logged bytes.Buffer
			slog.New(slog.NewTextHandler(&logged, nil)).Info("cfg", "store", cfg)
			for _, text := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), logged.String()} {
				if strings.Contains(text, cfg.SecretKey) || (c.keyID != "" && strings.Contains(text, c.keyID)) {
					t.Errorf("config rendering leaks the secret key or KMS key id: %s", text)
				}
			}

			marker := "strata-sse-plaintext-" + strings.ToLower(c.name) + "-"
			small := bytes.Repeat([]byte(marker), 4096/len(marker)+1)
			large := bytes.Repeat([]byte(marker), (6<<20)/len(marker)+1) // > threshold: multipart
			objs := map[string][]byte{"seg/small.log": small, "seg/large.log": large}
			for key, data := range objs {
				objstoretest.Put(t, st, key, data)
			}
			// A conditional put (the manifest path) is encrypted too.
			etag, err := st.PutIf(ctx, "manifest.json", bytes.NewReader(small), int64(len(small)), "")
			if err != nil {
				t.Fatalf("conditional put: %v", err)
			}
			if _, err := st.PutIf(ctx, "manifest.json", bytes.NewReader(large[:1000]), 1000, etag); err != nil {
				t.Fatalf("conditional overwrite with the returned ETag: %v", err)
			}
			objs["manifest.json"] = large[:1000]

			for key, data := range objs {
				got := objstoretest.Get(t, st, key)
				if !bytes.Equal(got, data) {
					t.Fatalf("%s: read back %d bytes, want %d identical bytes", key, len(got), len(data))
				}
				// A ranged read in the middle decrypts the right bytes (SSE packages are
				// encrypted in fixed-size blocks; a range crosses them).
				if len(data) > 200_000 {
					part := objstoretest.GetRange(t, st, key, 100_000, 70_000)
					if !bytes.Equal(part, data[100_000:170_000]) {
						t.Fatalf("%s: ranged read mismatch", key)
					}
				}
				oi, err := st.Stat(ctx, key)
				if err != nil || oi.Size != int64(len(data)) {
					t.Fatalf("%s: stat %+v %v", key, oi, err)
				}

				info, err := m.Client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
				if err != nil {
					t.Fatalf("%s: minio-go stat: %v", key, err)
				}
				if got := info.Metadata.Get("X-Amz-Server-Side-Encryption"); got != c.sse {
					t.Errorf("%s: x-amz-server-side-encryption = %q, want %q (metadata %v)", key, got, c.sse, info.Metadata)
				}
				kid := info.Metadata.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")
				if c.keyID != "" && !strings.HasSuffix(kid, c.keyID) {
					t.Errorf("%s: kms key id = %q, want (an ARN ending in) %q", key, kid, c.keyID)
				}
				if c.keyID == "" && kid != "" {
					t.Errorf("%s: SSE-S3 object reports KMS key %q", key, kid)
				}
			}
			assertNoPlaintext(t, m.DataDir(), []byte(marker))
		})
	}

	// Control: the same server stores an object without SSE in the clear, so the plaintext
	// check above is able to see unencrypted data.
	t.Run("control-without-SSE", func(t *testing.T) {
		bucket := m.NewBucket(t)
		st := newStore(t, storeConfig(m, bucket))
		marker := []byte("strata-sse-control-plaintext")
		objstoretest.Put(t, st, "plain", bytes.Repeat(marker, 100))
		info, err := m.Client.StatObject(t.Context(), bucket, "plain", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Metadata.Get("X-Amz-Server-Side-Encryption"); got != "" {
			t.Errorf("unencrypted object reports SSE %q", got)
		}
		if !dirContains(t, m.DataDir(), marker) {
			t.Error("plaintext of an unencrypted object not found in the data dir: the plaintext check is blind")
		}
	})
}

// TestSSEKMSUnknownKeyFails: a KMS key the server does not have is a permanent error
// (surfaced, not retried forever, and not silently stored unencrypted).
func TestSSEKMSUnknownKeyFails(t *testing.T) {
	m := miniotest.StartWithKMS(t)
	bucket := m.NewBucket(t)
	cfg := storeConfig(m, bucket)
	cfg.SSE, cfg.KMSKeyID = "aws:kms", "no-such-key"
	cfg.MaxRetryDuration = 5e9
	st := newStore(t, cfg)
	err := st.Put(t.Context(), "k", bytes.NewReader([]byte("x")), 1)
	if err == nil {
		t.Fatal("put with an unknown KMS key succeeded")
	}
	if errors.Is(err, tiering.ErrNotExist) {
		t.Errorf("put error %v looks like a missing object", err)
	}
	// The manifest path: a conditional overwrite that fails for the key must not look like
	// a lost race (ErrPreconditionFailed would make the writer think it was fenced out).
	plain := newStore(t, storeConfig(m, bucket))
	etag, err := plain.PutIf(t.Context(), "manifest", bytes.NewReader([]byte("v1")), 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutIf(t.Context(), "manifest", bytes.NewReader([]byte("v2")), 2, etag); err == nil ||
		errors.Is(err, tiering.ErrPreconditionFailed) || errors.Is(err, tiering.ErrNotExist) {
		t.Errorf("conditional put with an unknown KMS key: %v, want a plain error", err)
	}
	if _, err := st.Stat(t.Context(), "k"); err == nil {
		t.Error("object exists after a failed SSE-KMS put")
	} else if !isNotExist(err) {
		t.Errorf("stat: %v", err)
	}
}

func isNotExist(err error) bool { return errors.Is(err, tiering.ErrNotExist) }

func assertNoPlaintext(t *testing.T, dir string, marker []byte) {
	t.Helper()
	if dirContains(t, dir, marker) {
		t.Errorf("plaintext %q found under the MinIO data dir: objects are not encrypted at rest", marker)
	}
}

func dirContains(t *testing.T, dir string, marker []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // MinIO may rename files under us
		}
		found = bytes.Contains(b, marker)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
