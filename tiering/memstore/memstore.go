// Package memstore is an in-memory tiering.ObjectStore for unit tests. It also implements
// tiering.ConditionalPutter: every successful write gets a new ETag (a store-wide counter),
// so a writer holding an old ETag is fenced even if the new content is byte-identical.
//
// Objects are immutable byte slices replaced wholesale by Put, so readers keep a consistent
// view of the version they opened while a concurrent Put installs the next one.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-io/strata/tiering"
)

var (
	_ tiering.ObjectStore       = (*Store)(nil)
	_ tiering.ConditionalPutter = (*Store)(nil)
)

type object struct {
	data    []byte
	modTime time.Time
	etag    string
}

// Store is an in-memory object store. The zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	objects map[string]object
	gen     uint64
	now     func() time.Time
}

// New returns an empty store.
func New() *Store {
	return &Store{objects: make(map[string]object), now: time.Now}
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

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, ifMatch *string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("memstore: put %q: %w", key, err)
	}
	if key == "" {
		return "", fmt.Errorf("memstore: put: empty key")
	}
	data, err := readExact(ctx, r, size)
	if err != nil {
		return "", fmt.Errorf("memstore: put %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("memstore: put %q: %w", key, err)
	}
	if ifMatch != nil {
		cur, exists := s.objects[key]
		switch {
		case *ifMatch == "" && exists:
			return "", fmt.Errorf("memstore: put %q: key exists: %w", key, tiering.ErrPreconditionFailed)
		case *ifMatch != "" && (!exists || cur.etag != *ifMatch):
			return "", fmt.Errorf("memstore: put %q if-match %q: %w", key, *ifMatch, tiering.ErrPreconditionFailed)
		}
	}
	s.gen++
	etag := `"` + strconv.FormatUint(s.gen, 16) + `"`
	s.objects[key] = object{data: data, modTime: s.now(), etag: etag}
	return etag, nil
}

// GetRange implements tiering.ObjectStore.
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: get %q: %w", key, err)
	}
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("memstore: get %q: %w", key, tiering.ErrNotExist)
	}
	size := int64(len(o.data))
	if off < 0 || off > size {
		return nil, fmt.Errorf("memstore: get %q: offset %d outside object of %d bytes", key, off, size)
	}
	end := size
	if length >= 0 && off+length < size {
		end = off + length
	}
	return io.NopCloser(bytes.NewReader(o.data[off:end])), nil
}

// Stat implements tiering.ObjectStore.
func (s *Store) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return tiering.ObjectInfo{}, fmt.Errorf("memstore: stat %q: %w", key, err)
	}
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return tiering.ObjectInfo{}, fmt.Errorf("memstore: stat %q: %w", key, tiering.ErrNotExist)
	}
	return info(key, o), nil
}

// List implements tiering.ObjectStore. fn runs without the store's lock held, on a snapshot
// taken when List starts, so fn may call back into the store.
func (s *Store) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: list %q: %w", prefix, err)
	}
	s.mu.RLock()
	infos := make([]tiering.ObjectInfo, 0)
	for k, o := range s.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, info(k, o))
		}
	}
	s.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, oi := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memstore: list %q: %w", prefix, err)
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
		return fmt.Errorf("memstore: delete %q: %w", key, err)
	}
	s.mu.Lock()
	delete(s.objects, key)
	s.mu.Unlock()
	return nil
}

// Len returns the number of stored objects.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.objects)
}

// Bytes returns a copy of key's content, or nil and false when it does not exist. It is a
// test convenience that bypasses ctx and ranges.
func (s *Store) Bytes(key string) ([]byte, bool) {
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return bytes.Clone(o.data), true
}

func info(key string, o object) tiering.ObjectInfo {
	return tiering.ObjectInfo{Key: key, Size: int64(len(o.data)), LastModified: o.modTime, ETag: o.etag}
}

// errSizeMismatch reports a reader that yielded more or fewer bytes than declared.
var errSizeMismatch = errors.New("memstore: reader length differs from declared size")

// readExact reads exactly size bytes from r and checks that r has nothing more.
func readExact(ctx context.Context, r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative size %d", size)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(ctxReader{ctx, r}, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: short read of %d bytes: %w", errSizeMismatch, size, err)
		}
		return nil, err
	}
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n > 0 {
			return nil, fmt.Errorf("%w: more than %d bytes", errSizeMismatch, size)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
