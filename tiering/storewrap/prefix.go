package storewrap

import (
	"context"
	"io"
	"strings"

	"github.com/strata-io/strata/tiering"
)

// Prefix returns a view of s in which every key is stored under prefix: Put("k") writes
// prefix+"/k", and List returns keys with the prefix removed. Slashes around prefix are
// trimmed; an empty prefix returns s itself.
func Prefix(s tiering.ObjectStore, prefix string) tiering.ObjectStore {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return s
	}
	p := &prefixed{s: s, prefix: prefix + "/"}
	return withCaps(p, s, func(cp tiering.ConditionalPutter) tiering.ConditionalPutter {
		return prefixedCond{p: p, cp: cp}
	}, func(rp tiering.RetainingPutter) tiering.RetainingPutter {
		return prefixedRetain{p: p, rp: rp}
	})
}

type prefixedRetain struct {
	p  *prefixed
	rp tiering.RetainingPutter
}

func (c prefixedRetain) PutRetained(ctx context.Context, key string, r io.Reader, size int64, lock tiering.ObjectLock) error {
	return c.rp.PutRetained(ctx, c.p.prefix+key, r, size, lock)
}

type prefixed struct {
	s      tiering.ObjectStore
	prefix string
}

func (p *prefixed) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return p.s.Put(ctx, p.prefix+key, r, size)
}

func (p *prefixed) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	return p.s.GetRange(ctx, p.prefix+key, off, length)
}

func (p *prefixed) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	oi, err := p.s.Stat(ctx, p.prefix+key)
	oi.Key = strings.TrimPrefix(oi.Key, p.prefix)
	return oi, err
}

func (p *prefixed) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	return p.s.List(ctx, p.prefix+prefix, func(oi tiering.ObjectInfo) error {
		oi.Key = strings.TrimPrefix(oi.Key, p.prefix)
		return fn(oi)
	})
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	return p.s.Delete(ctx, p.prefix+key)
}

type prefixedCond struct {
	p  *prefixed
	cp tiering.ConditionalPutter
}

func (c prefixedCond) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	return c.cp.PutIf(ctx, c.p.prefix+key, r, size, ifMatch)
}
