package broker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// lockFileName is the data directory's lock, as Kafka's <log.dirs>/.lock: a broker holds an
// exclusive flock(2) on it for as long as it runs, so that a second broker (or an offline
// tool that writes the directory) started on the same directory refuses to start instead of
// appending to the same partition files. The file holds the holder's pid, for the error
// message only; the lock, not the file's existence, is what counts, so a file left behind by
// a killed broker never blocks a restart.
const lockFileName = ".lock"

// ErrDataDirLocked is returned (wrapped) by LockDataDir and New when another process holds
// the data directory's lock.
var ErrDataDirLocked = errors.New("data directory in use")

// DataDirLock is a held lock on a data directory; Release it when done.
type DataDirLock struct {
	f *os.File
}

// LockDataDir takes the exclusive lock of dir (creating dir and its .lock file as needed)
// without waiting. When another process holds it, the error wraps ErrDataDirLocked and names
// that process's pid when it can be read.
func LockDataDir(dir string) (*DataDirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data dir %q: %w", dir, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open lock file %q: %w", path, err)
	}
	held, err := tryLockFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %q: %w", path, err)
	}
	if !held {
		holder := "another process"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil && pid > 0 {
				holder = fmt.Sprintf("another strata process (pid %d)", pid)
			}
		}
		f.Close()
		return nil, fmt.Errorf("%w: %q is locked by %s; stop it first or use another log.dirs", ErrDataDirLocked, dir, holder)
	}
	// Record our pid for the message above; a failure here does not weaken the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DataDirLock{f: f}, nil
}

// Release unlocks the directory. It is safe to call on a nil lock and more than once.
func (l *DataDirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}
