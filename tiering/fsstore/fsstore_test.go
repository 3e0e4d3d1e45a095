package fsstore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/fsstore"
	"github.com/strata-io/strata/tiering/objstoretest"
)

func newStore(t *testing.T) *fsstore.Store {
	t.Helper()
	s, err := fsstore.New(filepath.Join(t.TempDir(), "tier"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.RunWithOptions(t, func(t *testing.T) tiering.ObjectStore { return newStore(t) },
		objstoretest.Options{NoFileDirConflicts: true})
}

func TestInvalidKeys(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for _, key := range []string{"", "/abs", "a/", "a//b", "../escape", "a/../../b", "a/./b", ".", "..",
		"a/.strata-tmp-x", "nul\x00byte"} {
		if err := s.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, fsstore.ErrInvalidKey) {
			t.Errorf("put %q: err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, tiering.ErrNotExist) {
			t.Errorf("stat %q: err = %v, want ErrNotExist", key, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("delete %q: %v", key, err)
		}
	}
	// Nothing escaped the root.
	entries, err := os.ReadDir(filepath.Dir(s.Root()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("parent of root holds %d entries, want only the root", len(entries))
	}
}

func TestLayoutAndCleanup(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	objstoretest.Put(t, s, "topic-abc/0/00000000000000000000-u.log", []byte("data"))
	b, err := os.ReadFile(filepath.Join(s.Root(), "topic-abc", "0", "00000000000000000000-u.log"))
	if err != nil || string(b) != "data" {
		t.Fatalf("object file: %q, %v", b, err)
	}
	// A stray temporary file from a crash is invisible.
	if err := os.WriteFile(filepath.Join(s.Root(), "topic-abc", "0", ".strata-tmp-123"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := objstoretest.Keys(t, s, ""); len(got) != 1 {
		t.Fatalf("list = %q", got)
	}
	if err := os.Remove(filepath.Join(s.Root(), "topic-abc", "0", ".strata-tmp-123")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "topic-abc/0/00000000000000000000-u.log"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s.Root())
	if err != nil || len(entries) != 0 {
		t.Fatalf("root after delete: %v entries, %v", len(entries), err)
	}
	// A key that would need a file to be a directory fails cleanly.
	objstoretest.Put(t, s, "a", []byte("file"))
	if err := s.Put(ctx, "a/b", strings.NewReader("x"), 1); err == nil {
		t.Fatal("put a/b with object a: no error")
	}
	objstoretest.Put(t, s, "d/e", []byte("x"))
	if err := s.Put(ctx, "d", strings.NewReader("x"), 1); err == nil {
		t.Fatal("put d over directory d: no error")
	}
	if got := objstoretest.Keys(t, s, ""); strings.Join(got, ",") != "a,d/e" {
		t.Fatalf("list = %q", got)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s1, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.Put(t, s1, "k/1", []byte("one"))
	oi1, _ := s1.Stat(t.Context(), "k/1")
	s2, err := fsstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	oi2, err := s2.Stat(t.Context(), "k/1")
	if err != nil || oi2.ETag != oi1.ETag {
		t.Fatalf("reopened stat %+v, %v; before %+v", oi2, err, oi1)
	}
	if got := objstoretest.Get(t, s2, "k/1"); string(got) != "one" {
		t.Fatalf("reopened get %q", got)
	}
}

// TestConcurrentPutDeleteSiblings races Puts with Deletes that remove emptied parent
// directories: a Put must never fail because its directory vanished under it.
func TestConcurrentPutDeleteSiblings(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			key := fmt.Sprintf("p/q/r/%d", w)
			for range 200 {
				if err := s.Put(ctx, key, strings.NewReader("v"), 1); err != nil {
					errc <- err
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(s.Root()); len(entries) != 0 {
		t.Fatalf("root not empty after all deletes: %d entries", len(entries))
	}
}
