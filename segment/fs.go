package segment

import (
	"io"
	"io/fs"
	"os"
)

// FS is the filesystem seam of the log. OSFS is the default; segmenttest.MemFS is an
// in-memory filesystem on which only synced bytes and synced directory entries survive a
// simulated crash.
//
// Contract: names are slash or OS paths as produced by filepath.Join. A file's contents are
// durable once File.Sync returned nil; a created, removed or renamed directory entry is
// durable once SyncDir of its parent directory returned nil. Directories made by MkdirAll are
// durable when it returns.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	MkdirAll(path string, perm os.FileMode) error
	// ReadDir returns the entries of dir sorted by name.
	ReadDir(dir string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory entries of dir durable.
	SyncDir(dir string) error
}

// File is an open file of an FS. ReadAt may be called concurrently with Write/WriteAt of
// other ranges; ReadAt after Close returns an error (never panics).
type File interface {
	io.ReaderAt
	io.Writer
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Close() error
	Stat() (fs.FileInfo, error)
	Name() string
}

// OSFS is the operating system's filesystem. Its files are *os.File, so a ReadResult.File
// from a log on OSFS can be type-asserted to *os.File for sendfile.
type OSFS struct{}

var _ FS = OSFS{}
var _ File = (*os.File)(nil)

func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (OSFS) Remove(name string) error                     { return os.Remove(name) }
func (OSFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (OSFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (OSFS) ReadDir(dir string) ([]fs.DirEntry, error)    { return os.ReadDir(dir) }
func (OSFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
