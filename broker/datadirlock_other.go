//go:build !unix

package broker

import "os"

// tryLockFile does not lock on systems without flock: the data directory is unprotected.
func tryLockFile(*os.File) (bool, error) { return true, nil }
