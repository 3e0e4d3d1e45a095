package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	logStartFile    = "log-start-offset"
	cleanMarkerFile = "clean-shutdown"
	checkpointV0    = "0"
)

func joinPath(dir, name string) string { return filepath.Join(dir, name) }

// writeFileAtomic writes data to dir/name via dir/name.tmp: write, fsync, rename, fsync dir.
// A crash leaves either the old file or the new one, never a mix.
func writeFileAtomic(fsys FS, dir, name string, data []byte) error {
	path := joinPath(dir, name)
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("segment: cannot create %q: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("segment: cannot write %q: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return markSync(fmt.Errorf("segment: cannot fsync %q: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("segment: cannot close %q: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("segment: cannot rename %q: %w", tmp, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return markSync(fmt.Errorf("segment: cannot sync directory %q: %w", dir, err))
	}
	return nil
}

// writeLogStart persists the log start offset checkpoint.
func writeLogStart(fsys FS, dir string, offset int64) error {
	return writeFileAtomic(fsys, dir, logStartFile, []byte(checkpointV0+"\n"+strconv.FormatInt(offset, 10)+"\n"))
}

// readLogStart reads the checkpoint; found=false if there is none.
func readLogStart(fsys FS, dir string) (offset int64, found bool, err error) {
	b, err := readWholeFile(fsys, joinPath(dir, logStartFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("segment: cannot read %q: %w", logStartFile, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || lines[0] != checkpointV0 {
		return 0, false, fmt.Errorf("segment: malformed %q in %q: %w", logStartFile, dir, ErrCorrupt)
	}
	offset, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || offset < 0 {
		return 0, false, fmt.Errorf("segment: malformed %q in %q: %w", logStartFile, dir, ErrCorrupt)
	}
	return offset, true, nil
}
