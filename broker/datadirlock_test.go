package broker

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Issue 14: a second broker on the same data directory started normally and both appended
// to the same partition files, losing acknowledged records. It must refuse to start.
func TestSecondBrokerOnDataDirRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := func() Config {
		c, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	b1, err := New(cfg())
	if err != nil {
		t.Fatal(err)
	}
	b2, err := New(cfg())
	if err == nil {
		b2.Close()
		t.Fatal("second broker on the same data dir started")
	}
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("err = %v, want ErrDataDirLocked", err)
	}
	if want := fmt.Sprintf("(pid %d)", os.Getpid()); !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %q, want one line naming %s", err, want)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	// The lock goes with the broker; the .lock file left behind does not block a restart.
	b3, err := New(cfg())
	if err != nil {
		t.Fatalf("restart after Close: %v", err)
	}
	b3.Close()
}
