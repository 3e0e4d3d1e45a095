// Package objstoretest is the conformance suite every tiering.ObjectStore backend runs:
// memstore and fsstore in their unit tests, s3store against a real MinIO. A behaviour the
// broker relies on belongs here, so that all backends agree on it.
//
// Contract details the suite pins down beyond the interface comments:
//   - GetRange(off, length): off == size yields an empty body; off > size or off < 0 is an
//     error; off+length past the end is cut at the end; length == 0 yields an empty body.
//   - Put with a reader that yields fewer or more than size bytes fails and leaves the
//     previous object (or nothing) in place; so does a Put whose ctx is cancelled.
//   - List visits keys in byte-wise lexical order, including across "directory" boundaries
//     ("a-c" sorts before "a/b").
//   - ConditionalPutter (when implemented): PutIf with "" creates only; PutIf with an ETag
//     replaces only that version; of N racing writers holding the same ETag exactly one wins;
//     the returned ETag equals Stat's.
package objstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering"
)

// Options tunes the suite to a backend.
type Options struct {
	// LargeSize is the size of the object in the large-object test; set it above the
	// backend's multipart threshold. Default 3 MiB.
	LargeSize int64
	// ManyKeys is the number of keys in the pagination test; default 1100 (> 1000, S3's page).
	ManyKeys int
	// NoFileDirConflicts skips keys where one key is a "directory" of another ("a" and
	// "a/b"), which filesystem-backed stores cannot hold at once: fsstore refuses the second
	// Put, and MinIO (a filesystem underneath) accepts it but leaves the keys out of listings.
	// Strata's bucket layout never creates such pairs. Default false.
	NoFileDirConflicts bool
}

// Run runs the suite with default options. newStore must return an empty store.
func Run(t *testing.T, newStore func(t *testing.T) tiering.ObjectStore) {
	RunWithOptions(t, newStore, Options{})
}

// RunWithOptions runs the suite. newStore must return an empty store (or one whose keys do
// not collide with the suite's: every subtest writes under its own name).
func RunWithOptions(t *testing.T, newStore func(t *testing.T) tiering.ObjectStore, o Options) {
	if o.LargeSize <= 0 {
		o.LargeSize = 3 << 20
	}
	if o.ManyKeys <= 0 {
		o.ManyKeys = 1100
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s tiering.ObjectStore, o Options)
	}{
		{"PutGet", testPutGet},
		{"GetRange", testGetRange},
		{"Stat", testStat},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"ListOrderAndPrefix", testList},
		{"ListMany", testListMany},
		{"ListStopsOnError", testListStop},
		{"Overwrite", testOverwrite},
		{"SizeMismatch", testSizeMismatch},
		{"ReaderError", testReaderError},
		{"Large", testLarge},
		{"OddKeys", testOddKeys},
		{"Concurrent", testConcurrent},
		{"ContextCancelled", testCtxCancelled},
		{"CancelDuringPut", testCancelDuringPut},
		{"ConditionalPut", testConditional},
		{"ConditionalRace", testConditionalRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t), o)
		})
	}
}

// Put stores data under key and fails the test on error.
func Put(t testing.TB, s tiering.ObjectStore, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

// Get returns the whole object under key and fails the test on error.
func Get(t testing.TB, s tiering.ObjectStore, key string) []byte {
	t.Helper()
	return GetRange(t, s, key, 0, -1)
}

// GetRange returns a range of key and fails the test on error.
func GetRange(t testing.TB, s tiering.ObjectStore, key string, off, length int64) []byte {
	t.Helper()
	rc, err := s.GetRange(context.Background(), key, off, length)
	if err != nil {
		t.Fatalf("get %q [%d,+%d): %v", key, off, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q [%d,+%d): %v", key, off, length, err)
	}
	return b
}

// Keys lists prefix and returns the keys in the order List produced them.
func Keys(t testing.TB, s tiering.ObjectStore, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), prefix, func(oi tiering.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return keys
}

func get(s tiering.ObjectStore, key string) ([]byte, error) {
	rc, err := s.GetRange(context.Background(), key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func randBytes(seed uint64, n int64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testPutGet(t *testing.T, s tiering.ObjectStore, _ Options) {
	data := []byte("the quick brown fox jumps over the lazy dog")
	Put(t, s, "putget/obj", data)
	if got := Get(t, s, "putget/obj"); !bytes.Equal(got, data) {
		t.Fatalf("get = %q, want %q", got, data)
	}
	Put(t, s, "putget/empty", nil)
	if got := Get(t, s, "putget/empty"); len(got) != 0 {
		t.Fatalf("empty object read %d bytes", len(got))
	}
	oi, err := s.Stat(t.Context(), "putget/empty")
	if err != nil || oi.Size != 0 {
		t.Fatalf("stat empty = %+v, %v", oi, err)
	}
}

func testGetRange(t *testing.T, s tiering.ObjectStore, _ Options) {
	data := []byte("0123456789abcdefghij") // 20 bytes
	Put(t, s, "range/obj", data)
	n := int64(len(data))
	f := func(off, length int64, want string) {
		t.Helper()
		if got := GetRange(t, s, "range/obj", off, length); string(got) != want {
			t.Errorf("range [%d,+%d) = %q, want %q", off, length, got, want)
		}
	}
	f(0, -1, string(data))
	f(0, n, string(data))
	f(3, 4, "3456")
	f(10, -1, "abcdefghij")
	f(19, 1, "j")
	f(19, -1, "j")
	f(15, 100, "fghij") // past the end: cut
	f(5, 0, "")         // zero length
	f(n, -1, "")        // offset at end
	f(n, 5, "")
	for _, off := range []int64{n + 1, -1} {
		rc, err := s.GetRange(t.Context(), "range/obj", off, -1)
		if err == nil {
			b, rerr := io.ReadAll(rc)
			rc.Close()
			if rerr == nil {
				t.Errorf("range at offset %d of %d-byte object: read %q, want an error", off, n, b)
			}
		}
	}
	Put(t, s, "range/empty", nil)
	if got := GetRange(t, s, "range/empty", 0, 10); len(got) != 0 {
		t.Errorf("empty object range read %q", got)
	}
}

func testStat(t *testing.T, s tiering.ObjectStore, _ Options) {
	before := time.Now()
	Put(t, s, "stat/obj", make([]byte, 1234))
	oi, err := s.Stat(t.Context(), "stat/obj")
	if err != nil {
		t.Fatal(err)
	}
	if oi.Key != "stat/obj" || oi.Size != 1234 {
		t.Fatalf("stat = %+v, want key stat/obj size 1234", oi)
	}
	if oi.ETag == "" {
		t.Errorf("stat: empty ETag")
	}
	// Object stores keep second (S3) granularity; allow clock skew of a minute.
	if oi.LastModified.Before(before.Add(-time.Minute)) || oi.LastModified.After(time.Now().Add(time.Minute)) {
		t.Errorf("stat: LastModified %v not near %v", oi.LastModified, before)
	}
	var listed tiering.ObjectInfo
	if err := s.List(t.Context(), "stat/", func(o tiering.ObjectInfo) error { listed = o; return nil }); err != nil {
		t.Fatal(err)
	}
	if listed.Key != oi.Key || listed.Size != oi.Size {
		t.Errorf("list info %+v differs from stat %+v", listed, oi)
	}
}

func testMissing(t *testing.T, s tiering.ObjectStore, _ Options) {
	ctx := t.Context()
	Put(t, s, "missing/present", []byte("x"))
	for _, key := range []string{"missing/absent", "missing/pres", "missing", "missing/present/child"} {
		if _, err := s.Stat(ctx, key); !errors.Is(err, tiering.ErrNotExist) {
			t.Errorf("stat %q: err = %v, want ErrNotExist", key, err)
		}
		for _, r := range [][2]int64{{0, -1}, {0, 10}, {5, 1}} {
			rc, err := s.GetRange(ctx, key, r[0], r[1])
			if err == nil {
				rc.Close()
			}
			if !errors.Is(err, tiering.ErrNotExist) {
				t.Errorf("get %q %v: err = %v, want ErrNotExist", key, r, err)
			}
		}
	}
}

func testDelete(t *testing.T, s tiering.ObjectStore, _ Options) {
	ctx := t.Context()
	if err := s.Delete(ctx, "delete/never-existed"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
	Put(t, s, "delete/a/b/obj", []byte("x"))
	Put(t, s, "delete/keep", []byte("y"))
	for range 2 {
		if err := s.Delete(ctx, "delete/a/b/obj"); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if _, err := s.Stat(ctx, "delete/a/b/obj"); !errors.Is(err, tiering.ErrNotExist) {
		t.Fatalf("stat after delete: %v", err)
	}
	if got := Keys(t, s, "delete/"); !slices.Equal(got, []string{"delete/keep"}) {
		t.Fatalf("list after delete = %q", got)
	}
	// The emptied "directory" can hold an object again.
	Put(t, s, "delete/a/b/obj", []byte("z"))
	if got := Get(t, s, "delete/a/b/obj"); string(got) != "z" {
		t.Fatalf("re-put after delete read %q", got)
	}
}

func testList(t *testing.T, s tiering.ObjectStore, o Options) {
	keys := []string{
		"list/a-c", "list/a/bc", "list/a/b/c/d", "list/a/b/c/e", "list/ab", "list/a/b-",
		"list/a.x", "list/a0", "list/b", "list/B", "list/a/b/c~", "list/z/y/x/w",
	}
	if !o.NoFileDirConflicts {
		keys = append(keys, "list/a", "list/a/b", "list/a/b/c")
	}
	for i, k := range keys {
		Put(t, s, k, make([]byte, i+1))
	}
	Put(t, s, "lisu", []byte("outside"))
	Put(t, s, "lis", []byte("outside"))
	sizes := map[string]int64{}
	for i, k := range keys {
		sizes[k] = int64(i + 1)
	}
	f := func(prefix string) {
		t.Helper()
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		sort.Strings(want)
		var got []string
		err := s.List(t.Context(), prefix, func(oi tiering.ObjectInfo) error {
			got = append(got, oi.Key)
			if oi.Size != sizes[oi.Key] {
				t.Errorf("list %q: %q has size %d, want %d", prefix, oi.Key, oi.Size, sizes[oi.Key])
			}
			return nil
		})
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("list %q =\n  %q\nwant\n  %q", prefix, got, want)
		}
	}
	f("list/")
	f("list/a")
	f("list/a/")
	f("list/a/b")
	f("list/a/b/")
	f("list/a/b/c")
	f("list/a/b/c/")
	f("list/z/")
	f("list/z/y/x/w")
	f("list/nothing")
	f("list/a/b/c/d/e")
	all := Keys(t, s, "")
	for _, k := range []string{"lis", "lisu", "list/b"} {
		if !slices.Contains(all, k) {
			t.Errorf("list \"\" lacks %q", k)
		}
	}
	if !sort.StringsAreSorted(all) {
		t.Errorf("list \"\" not sorted: %q", all)
	}
}

func testListMany(t *testing.T, s tiering.ObjectStore, o Options) {
	want := make([]string, o.ManyKeys)
	for i := range want {
		// Mixed widths so that lexical order differs from numeric order.
		want[i] = fmt.Sprintf("many/%d", i)
	}
	putAll(t, s, want, func(i int) []byte { return []byte(want[i]) })
	Put(t, s, "manx", nil)
	Put(t, s, "manz", nil)
	sort.Strings(want)
	if got := Keys(t, s, "many/"); !slices.Equal(got, want) {
		t.Fatalf("list many: got %d keys (first %q), want %d", len(got), first(got), len(want))
	}
	// A prefix that cuts the listing in the middle.
	var want1 []string
	for _, k := range want {
		if strings.HasPrefix(k, "many/1") {
			want1 = append(want1, k)
		}
	}
	if got := Keys(t, s, "many/1"); !slices.Equal(got, want1) {
		t.Fatalf("list many/1: got %d keys, want %d", len(got), len(want1))
	}
}

func first(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// putAll writes keys with 8 writers.
func putAll(t *testing.T, s tiering.ObjectStore, keys []string, data func(i int) []byte) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(keys) {
					return
				}
				d := data(i)
				if err := s.Put(context.Background(), keys[i], bytes.NewReader(d), int64(len(d))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testListStop(t *testing.T, s tiering.ObjectStore, _ Options) {
	for _, k := range []string{"stop/1", "stop/2", "stop/3"} {
		Put(t, s, k, []byte(k))
	}
	errStop := errors.New("stop here")
	var seen []string
	err := s.List(t.Context(), "stop/", func(oi tiering.ObjectInfo) error {
		seen = append(seen, oi.Key)
		if len(seen) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("list err = %v, want the callback's error", err)
	}
	if !slices.Equal(seen, []string{"stop/1", "stop/2"}) {
		t.Fatalf("list visited %q after the callback failed", seen)
	}
}

func testOverwrite(t *testing.T, s tiering.ObjectStore, _ Options) {
	Put(t, s, "over/obj", []byte("version one, long"))
	oi1, err := s.Stat(t.Context(), "over/obj")
	if err != nil {
		t.Fatal(err)
	}
	Put(t, s, "over/obj", []byte("v2"))
	if got := Get(t, s, "over/obj"); string(got) != "v2" {
		t.Fatalf("get after overwrite = %q", got)
	}
	oi2, err := s.Stat(t.Context(), "over/obj")
	if err != nil {
		t.Fatal(err)
	}
	if oi2.Size != 2 {
		t.Fatalf("stat after overwrite: size %d", oi2.Size)
	}
	if oi1.ETag == oi2.ETag {
		t.Errorf("ETag %q unchanged by an overwrite with different content", oi1.ETag)
	}
	if got := Keys(t, s, "over/"); !slices.Equal(got, []string{"over/obj"}) {
		t.Fatalf("list after overwrite = %q", got)
	}
}

func testSizeMismatch(t *testing.T, s tiering.ObjectStore, _ Options) {
	ctx := t.Context()
	f := func(key string, data []byte, size int64) {
		t.Helper()
		if err := s.Put(ctx, key, bytes.NewReader(data), size); err == nil {
			t.Errorf("put %q of %d bytes declared as %d: no error", key, len(data), size)
		}
	}
	f("mismatch/short", []byte("abc"), 10)
	f("mismatch/long", []byte("abcdefghij"), 3)
	f("mismatch/empty-declared", []byte("abc"), 0)
	for _, k := range []string{"mismatch/short", "mismatch/long", "mismatch/empty-declared"} {
		if _, err := s.Stat(ctx, k); !errors.Is(err, tiering.ErrNotExist) {
			t.Errorf("failed put left %q: stat err = %v", k, err)
		}
	}
	if got := Keys(t, s, "mismatch/"); len(got) != 0 {
		t.Errorf("failed puts left %q", got)
	}
	Put(t, s, "mismatch/old", []byte("old"))
	f("mismatch/old", []byte("new!"), 10)
	f("mismatch/old", []byte("newer than old"), 4)
	if got := Get(t, s, "mismatch/old"); string(got) != "old" {
		t.Errorf("failed overwrite changed the object to %q", got)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func testReaderError(t *testing.T, s tiering.ObjectStore, _ Options) {
	errBoom := errors.New("boom")
	Put(t, s, "rerr/obj", []byte("old"))
	for _, key := range []string{"rerr/obj", "rerr/new"} {
		r := &failingReader{data: []byte("partial"), err: errBoom}
		if err := s.Put(t.Context(), key, r, 100); err == nil {
			t.Fatalf("put %q from a failing reader: no error", key)
		}
	}
	if got := Get(t, s, "rerr/obj"); string(got) != "old" {
		t.Errorf("failed put changed the object to %q", got)
	}
	if _, err := s.Stat(t.Context(), "rerr/new"); !errors.Is(err, tiering.ErrNotExist) {
		t.Errorf("failed put left an object: %v", err)
	}
}

func testLarge(t *testing.T, s tiering.ObjectStore, o Options) {
	data := randBytes(7, o.LargeSize)
	Put(t, s, "large/obj", data)
	got := Get(t, s, "large/obj")
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("large object: read %d bytes that differ from the %d written", len(got), len(data))
	}
	oi, err := s.Stat(t.Context(), "large/obj")
	if err != nil || oi.Size != o.LargeSize {
		t.Fatalf("stat large = %+v, %v", oi, err)
	}
	n := o.LargeSize
	for _, r := range [][2]int64{{n/2 - 100, 200}, {n - 10, -1}, {1, n - 2}, {n / 3, n / 3}} {
		want := data[r[0]:]
		if r[1] >= 0 {
			want = data[r[0] : r[0]+r[1]]
		}
		if got := GetRange(t, s, "large/obj", r[0], r[1]); !bytes.Equal(got, want) {
			t.Errorf("large range %v: %d bytes differ from the %d expected", r, len(got), len(want))
		}
	}
	// A failed large put (short reader) leaves nothing.
	if err := s.Put(t.Context(), "large/short", bytes.NewReader(data[:n-1]), n); err == nil {
		t.Fatal("short large put: no error")
	}
	if _, err := s.Stat(t.Context(), "large/short"); !errors.Is(err, tiering.ErrNotExist) {
		t.Errorf("failed large put left an object: %v", err)
	}
	if err := s.Put(t.Context(), "large/long", bytes.NewReader(append(data, 1)), n); err == nil {
		t.Fatal("long large put: no error")
	}
	if _, err := s.Stat(t.Context(), "large/long"); !errors.Is(err, tiering.ErrNotExist) {
		t.Errorf("failed large put left an object: %v", err)
	}
}

func testOddKeys(t *testing.T, s tiering.ObjectStore, _ Options) {
	keys := []string{
		"odd/with space.log", "odd/plus+equals=amp&", "odd/percent%20q", "odd/ümlaut-ß",
		"odd/q?mark#hash", "odd/colon:semi;comma,", "odd/dots..in..name", "odd/.hidden",
	}
	for _, k := range keys {
		Put(t, s, k, []byte(k))
	}
	for _, k := range keys {
		if got := Get(t, s, k); string(got) != k {
			t.Errorf("get %q = %q", k, got)
		}
	}
	want := slices.Clone(keys)
	sort.Strings(want)
	if got := Keys(t, s, "odd/"); !slices.Equal(got, want) {
		t.Errorf("list odd/ = %q, want %q", got, want)
	}
	for _, k := range keys {
		if err := s.Delete(t.Context(), k); err != nil {
			t.Errorf("delete %q: %v", k, err)
		}
	}
	if got := Keys(t, s, "odd/"); len(got) != 0 {
		t.Errorf("list after delete = %q", got)
	}
}

func testConcurrent(t *testing.T, s tiering.ObjectStore, _ Options) {
	// Versions of the shared key are distinguishable and self-checking: every byte of
	// version v is byte(v), and every version has a different length.
	version := func(v int) []byte { return bytes.Repeat([]byte{byte(v)}, 1000+v) }
	Put(t, s, "conc/shared", version(0))
	const writers, rounds = 4, 10
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				v := 1 + w*rounds + r
				d := version(v)
				if err := s.Put(context.Background(), "conc/shared", bytes.NewReader(d), int64(len(d))); err != nil {
					errc <- err
					return
				}
				own := fmt.Sprintf("conc/w%d/%d", w, r)
				if err := s.Put(context.Background(), own, strings.NewReader(own), int64(len(own))); err != nil {
					errc <- err
					return
				}
				if got, err := get(s, own); err != nil || string(got) != own {
					errc <- fmt.Errorf("get %q = %q, %v", own, got, err)
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range rounds * 2 {
				b, err := get(s, "conc/shared")
				if err != nil {
					errc <- err
					return
				}
				if len(b) < 1000 || len(b)-1000 > writers*rounds || !bytes.Equal(b, version(len(b)-1000)) {
					errc <- fmt.Errorf("torn read of shared key: %d bytes", len(b))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got := Keys(t, s, "conc/w"); len(got) != writers*rounds {
		t.Errorf("list conc/w: %d keys, want %d", len(got), writers*rounds)
	}
}

func testCtxCancelled(t *testing.T, s tiering.ObjectStore, _ Options) {
	Put(t, s, "ctx/present", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "ctx/new", strings.NewReader("abc"), 3); err == nil {
		t.Error("put with cancelled ctx: no error")
	}
	if rc, err := s.GetRange(ctx, "ctx/present", 0, -1); err == nil {
		// A lazily-started body must still fail.
		if _, err := io.ReadAll(rc); err == nil {
			t.Error("get with cancelled ctx: no error")
		}
		rc.Close()
	}
	if _, err := s.Stat(ctx, "ctx/present"); err == nil {
		t.Error("stat with cancelled ctx: no error")
	}
	if err := s.List(ctx, "ctx/", func(tiering.ObjectInfo) error { return nil }); err == nil {
		t.Error("list with cancelled ctx: no error")
	}
	if _, err := s.Stat(t.Context(), "ctx/new"); !errors.Is(err, tiering.ErrNotExist) {
		t.Errorf("put with cancelled ctx left an object: %v", err)
	}
}

// cancellingReader cancels its context after yielding after bytes, then keeps yielding.
type cancellingReader struct {
	r      io.Reader
	n      int64
	after  int64
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.n >= c.after {
		c.cancel()
		time.Sleep(time.Millisecond)
	}
	if int64(len(p)) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func testCancelDuringPut(t *testing.T, s tiering.ObjectStore, o Options) {
	for _, size := range []int64{256 << 10, o.LargeSize} {
		Put(t, s, "cancel/obj", []byte("old"))
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancellingReader{r: bytes.NewReader(randBytes(3, size)), after: size / 2, cancel: cancel}
		err := s.Put(ctx, "cancel/obj", r, size)
		cancel()
		if err == nil {
			t.Fatalf("put of %d bytes cancelled midway: no error", size)
		}
		if !errors.Is(err, context.Canceled) {
			t.Logf("put cancelled midway returned %v (not context.Canceled)", err)
		}
		if got := Get(t, s, "cancel/obj"); string(got) != "old" {
			t.Fatalf("cancelled put of %d bytes replaced the object (%d bytes)", size, len(got))
		}
	}
}

func testConditional(t *testing.T, s tiering.ObjectStore, _ Options) {
	cp, ok := s.(tiering.ConditionalPutter)
	if !ok {
		t.Skip("store does not implement tiering.ConditionalPutter")
	}
	ctx := t.Context()
	putIf := func(key, data, ifMatch string) (string, error) {
		return cp.PutIf(ctx, key, strings.NewReader(data), int64(len(data)), ifMatch)
	}
	e1, err := putIf("cond/m", "one", "")
	if err != nil || e1 == "" {
		t.Fatalf("create-only put on a missing key: etag %q, err %v", e1, err)
	}
	if oi, err := s.Stat(ctx, "cond/m"); err != nil || oi.ETag != e1 {
		t.Fatalf("stat etag %q, err %v; PutIf returned %q", oi.ETag, err, e1)
	}
	if _, err := putIf("cond/m", "two", ""); !errors.Is(err, tiering.ErrPreconditionFailed) {
		t.Fatalf("create-only put on an existing key: err = %v, want ErrPreconditionFailed", err)
	}
	e2, err := putIf("cond/m", "two!", e1)
	if err != nil || e2 == "" || e2 == e1 {
		t.Fatalf("put if-match current: etag %q (old %q), err %v", e2, e1, err)
	}
	if _, err := putIf("cond/m", "stale", e1); !errors.Is(err, tiering.ErrPreconditionFailed) {
		t.Fatalf("put if-match stale: err = %v, want ErrPreconditionFailed", err)
	}
	if got := Get(t, s, "cond/m"); string(got) != "two!" {
		t.Fatalf("content %q after a rejected put", got)
	}
	if _, err := putIf("cond/absent", "x", e2); !errors.Is(err, tiering.ErrPreconditionFailed) {
		t.Fatalf("put if-match on a missing key: err = %v, want ErrPreconditionFailed", err)
	}
	if _, err := s.Stat(ctx, "cond/absent"); !errors.Is(err, tiering.ErrNotExist) {
		t.Fatalf("rejected put created the key: %v", err)
	}
	// A plain Put invalidates the ETag a conditional writer holds.
	Put(t, s, "cond/m", []byte("plain"))
	if _, err := putIf("cond/m", "late", e2); !errors.Is(err, tiering.ErrPreconditionFailed) {
		t.Fatalf("put if-match after a plain put: err = %v, want ErrPreconditionFailed", err)
	}
	oi, err := s.Stat(ctx, "cond/m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := putIf("cond/m", "fresh", oi.ETag); err != nil {
		t.Fatalf("put if-match with Stat's ETag: %v", err)
	}
	// A size mismatch fails without touching the object.
	if _, err := cp.PutIf(ctx, "cond/m", strings.NewReader("abc"), 5, ""); err == nil {
		t.Fatal("conditional put with a short reader: no error")
	}
	if got := Get(t, s, "cond/m"); string(got) != "fresh" {
		t.Fatalf("content %q after a failed conditional put", got)
	}
}

func testConditionalRace(t *testing.T, s tiering.ObjectStore, _ Options) {
	cp, ok := s.(tiering.ConditionalPutter)
	if !ok {
		t.Skip("store does not implement tiering.ConditionalPutter")
	}
	for round, ifMatch := range []string{"", "from-stat"} {
		key := fmt.Sprintf("race/%d", round)
		if ifMatch != "" {
			Put(t, s, key, []byte("base"))
			oi, err := s.Stat(t.Context(), key)
			if err != nil {
				t.Fatal(err)
			}
			ifMatch = oi.ETag
		}
		const n = 8
		var wins atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				d := fmt.Sprintf("writer %d", i)
				_, err := cp.PutIf(context.Background(), key, strings.NewReader(d), int64(len(d)), ifMatch)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(d)
				case !errors.Is(err, tiering.ErrPreconditionFailed):
					t.Errorf("racing PutIf: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("if-match %q: %d of %d racing writers won, want exactly 1", ifMatch, wins.Load(), n)
		}
		if got := Get(t, s, key); string(got) != winner.Load() {
			t.Fatalf("content %q, winner wrote %q", got, winner.Load())
		}
	}
}
