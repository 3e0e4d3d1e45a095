package storewrap_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/objstoretest"
	"github.com/strata-io/strata/tiering/storewrap"
)

// keyLine returns a key file line with a fresh random key.
func keyLine(t testing.TB, id string) string {
	k := make([]byte, 32)
	rand.Read(k)
	return fmt.Sprintf("%s %s\n", id, base64.StdEncoding.EncodeToString(k))
}

func ring(t testing.TB, lines ...string) *storewrap.Keyring {
	t.Helper()
	kr, err := storewrap.ParseKeys([]byte("# test keys\n" + strings.Join(lines, "")))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestConformanceEncrypted(t *testing.T) {
	kr := ring(t, keyLine(t, "k1"))
	objstoretest.Run(t, func(t *testing.T) tiering.ObjectStore {
		return storewrap.Encrypt(memstore.New(), kr)
	})
}

func TestEncryptRanges(t *testing.T) {
	inner := memstore.New()
	s := storewrap.Encrypt(inner, ring(t, keyLine(t, "k1")))
	ctx := t.Context()
	const B = storewrap.EncBlockBytes
	for _, n := range []int64{0, 1, B - 1, B, B + 1, 3*B + 5} {
		data := make([]byte, n)
		rand.Read(data)
		key := fmt.Sprintf("t-0123/0/%020d.log", n)
		objstoretest.Put(t, s, key, data)
		stored, _ := inner.Bytes(key)
		if int64(len(stored)) != storewrap.EncryptedSize(n) {
			t.Fatalf("%d bytes stored as %d, want %d", n, len(stored), storewrap.EncryptedSize(n))
		}
		if n >= 16 && bytes.Contains(stored, data[:16]) {
			t.Fatalf("%d bytes: plaintext visible in the stored object", n)
		}
		if oi, err := s.Stat(ctx, key); err != nil || oi.Size != n {
			t.Fatalf("stat %d: %+v %v", n, oi, err)
		}
		for _, r := range [][2]int64{{0, -1}, {0, n}, {0, 10}, {1, -1}, {B - 3, 7}, {B, B}, {n / 2, n}, {n, -1}, {2*B + 1, 10}} {
			off, l := r[0], r[1]
			if off > n {
				continue
			}
			want := data[off:]
			if l >= 0 && off+l < n {
				want = data[off : off+l]
			}
			if got := objstoretest.GetRange(t, s, key, off, l); !bytes.Equal(got, want) {
				t.Fatalf("size %d range [%d,+%d): got %d bytes, want %d", n, off, l, len(got), len(want))
			}
		}
	}
}

// TestEncryptKeys: data keys are per partition, rotation keeps old objects readable while
// the old KEK is listed, and a missing or wrong key is an error, never plaintext.
func TestEncryptKeys(t *testing.T) {
	ctx := t.Context()
	inner := memstore.New()
	k1, k2 := keyLine(t, "k1"), keyLine(t, "k2")
	s1 := storewrap.Encrypt(inner, ring(t, k1))
	objstoretest.Put(t, s1, "orders-ab/0/a.log", []byte("partition zero, first"))
	objstoretest.Put(t, s1, "orders-ab/0/b.log", []byte("partition zero, second"))
	objstoretest.Put(t, s1, "orders-ab/1/a.log", []byte("partition one"))
	objstoretest.Put(t, s1, "_groups/groups.snapshot", []byte("groups"))
	dek := func(key string) string { b, _ := inner.Bytes(key); return string(b[20:36]) }
	if dek("orders-ab/0/a.log") != dek("orders-ab/0/b.log") || dek("orders-ab/0/a.log") == dek("orders-ab/1/a.log") ||
		dek("orders-ab/1/a.log") == dek("_groups/groups.snapshot") {
		t.Fatal("data keys are not per partition")
	}

	// Rotation: k2 appended becomes primary; k1's objects stay readable.
	s2 := storewrap.Encrypt(inner, ring(t, k1, k2))
	objstoretest.Put(t, s2, "orders-ab/0/c.log", []byte("after rotation"))
	if b, _ := inner.Bytes("orders-ab/0/c.log"); string(b[37:39]) != "k2" || dek("orders-ab/0/c.log") == dek("orders-ab/0/a.log") {
		t.Fatal("new object not under a new data key wrapped by k2")
	}
	for key, want := range map[string]string{"orders-ab/0/a.log": "partition zero, first", "orders-ab/0/c.log": "after rotation"} {
		if got := objstoretest.Get(t, s2, key); string(got) != want {
			t.Fatalf("%s = %q", key, got)
		}
	}

	read := func(s tiering.ObjectStore, key string, off int64) error {
		rc, err := s.GetRange(ctx, key, off, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := bytesAll(rc)
		if err == nil {
			return fmt.Errorf("read %q without the right key", b)
		}
		return err
	}
	// k1 dropped from the file: its objects are refused.
	onlyK2 := storewrap.Encrypt(inner, ring(t, k2))
	if err := read(onlyK2, "orders-ab/0/a.log", 0); !errors.Is(err, storewrap.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	// Another key under the id k1.
	wrong := storewrap.Encrypt(inner, ring(t, keyLine(t, "k1")))
	for _, off := range []int64{0, 3} {
		if err := read(wrong, "orders-ab/0/a.log", off); !errors.Is(err, storewrap.ErrWrongKey) {
			t.Fatalf("wrong key at %d: %v", off, err)
		}
	}
	// No key at all.
	if err := read(storewrap.RefuseEncrypted(inner), "orders-ab/0/a.log", 0); !errors.Is(err, storewrap.ErrEncrypted) {
		t.Fatalf("no key: %v", err)
	}
	objstoretest.Put(t, inner, "plain/x", []byte("plaintext object"))
	if got := objstoretest.Get(t, storewrap.RefuseEncrypted(inner), "plain/x"); string(got) != "plaintext object" {
		t.Fatalf("refuser changed a plaintext object: %q", got)
	}
	if err := read(s2, "plain/x", 0); !errors.Is(err, storewrap.ErrNotEncrypted) {
		t.Fatalf("plaintext object through Encrypt: %v", err)
	}
}

func bytesAll(rc interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(rc)
	return b.Bytes(), err
}

// TestEncryptTamper: a changed, truncated or moved object fails authentication.
func TestEncryptTamper(t *testing.T) {
	ctx := t.Context()
	inner := memstore.New()
	s := storewrap.Encrypt(inner, ring(t, keyLine(t, "k1")))
	data := bytes.Repeat([]byte("0123456789abcdef"), storewrap.EncBlockBytes/8) // two blocks
	objstoretest.Put(t, s, "t-1/0/a.log", data)
	objstoretest.Put(t, s, "t-1/0/b.log", data)
	orig, _ := inner.Bytes("t-1/0/a.log")
	cases := map[string][]byte{
		"flip":     append(bytes.Clone(orig[:len(orig)-100]), append([]byte{orig[len(orig)-100] ^ 1}, orig[len(orig)-99:]...)...),
		"truncate": orig[:len(orig)-1],
		"size":     func() []byte { b := bytes.Clone(orig); b[19]--; return b }(),
	}
	for name, b := range cases {
		objstoretest.Put(t, inner, "t-1/0/a.log", b)
		rc, err := s.GetRange(ctx, "t-1/0/a.log", 0, -1)
		if err == nil {
			_, err = bytesAll(rc)
			rc.Close()
		}
		if !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	// b.log's bytes under a.log's key (same partition, same data key).
	moved, _ := inner.Bytes("t-1/0/b.log")
	objstoretest.Put(t, inner, "t-1/0/a.log", moved)
	rc, err := s.GetRange(ctx, "t-1/0/a.log", storewrap.EncBlockBytes, 10)
	if err == nil {
		_, err = bytesAll(rc)
		rc.Close()
	}
	if !errors.Is(err, segment.ErrCorrupt) {
		t.Errorf("moved object: err = %v", err)
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keys")
	os.WriteFile(p, []byte(keyLine(t, "a")+keyLine(t, "b")), 0o644)
	if _, err := storewrap.LoadKeyFile(p); err == nil {
		t.Error("a world-readable key file was accepted")
	}
	os.Chmod(p, 0o600)
	kr, err := storewrap.LoadKeyFile(p)
	if err != nil || kr.Primary() != "b" || !kr.Has("a") {
		t.Fatalf("keyring %v, %v", kr, err)
	}
	for _, bad := range []string{"", "a\n", "a c2VjcmV0\n", "a/b " + base64.StdEncoding.EncodeToString(make([]byte, 32)), keyLine(t, "x") + keyLine(t, "x")} {
		if _, err := storewrap.ParseKeys([]byte(bad)); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

// retaining is memstore with a PutRetained that records the locks it was given.
type retaining struct {
	*memstore.Store
	locks map[string]tiering.ObjectLock
}

func (r *retaining) PutRetained(ctx context.Context, key string, rd io.Reader, size int64, lock tiering.ObjectLock) error {
	r.locks[key] = lock
	return r.Put(ctx, key, rd, size)
}

// Encrypt keeps the optional capabilities: PutRetained and PutIf store ciphertext, and
// the ETag PutIf returns is the stored object's (Stat's), so manifest fencing works.
func TestEncryptCapabilities(t *testing.T) {
	ctx := t.Context()
	inner := &retaining{Store: memstore.New(), locks: map[string]tiering.ObjectLock{}}
	s := storewrap.Encrypt(inner, ring(t, keyLine(t, "k1")))
	rp, ok := s.(tiering.RetainingPutter)
	if !ok {
		t.Fatal("Encrypt dropped RetainingPutter")
	}
	lock := tiering.ObjectLock{Mode: "COMPLIANCE", Until: time.Now().Add(time.Hour)}
	if err := rp.PutRetained(ctx, "t-1/0/a.log", strings.NewReader("locked record"), 13, lock); err != nil {
		t.Fatal(err)
	}
	if b, _ := inner.Bytes("t-1/0/a.log"); bytes.Contains(b, []byte("locked record")) || inner.locks["t-1/0/a.log"] != lock {
		t.Fatal("PutRetained stored plaintext or lost the lock")
	}
	if got := objstoretest.Get(t, s, "t-1/0/a.log"); string(got) != "locked record" {
		t.Fatalf("read back %q", got)
	}
	cp := s.(tiering.ConditionalPutter)
	etag, err := cp.PutIf(ctx, "t-1/0/manifest.json", strings.NewReader("{}"), 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if oi, err := s.Stat(ctx, "t-1/0/manifest.json"); err != nil || oi.ETag != etag || oi.Size != 2 {
		t.Fatalf("stat %+v %v, PutIf etag %q", oi, err, etag)
	}
	if _, err := cp.PutIf(ctx, "t-1/0/manifest.json", strings.NewReader("{ }"), 3, "stale"); !errors.Is(err, tiering.ErrPreconditionFailed) {
		t.Fatalf("PutIf with a stale ETag: %v", err)
	}
	if _, err := cp.PutIf(ctx, "t-1/0/manifest.json", strings.NewReader("{ }"), 3, etag); err != nil {
		t.Fatal(err)
	}
	if got := objstoretest.Get(t, s, "t-1/0/manifest.json"); string(got) != "{ }" {
		t.Fatalf("manifest %q", got)
	}
}

// FuzzEncryptedRead: whatever bytes an object holds, reading it through Encrypt returns an
// error or, only for the object as sealed, its plaintext; it never panics.
func FuzzEncryptedRead(f *testing.F) {
	kr := ring(f, keyLine(f, "k1"))
	seed := memstore.New()
	objstoretest.Put(f, storewrap.Encrypt(seed, kr), "t-1/0/a.log", bytes.Repeat([]byte("record "), 20000))
	good, _ := seed.Bytes("t-1/0/a.log")
	f.Add(good, int64(0), int64(-1))
	f.Add(good[:storewrap.EncHeaderBytes+100], int64(70000), int64(10))
	f.Add([]byte("STRATAE1"), int64(0), int64(5))
	f.Fuzz(func(t *testing.T, obj []byte, off, length int64) {
		inner := memstore.New()
		objstoretest.Put(t, inner, "t-1/0/a.log", obj)
		s := storewrap.Encrypt(inner, kr)
		rc, err := s.GetRange(t.Context(), "t-1/0/a.log", off, length)
		if err != nil {
			return
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err == nil && len(got) > 0 && !bytes.HasPrefix(obj, good) { // bytes after the last block are not read
			t.Fatalf("%d bytes read from a changed object", len(got))
		}
	})
}

func TestEncryptHugeLength(t *testing.T) {
	s := storewrap.Encrypt(memstore.New(), ring(t, keyLine(t, "k1")))
	data := bytes.Repeat([]byte("x"), 3*storewrap.EncBlockBytes)
	objstoretest.Put(t, s, "t-1/0/a.log", data)
	for _, off := range []int64{0, 5, storewrap.EncBlockBytes + 1} {
		if got := objstoretest.GetRange(t, s, "t-1/0/a.log", off, math.MaxInt64); !bytes.Equal(got, data[off:]) {
			t.Errorf("range [%d,+MaxInt64): %d bytes", off, len(got))
		}
	}
}

// Rewrap moves objects' data keys under the primary KEK without touching their blocks, so
// the old KEK can leave the key file.
func TestRewrap(t *testing.T) {
	ctx := t.Context()
	inner := memstore.New()
	k1, k2 := keyLine(t, "k1"), keyLine(t, "k2")
	objstoretest.Put(t, storewrap.Encrypt(inner, ring(t, k1)), "t-1/0/a.log", bytes.Repeat([]byte("old "), 40000))
	objstoretest.Put(t, storewrap.Encrypt(inner, ring(t, k1, k2)), "t-1/0/b.log", []byte("new"))
	before, _ := inner.Bytes("t-1/0/a.log")
	both := ring(t, k1, k2)
	for key, want := range map[string]bool{"t-1/0/a.log": true, "t-1/0/b.log": false} {
		if changed, err := storewrap.Rewrap(ctx, inner, both, key); err != nil || changed != want {
			t.Fatalf("Rewrap %s = %v, %v; want %v", key, changed, err, want)
		}
	}
	after, _ := inner.Bytes("t-1/0/a.log")
	if !bytes.Equal(before[storewrap.EncHeaderBytes:], after[storewrap.EncHeaderBytes:]) || string(after[37:39]) != "k2" {
		t.Fatal("Rewrap changed the blocks or did not name k2")
	}
	onlyK2 := storewrap.Encrypt(inner, ring(t, k2))
	if got := objstoretest.Get(t, onlyK2, "t-1/0/a.log"); !bytes.Equal(got, bytes.Repeat([]byte("old "), 40000)) {
		t.Fatal("rewrapped object does not read back under k2 alone")
	}
	if _, err := storewrap.Rewrap(ctx, inner, ring(t, keyLine(t, "k2")), "t-1/0/a.log"); err == nil {
		t.Fatal("Rewrap with another key under the id of the object's KEK: no error")
	}
}
