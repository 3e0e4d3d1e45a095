package segment

import (
	"errors"
	"fmt"
	"io/fs"
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

// writeFileAtomic writes data to dir/name with WriteFileAtomic.
func writeFileAtomic(fsys FS, dir, name string, data []byte) error {
	if err := WriteFileAtomic(fsys, joinPath(dir, name), data, 0o644); err != nil {
		return fmt.Errorf("segment: %w", err)
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
