// Package fsstore is a tiering.ObjectStore on a local directory: the embedded default used
// when no bucket is configured, and a convenient target for tests.
//
// Layout: the object with key "a/b/c.log" is the regular file <root>/a/b/c.log, so an
// operator can browse the tier with ls. Keys are '/'-separated; a key may not be empty,
// start or end with '/', contain an empty, "." or ".." element, contain a NUL byte, or have
// an element that starts with ".strata-tmp-" (reserved for in-flight writes). Because a path
// cannot be a file and a directory at once, the store cannot hold both "a" and "a/b"; a Put
// that would need that fails.
//
// Writes are atomic and durable: Put writes a temporary file in the destination directory,
// fsyncs it, renames it over the key and fsyncs the directory, so readers see the old object
// or the new one, never a prefix, and a crash leaves at worst a stray temporary file (which
// List ignores and a later Put never reuses). Delete removes the file and then any emptied
// parent directories, best-effort.
//
// ETags are derived from the file's inode, modification time and size: every Put renames a
// new inode into place, so the ETag changes on every write. ConditionalPutter is exact within
// one process (per-key locks serialize the check and the rename); processes sharing a
// directory are not fenced against each other.
package fsstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/strata-io/strata/tiering"
)

var (
	_ tiering.ObjectStore       = (*Store)(nil)
	_ tiering.ConditionalPutter = (*Store)(nil)
)

// tmpPrefix starts the name of every in-flight write; keys may not use it.
const tmpPrefix = ".strata-tmp-"

// ErrInvalidKey is returned for a key the store cannot map to a path.
var ErrInvalidKey = errors.New("fsstore: invalid key")

const lockStripes = 64

// Store is an object store rooted at a directory.
type Store struct {
	root  string
	seed  maphash.Seed
	locks [lockStripes]sync.Mutex // per-key: the ETag check and rename of PutIf, Put's rename, Delete
	// dirMu: creating a directory chain and a file in it (shared) against removing emptied
	// directories (exclusive). Lock order: a key lock, then dirMu.
	dirMu sync.RWMutex
}

// New returns a store rooted at dir, creating the directory if needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fsstore: cannot resolve %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("fsstore: cannot create %q: %w", abs, err)
	}
	return &Store{root: abs, seed: maphash.MakeSeed()}, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) lock(key string) *sync.Mutex {
	return &s.locks[maphash.String(s.seed, key)%lockStripes]
}

func validKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" || el == "." || el == ".." || strings.HasPrefix(el, tmpPrefix) {
			return fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	return nil
}

func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Put implements tiering.ObjectStore.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	_, err := s.put(ctx, key, r, size, nil)
	return err
}

// PutIf implements tiering.ConditionalPutter.
func (s *Store) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	return s.put(ctx, key, r, size, &ifMatch)
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, ifMatch *string) (etag string, err error) {
	if err := validKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("fsstore: cannot put %q: %w", key, err)
	}
	if size < 0 {
		return "", fmt.Errorf("fsstore: cannot put %q: negative size %d", key, size)
	}
	dst := s.path(key)
	dir := filepath.Dir(dst)
	f, err := s.createTemp(dir)
	if err != nil {
		return "", fmt.Errorf("fsstore: cannot put %q: %w", key, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			s.removeEmptyParents(dir)
		}
	}()
	if err := copyExact(ctx, f, r, size); err != nil {
		return "", fmt.Errorf("fsstore: cannot put %q: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("fsstore: cannot sync %q: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("fsstore: cannot close %q: %w", tmp, err)
	}
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("fsstore: cannot put %q: %w", key, err)
	}
	if ifMatch != nil {
		cur, err := statPath(dst)
		switch {
		case errors.Is(err, tiering.ErrNotExist):
			if *ifMatch != "" {
				return "", fmt.Errorf("fsstore: put %q if-match %q: missing: %w", key, *ifMatch, tiering.ErrPreconditionFailed)
			}
		case err != nil:
			return "", fmt.Errorf("fsstore: cannot put %q: %w", key, err)
		case *ifMatch == "":
			return "", fmt.Errorf("fsstore: put %q: key exists: %w", key, tiering.ErrPreconditionFailed)
		case cur.ETag != *ifMatch:
			return "", fmt.Errorf("fsstore: put %q if-match %q: %w", key, *ifMatch, tiering.ErrPreconditionFailed)
		}
	}
	if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
		return "", fmt.Errorf("fsstore: cannot put %q: a directory of other keys has that path", key)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("fsstore: cannot put %q: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("fsstore: cannot put %q: %w", key, err)
	}
	if ifMatch == nil {
		return "", nil
	}
	oi, err := statPath(dst)
	if err != nil {
		return "", fmt.Errorf("fsstore: cannot stat %q after put: %w", key, err)
	}
	return oi.ETag, nil
}

// createTemp creates a temporary file in dir, creating dir (and syncing the parents of the
// directories it creates). dirMu keeps Delete from removing an emptied directory between
// the two steps; once the temporary file exists the directory is not empty.
func (s *Store) createTemp(dir string) (*os.File, error) {
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	if err := s.mkdirAll(dir); err != nil {
		return nil, err
	}
	return os.CreateTemp(dir, tmpPrefix+"*")
}

func (s *Store) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	var created []string
	for d := dir; d != s.root && len(d) > len(s.root); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync directory %q: %w", dir, err)
	}
	return nil
}

// removeEmptyParents removes dir and its ancestors below the root while they are empty.
func (s *Store) removeEmptyParents(dir string) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	for d := dir; d != s.root && len(d) > len(s.root); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			return
		}
	}
}

// copyExact copies exactly size bytes from r to w and fails if r holds more or fewer.
func copyExact(ctx context.Context, w io.Writer, r io.Reader, size int64) error {
	buf := make([]byte, 256<<10)
	var n int64
	for n < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := buf
		if rest := size - n; rest < int64(len(chunk)) {
			chunk = chunk[:rest]
		}
		m, err := r.Read(chunk)
		if m > 0 {
			if _, werr := w.Write(chunk[:m]); werr != nil {
				return werr
			}
			n += int64(m)
		}
		if err == io.EOF {
			if n < size {
				return fmt.Errorf("reader ended after %d of %d bytes", n, size)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
	}
	var one [1]byte
	for {
		m, err := r.Read(one[:])
		if m > 0 {
			return fmt.Errorf("reader holds more than %d bytes", size)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
	}
}

// GetRange implements tiering.ObjectStore.
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fsstore: cannot get %q: %w", key, err)
	}
	if validKey(key) != nil {
		return nil, fmt.Errorf("fsstore: get %q: %w", key, tiering.ErrNotExist)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("fsstore: get %q: %w", key, tiering.ErrNotExist)
		}
		return nil, fmt.Errorf("fsstore: cannot get %q: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fsstore: cannot stat %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("fsstore: get %q: %w", key, tiering.ErrNotExist)
	}
	size := fi.Size()
	if off < 0 || off > size {
		f.Close()
		return nil, fmt.Errorf("fsstore: cannot get %q: offset %d outside object of %d bytes", key, off, size)
	}
	n := size - off
	if length >= 0 && length < n {
		n = length
	}
	return &rangeReader{ctx: ctx, f: f, r: io.NewSectionReader(f, off, n)}, nil
}

type rangeReader struct {
	ctx context.Context
	f   *os.File
	r   io.Reader
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *rangeReader) Close() error { return r.f.Close() }

// Stat implements tiering.ObjectStore.
func (s *Store) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return tiering.ObjectInfo{}, fmt.Errorf("fsstore: cannot stat %q: %w", key, err)
	}
	if validKey(key) != nil {
		return tiering.ObjectInfo{}, fmt.Errorf("fsstore: stat %q: %w", key, tiering.ErrNotExist)
	}
	oi, err := statPath(s.path(key))
	if err != nil {
		return tiering.ObjectInfo{}, fmt.Errorf("fsstore: stat %q: %w", key, err)
	}
	oi.Key = key
	return oi, nil
}

func statPath(p string) (tiering.ObjectInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		if isNotExist(err) {
			return tiering.ObjectInfo{}, tiering.ErrNotExist
		}
		return tiering.ObjectInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		return tiering.ObjectInfo{}, tiering.ErrNotExist
	}
	return infoOf(fi), nil
}

func infoOf(fi fs.FileInfo) tiering.ObjectInfo {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return tiering.ObjectInfo{
		Size:         fi.Size(),
		LastModified: fi.ModTime(),
		ETag:         fmt.Sprintf(`"%x-%x-%x"`, ino, fi.ModTime().UnixNano(), fi.Size()),
	}
}

// isNotExist reports errors that mean "no such object": a missing path or a path through a
// regular file ("a/b" when "a" is an object).
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// List implements tiering.ObjectStore. It walks only the directories that can hold keys with
// the prefix, visiting entries in key order (a directory "d" sorts as "d/").
func (s *Store) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsstore: cannot list %q: %w", prefix, err)
	}
	// Start at the deepest directory that the prefix names completely.
	start := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i+1]
	}
	err := s.walk(ctx, start, prefix, fn)
	if err != nil && isNotExist(err) && !errors.Is(err, tiering.ErrNotExist) {
		return nil // the start directory does not exist: nothing to list
	}
	return err
}

// walk lists directory dirKey ("" or ending in '/').
func (s *Store) walk(ctx context.Context, dirKey, prefix string, fn func(tiering.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsstore: cannot list %q: %w", prefix, err)
	}
	entries, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(dirKey)))
	if err != nil {
		if isNotExist(err) {
			return nil // removed concurrently, or never there
		}
		return fmt.Errorf("fsstore: cannot list %q: %w", prefix, err)
	}
	type entry struct {
		key string
		dir bool
		de  fs.DirEntry
	}
	list := make([]entry, 0, len(entries))
	for _, de := range entries {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		k := dirKey + name
		if de.IsDir() {
			k += "/"
			// Descend only where keys with the prefix can live.
			if !strings.HasPrefix(k, prefix) && !strings.HasPrefix(prefix, k) {
				continue
			}
			list = append(list, entry{k, true, de})
			continue
		}
		if de.Type().IsRegular() && strings.HasPrefix(k, prefix) {
			list = append(list, entry{k, false, de})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	for _, e := range list {
		if e.dir {
			if err := s.walk(ctx, e.key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		fi, err := e.de.Info()
		if err != nil {
			if isNotExist(err) {
				continue // deleted since ReadDir
			}
			return fmt.Errorf("fsstore: cannot list %q: %w", prefix, err)
		}
		oi := infoOf(fi)
		oi.Key = e.key
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("fsstore: cannot list %q: %w", prefix, err)
		}
		if err := fn(oi); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements tiering.ObjectStore.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fsstore: cannot delete %q: %w", key, err)
	}
	if validKey(key) != nil {
		return nil // no such object can exist
	}
	p := s.path(key)
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	fi, err := os.Lstat(p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("fsstore: cannot delete %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a directory of other keys, not an object
	}
	if err := os.Remove(p); err != nil && !isNotExist(err) {
		return fmt.Errorf("fsstore: cannot delete %q: %w", key, err)
	}
	dir := filepath.Dir(p)
	if err := syncDir(dir); err != nil && !isNotExist(err) {
		return fmt.Errorf("fsstore: cannot delete %q: %w", key, err)
	}
	s.removeEmptyParents(dir)
	return nil
}
