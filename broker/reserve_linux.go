package broker

import (
	"errors"
	"os"
	"syscall"
)

// allocate gives f size bytes of disk blocks (fallocate); errors.ErrUnsupported when the
// filesystem cannot.
func allocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return errors.ErrUnsupported
	}
	return err
}
