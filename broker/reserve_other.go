//go:build !linux

package broker

import (
	"errors"
	"os"
)

// allocate is not available here: the reserve is written out (errors.ErrUnsupported).
func allocate(*os.File, int64) error { return errors.ErrUnsupported }
