package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data through path+".tmp" on fsys: create the
// temporary file with perm, write, fsync, rename over path, fsync the directory. A
// crash at any instant leaves the old file or the new one, never a mix or a prefix, and
// once it returns nil the new contents survive a crash. A stale temporary file from an
// earlier crash is removed first, so perm applies even when it existed. A failed fsync
// is marked (see NoSpace): only a failed write for want of space can be retried. Every metadata
// file of the broker goes through this one routine, so the crash tests on
// segmenttest.MemFS cover all of them.
func WriteFileAtomic(fsys FS, path string, data []byte, perm os.FileMode) error {
	tmp := path + tmpSuffix
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot remove stale %q: %w", tmp, err)
	}
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("cannot create %q: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %q: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return markSync(fmt.Errorf("cannot fsync %q: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close %q: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("cannot rename %q: %w", tmp, err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return markSync(fmt.Errorf("cannot sync the directory of %q: %w", path, err))
	}
	return nil
}

// ReadFile reads the whole file name of fsys.
func ReadFile(fsys FS, name string) ([]byte, error) { return readWholeFile(fsys, name) }
