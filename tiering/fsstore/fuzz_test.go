package fsstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-io/strata/tiering/fsstore"
	"github.com/strata-io/strata/tiering/objstoretest"
)

// FuzzKey: whatever the key, a Put either fails with ErrInvalidKey or stores a file inside
// the root that Stat, List and Get find under the same key, and Delete leaves the root empty.
func FuzzKey(f *testing.F) {
	for _, k := range []string{"a", "a/b/c.log", "../x", "a/../b", "/abs", "a//b", ".", "..", "a/.", "x/.strata-tmp-1",
		"t-1/0/00000000000000000000-0b1f.log", "ä/ö", "a\\b", "...", "a/..b", "..a/b"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		outer := t.TempDir()
		s, err := fsstore.New(filepath.Join(outer, "root"))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Put(t.Context(), key, strings.NewReader("v"), 1)
		if err != nil {
			if errors.Is(err, fsstore.ErrInvalidKey) {
				return
			}
			if len(key) > 200 || strings.Contains(err.Error(), "name too long") {
				return // beyond the filesystem's limits
			}
			t.Fatalf("put %q: %v", key, err)
		}
		// Nothing outside the root.
		entries, _ := os.ReadDir(outer)
		if len(entries) != 1 {
			t.Fatalf("put %q wrote outside the root", key)
		}
		if got := objstoretest.Keys(t, s, ""); !slices.Equal(got, []string{key}) {
			t.Fatalf("put %q: list = %q", key, got)
		}
		if got := objstoretest.Get(t, s, key); string(got) != "v" {
			t.Fatalf("get %q = %q", key, got)
		}
		if err := s.Delete(t.Context(), key); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(s.Root()); len(entries) != 0 {
			t.Fatalf("delete %q left %d entries", key, len(entries))
		}
	})
}
