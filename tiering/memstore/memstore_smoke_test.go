package memstore

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/strata-io/strata/tiering"
)

func TestSmoke(t *testing.T) {
	s := New()
	ctx := t.Context()
	if err := s.Put(ctx, "a/b", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	rc, err := s.GetRange(ctx, "a/b", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	if string(b) != "ell" {
		t.Fatalf("got %q", b)
	}
	if _, err := s.Stat(ctx, "nope"); !errors.Is(err, tiering.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	if err := s.Put(ctx, "short", strings.NewReader("abc"), 4); err == nil {
		t.Fatal("short put succeeded")
	}
	if _, ok := s.Bytes("short"); ok {
		t.Fatal("short put left an object")
	}
}
