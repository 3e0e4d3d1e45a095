//go:build unix

package segment

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// readTailOS is readTail on the OS filesystem with plain system calls (open, fstat, pread,
// close): Open reads two index tails per sealed segment, and os.File's bookkeeping (an
// extra fstat and fcntl per open, a finalizer) was a third of that cost.
func readTailOS(path string, entrySize int64) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR { // as os.Open does
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Size%entrySize != 0 {
		return nil, fmt.Errorf("segment: index %q has a partial entry: %w", path, ErrCorrupt)
	}
	if st.Size == 0 {
		return nil, nil
	}
	b := make([]byte, entrySize)
	n, err := syscall.Pread(fd, b, st.Size-entrySize)
	for err == syscall.EINTR {
		n, err = syscall.Pread(fd, b, st.Size-entrySize)
	}
	if err != nil {
		return nil, &os.PathError{Op: "pread", Path: path, Err: err}
	}
	if n != len(b) {
		return nil, fmt.Errorf("segment: read tail of %q: %w", path, io.ErrUnexpectedEOF)
	}
	return b, nil
}
