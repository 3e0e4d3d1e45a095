// Package segmenttest provides test helpers for package segment: a crashable in-memory
// filesystem on which only synced data survives a simulated crash.
package segmenttest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/strata-io/strata/segment"
)

// ErrCrashed is returned by every operation on a MemFS (and its files) after Crash.
var ErrCrashed = errors.New("segmenttest: filesystem crashed")

// MemFS is an in-memory segment.FS with crash semantics: a file's contents survive Crash
// only as of its last Sync, and a directory entry (create, remove, rename) survives only if
// SyncDir of its directory ran after the change. Directories themselves are durable once
// made. Safe for concurrent use.
type MemFS struct {
	mu      sync.Mutex
	dirs    map[string]*memDir
	crashed bool
	fault   func(op, name string) error
	syncs   map[string]int
}

type memDir struct {
	entries map[string]*memNode // current
	synced  map[string]*memNode // as of the last SyncDir
}

type memNode struct {
	data    []byte
	synced  []byte
	modTime time.Time
}

var _ segment.FS = (*MemFS)(nil)

// NewMemFS returns an empty filesystem with a root directory "/".
func NewMemFS() *MemFS {
	m := &MemFS{dirs: map[string]*memDir{}, syncs: map[string]int{}}
	m.mkdirLocked("/")
	return m
}

func (m *MemFS) mkdirLocked(dir string) {
	if m.dirs[dir] == nil {
		m.dirs[dir] = &memDir{entries: map[string]*memNode{}, synced: map[string]*memNode{}}
	}
}

// SetFault installs f, called before every operation with its name ("open", "write",
// "sync", "truncate", "rename", "remove", "syncdir", "read") and path; a non-nil result
// fails the operation. nil removes the hook.
func (m *MemFS) SetFault(f func(op, name string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fault = f
}

// SyncCount returns how many times files whose name ends in suffix were fsynced.
func (m *MemFS) SyncCount(suffix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for name, c := range m.syncs {
		if len(name) >= len(suffix) && name[len(name)-len(suffix):] == suffix {
			n += c
		}
	}
	return n
}

// Crash returns a new filesystem holding only what was durable in m; m and all its open
// files fail every later operation with ErrCrashed.
func (m *MemFS) Crash() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
	c := &MemFS{dirs: map[string]*memDir{}, syncs: map[string]int{}}
	for path, d := range m.dirs {
		nd := &memDir{entries: map[string]*memNode{}, synced: map[string]*memNode{}}
		for name, n := range d.synced {
			nn := &memNode{data: slices.Clone(n.synced), synced: slices.Clone(n.synced), modTime: n.modTime}
			nd.entries[name] = nn
			nd.synced[name] = nn
		}
		c.dirs[path] = nd
	}
	return c
}

func split(name string) (dir, base string) {
	name = filepath.Clean(name)
	if !filepath.IsAbs(name) {
		name = filepath.Join("/", name)
	}
	return filepath.Dir(name), filepath.Base(name)
}

func clean(name string) string {
	name = filepath.Clean(name)
	if !filepath.IsAbs(name) {
		name = filepath.Join("/", name)
	}
	return name
}

func (m *MemFS) checkLocked(op, name string) error {
	if m.crashed {
		return &fs.PathError{Op: op, Path: name, Err: ErrCrashed}
	}
	if m.fault != nil {
		if err := m.fault(op, name); err != nil {
			return &fs.PathError{Op: op, Path: name, Err: err}
		}
	}
	return nil
}

func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (segment.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked("open", name); err != nil {
		return nil, err
	}
	dir, base := split(name)
	d := m.dirs[dir]
	if d == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if m.dirs[clean(name)] != nil {
		if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
		}
		return &memFile{fs: m, name: name, dir: true}, nil
	}
	n := d.entries[base]
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case n != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case n == nil:
		n = &memNode{modTime: time.Now()}
		d.entries[base] = n
	}
	if flag&os.O_TRUNC != 0 {
		n.data = n.data[:0:0]
		n.modTime = time.Now()
	}
	return &memFile{fs: m, node: n, name: name, flag: flag}, nil
}

func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked("remove", name); err != nil {
		return err
	}
	if d := m.dirs[clean(name)]; d != nil {
		if len(d.entries) > 0 {
			return &fs.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
		}
		delete(m.dirs, clean(name))
		return nil
	}
	dir, base := split(name)
	d := m.dirs[dir]
	if d == nil || d.entries[base] == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(d.entries, base)
	return nil
}

func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked("rename", oldname); err != nil {
		return err
	}
	od, ob := split(oldname)
	nd, nb := split(newname)
	if m.dirs[od] == nil || m.dirs[od].entries[ob] == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if m.dirs[nd] == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	n := m.dirs[od].entries[ob]
	delete(m.dirs[od].entries, ob)
	m.dirs[nd].entries[nb] = n
	return nil
}

func (m *MemFS) MkdirAll(path string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked("mkdir", path); err != nil {
		return err
	}
	for p := clean(path); ; p = filepath.Dir(p) {
		m.mkdirLocked(p)
		if p == "/" || p == "." {
			return nil
		}
	}
}

func (m *MemFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked("readdir", dir); err != nil {
		return nil, err
	}
	d := m.dirs[clean(dir)]
	if d == nil {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	var out []fs.DirEntry
	for name, n := range d.entries {
		out = append(out, fs.FileInfoToDirEntry(memInfo{name: name, size: int64(len(n.data)), mod: n.modTime}))
	}
	for p := range m.dirs {
		if p != clean(dir) && filepath.Dir(p) == clean(dir) {
			out = append(out, fs.FileInfoToDirEntry(memInfo{name: filepath.Base(p), dir: true}))
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})
	return out, nil
}

func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked("stat", name); err != nil {
		return nil, err
	}
	if m.dirs[clean(name)] != nil {
		return memInfo{name: filepath.Base(clean(name)), dir: true}, nil
	}
	dir, base := split(name)
	d := m.dirs[dir]
	if d == nil || d.entries[base] == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	n := d.entries[base]
	return memInfo{name: base, size: int64(len(n.data)), mod: n.modTime}, nil
}

func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked("syncdir", dir); err != nil {
		return err
	}
	d := m.dirs[clean(dir)]
	if d == nil {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: fs.ErrNotExist}
	}
	d.synced = make(map[string]*memNode, len(d.entries))
	for k, v := range d.entries {
		d.synced[k] = v
	}
	return nil
}

// ReadFile returns the current contents of name (for tests that corrupt files).
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base := split(name)
	if d := m.dirs[dir]; d != nil && d.entries[base] != nil {
		return slices.Clone(d.entries[base].data), nil
	}
	return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
}

// WriteFile replaces the contents of name, durably (for tests that corrupt files).
func (m *MemFS) WriteFile(name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base := split(name)
	d := m.dirs[dir]
	if d == nil {
		return &fs.PathError{Op: "write", Path: name, Err: fs.ErrNotExist}
	}
	n := d.entries[base]
	if n == nil {
		n = &memNode{}
		d.entries[base] = n
		d.synced[base] = n
	}
	n.data, n.synced, n.modTime = slices.Clone(data), slices.Clone(data), time.Now()
	return nil
}

type memInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	flag   int
	dir    bool
	closed bool
	off    int64
}

func (f *memFile) checkLocked(op string) error {
	if f.closed {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	return f.fs.checkLocked(op, f.name)
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("read"); err != nil {
		return 0, err
	}
	if f.dir {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("is a directory")}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("negative offset")}
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	off := f.off
	if f.flag&os.O_APPEND != 0 && f.node != nil {
		off = int64(len(f.node.data))
	}
	n, err := f.writeAtLocked(p, off)
	f.off = off + int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.writeAtLocked(p, off)
}

func (f *memFile) writeAtLocked(p []byte, off int64) (int, error) {
	if err := f.checkLocked("write"); err != nil {
		return 0, err
	}
	if f.dir || f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrPermission}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: errors.New("negative offset")}
	}
	end := off + int64(len(p))
	if end > int64(len(f.node.data)) {
		if end > int64(cap(f.node.data)) {
			nd := make([]byte, end, max(end, 2*int64(cap(f.node.data))))
			copy(nd, f.node.data)
			f.node.data = nd
		} else {
			f.node.data = f.node.data[:end]
		}
	}
	copy(f.node.data[off:], p)
	f.node.modTime = time.Now()
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("sync"); err != nil {
		return err
	}
	f.fs.syncs[f.name]++
	if f.dir {
		return nil
	}
	f.node.synced = slices.Clone(f.node.data)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("truncate"); err != nil {
		return err
	}
	if f.dir || f.flag&(os.O_WRONLY|os.O_RDWR) == 0 || size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	if size <= int64(len(f.node.data)) {
		f.node.data = f.node.data[:size]
	} else {
		f.node.data = append(f.node.data, make([]byte, size-int64(len(f.node.data)))...)
	}
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked("stat"); err != nil {
		return nil, err
	}
	if f.dir {
		return memInfo{name: filepath.Base(f.name), dir: true}, nil
	}
	return memInfo{name: filepath.Base(f.name), size: int64(len(f.node.data)), mod: f.node.modTime}, nil
}

// String describes the filesystem (for test failure messages).
func (m *MemFS) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("MemFS(%d dirs, crashed=%v)", len(m.dirs), m.crashed)
}
