//go:build unix

package broker

import (
	"math"
	"syscall"
)

// openFileLimit returns the soft RLIMIT_NOFILE, or 0 if it cannot be read.
func openFileLimit() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur > math.MaxInt32 {
		return math.MaxInt32 // RLIM_INFINITY
	}
	return int64(rl.Cur)
}
