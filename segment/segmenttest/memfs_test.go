package segmenttest

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

func TestMemFSCrash(t *testing.T) {
	m := NewMemFS()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(m *MemFS, name, data string, sync bool) {
		t.Helper()
		f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		if _, err := f.WriteAt([]byte(data), st.Size()); err != nil {
			t.Fatal(err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
	write(m, "/d/synced", "abc", true)
	write(m, "/d/unsynced", "xyz", false)
	m.SyncDir("/d")
	write(m, "/d/synced", "def", false)   // unsynced append is lost
	write(m, "/d/new", "new", true)       // synced data, but the entry is not
	m.Rename("/d/unsynced", "/d/renamed") // the rename is not synced
	f, _ := m.OpenFile("/d/synced", os.O_RDONLY, 0)
	c := m.Crash()
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("old handle after crash: %v", err)
	}
	if _, err := m.Stat("/d/synced"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("old fs after crash: %v", err)
	}
	f = nil
	check := func(name, want string) {
		t.Helper()
		b, err := c.ReadFile(name)
		if want == "" {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s: %q %v, want missing", name, b, err)
			}
			return
		}
		if string(b) != want {
			t.Fatalf("%s: %q %v, want %q", name, b, err, want)
		}
	}
	check("/d/synced", "abc")
	check("/d/new", "")
	check("/d/renamed", "")
	// Its entry was synced under the old name, its bytes never were.
	if b, err := c.ReadFile("/d/unsynced"); err != nil || len(b) != 0 {
		t.Fatalf("unsynced: %q %v, want an empty file", b, err)
	}
}

func TestMemFSFault(t *testing.T) {
	m := NewMemFS()
	boom := errors.New("boom")
	m.SetFault(func(op, name string) error {
		if op == "sync" {
			return boom
		}
		return nil
	})
	f, err := m.OpenFile("/x", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); !errors.Is(err, boom) {
		t.Fatalf("sync: %v", err)
	}
	f.Close()
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}
