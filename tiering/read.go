package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/strata-io/strata/internal/maxseq"
	"github.com/strata-io/strata/segment"
)

// Read returns whole batches from the one containing offset, up to
// maxBytes (the first batch whole when minOneBatch), from one remote segment. A read that
// reaches the end of a segment stops there; the caller asks again from the next offset.
// The bytes are a copy the caller owns; ReadRecords returns them without copying.
func (p *RemotePartition) Read(ctx context.Context, offset int64, maxBytes int, minOneBatch bool) ([]byte, error) {
	r, err := p.ReadRecords(ctx, offset, maxBytes, minOneBatch, ReadOptions{})
	if err != nil || r.Len() == 0 {
		return nil, err
	}
	return r.AppendTo(make([]byte, 0, r.Len())), nil
}

// ReadRecords is Read, with the batches left in the cached chunks they were read from
// (see Records). Every batch is checked before it is returned: its CRC-32C, and its header
// against the manifest entry (checkFrame: base offset continuity, lengths, the last
// offset). A damaged batch is an error wrapping segment.ErrCorrupt (the broker's
// KAFKA_STORAGE_ERROR); the checked batches before it are still returned, with a nil
// error, so the read that starts at the damaged batch is the one that fails. Corrupt and
// unreadable data is logged (at most once per readErrorLogEvery per partition). The read
// counts in the remote fetch metrics unless o.Uncounted; with o.ReadyOnly it returns what
// the cache holds once it has a batch.
func (p *RemotePartition) ReadRecords(ctx context.Context, offset int64, maxBytes int, minOneBatch bool, o ReadOptions) (Records, error) {
	st := p.state.Load()
	if offset < st.start || offset >= st.end || len(st.entries) == 0 {
		return Records{}, fmt.Errorf("remote %s-%d: offset %d outside [%d, %d): %w", p.topic, p.partition, offset, st.start, st.end, segment.ErrOffsetOutOfRange)
	}
	i := sort.Search(len(st.entries), func(i int) bool { return st.entries[i].LastOffset >= offset })
	if i == len(st.entries) {
		return Records{}, fmt.Errorf("remote %s-%d: offset %d beyond the last remote segment: %w", p.topic, p.partition, offset, segment.ErrOffsetOutOfRange)
	}
	out, err := p.readEntry(ctx, st, i, offset, maxBytes, minOneBatch, o)
	if err != nil {
		p.m.metrics.errors.WithLabelValues("fetch").Inc()
		p.logReadError(ctx, err)
		if out.Len() == 0 {
			return Records{}, err
		}
	}
	if !o.Uncounted {
		p.CountFetch(out.Len())
	}
	return out, nil
}

// readEntry reads from entry i. On a corrupt batch it returns the whole batches before it
// together with the error; on any other error, no batches.
func (p *RemotePartition) readEntry(ctx context.Context, st *remoteState, i int, offset int64, maxBytes int, minOneBatch bool, o ReadOptions) (Records, error) {
	ready := o.ReadyOnly
	e := &st.entries[i]
	pos, want := int64(0), e.BaseOffset // want: the base offset the batch at pos must have
	if offset > e.BaseOffset {
		idx, err := p.index(ctx, &e.Index)
		if err != nil {
			return Records{}, &ReadError{Key: e.Index.Key, Offset: offset, Err: err}
		}
		var rel int64
		pos, rel = indexLookup(idx, offset-e.BaseOffset)
		want = e.BaseOffset + rel
	}
	ra := p.startRead(ctx, st, i, offset, pos, maxBytes, o.Until) // readahead.go
	var out recordsBuilder
	next := offset
	fail := func(err error) (Records, error) {
		rerr := &ReadError{Key: e.Log.Key, Position: pos, Offset: want, Err: err}
		if !errors.Is(err, segment.ErrCorrupt) || len(out.r.Ends) == 0 {
			return Records{}, rerr
		}
		ra.done(next)
		out.r.Next = next
		return out.r, rerr
	}
	for pos < e.Size {
		if ready && out.size > 0 && !p.cached(e, pos, min(segment.BatchHeaderSize, e.Size-pos)) {
			break
		}
		hdr, err := p.readRange(ctx, e, pos, min(segment.BatchHeaderSize, e.Size-pos))
		if err != nil {
			return fail(err)
		}
		bh, err := parseBatchHeader(hdr)
		if err == nil {
			err = checkFrame(e, pos, bh, want)
		}
		if err != nil {
			return fail(err)
		}
		if bh.LastOffset() < offset || bh.LastOffset() < st.start {
			pos += bh.Size()
			want = bh.LastOffset() + 1
			continue
		}
		if int64(out.size)+bh.Size() > int64(maxBytes) && !(out.size == 0 && minOneBatch) {
			break
		}
		if ready && out.size > 0 && !p.cached(e, pos, bh.Size()) {
			break
		}
		if err := p.addBatch(ctx, &out, e, pos, bh.Size(), bh.CRC); err != nil {
			return fail(err)
		}
		out.endBatch()
		pos += bh.Size()
		next = bh.LastOffset() + 1
		want = next
	}
	if len(out.r.Ends) > 0 {
		out.r.Next = next
	}
	ra.done(next)
	ra.after(ctx, pos) // the read-ahead past the read
	return out.r, nil
}

// cached reports whether the n bytes of e's data object from off are all in cached chunks.
func (p *RemotePartition) cached(e *SegmentEntry, off, n int64) bool {
	cb := p.m.cfg.ChunkBytes
	for ci := off / cb; ci <= (off+n-1)/cb; ci++ {
		if !p.m.cache.HasChunk(e.Log.Key, ci) {
			return false
		}
	}
	return true
}

// addBatch adds the n bytes of the batch at off of e's data object to out as slices of
// the cached chunks that hold them, if the CRC-32C of the bytes the batch CRC covers (from
// segment.BatchCRCStart to its end) is crc; otherwise it adds nothing and returns an
// error wrapping segment.ErrCorrupt.
func (p *RemotePartition) addBatch(ctx context.Context, out *recordsBuilder, e *SegmentEntry, off, n int64, crc uint32) error {
	type part struct {
		c      []byte
		lo, hi int64
	}
	var buf [4]part // a batch rarely spans more chunks
	parts := buf[:0]
	cb := p.m.cfg.ChunkBytes
	first, last := off/cb, (off+n-1)/cb
	var got uint32
	skip := int64(segment.BatchCRCStart) // bytes before the CRC-covered part still to pass
	for ci := first; ci <= last; ci++ {
		c, err := p.chunk(ctx, e, ci)
		if err != nil {
			return err
		}
		lo, hi := int64(0), int64(len(c))
		if ci == first {
			lo = off - first*cb
		}
		if ci == last {
			hi = off + n - last*cb
		}
		if lo >= hi || hi > int64(len(c)) {
			return fmt.Errorf("%w: chunk %d has %d bytes", segment.ErrCorrupt, ci, len(c))
		}
		covered := c[lo:hi]
		d := min(skip, int64(len(covered)))
		skip -= d
		got = segment.UpdateBatchCRC(got, covered[d:])
		parts = append(parts, part{c, lo, hi})
	}
	if got != crc {
		return fmt.Errorf("%w: batch crc32c %08x, header says %08x", segment.ErrCorrupt, got, crc)
	}
	for _, pt := range parts {
		out.add(pt.c, pt.lo, pt.hi)
	}
	return nil
}

// FindTimestamp returns the first remote batch (at or above the remote
// log start) whose max timestamp is >= ts. It visits only the entries whose max timestamp
// reaches ts, in log order, and finds the first of them in time logarithmic in the number
// of entries (see timeSearch).
func (p *RemotePartition) FindTimestamp(ctx context.Context, ts int64) ([]byte, bool, error) {
	from := int64(math.MinInt64)
	for {
		st, e := p.entryReaching(from, ts)
		if e == nil {
			return nil, false, nil
		}
		b, found, err := p.findInEntry(ctx, st, e, ts)
		if err != nil {
			p.m.metrics.errors.WithLabelValues("fetch").Inc()
			p.logReadError(ctx, err)
			return nil, false, err
		}
		if found {
			return b, true, nil
		}
		from = e.LastOffset + 1 // its batches >= ts all lie below the remote log start
	}
}

// timeSearch is a tree of the max timestamps of one snapshot's entries (internal/maxseq):
// timestamps in a log need not rise, so the first entry reaching a timestamp is not found
// by a binary search over the entries themselves. It is moved to a new snapshot by visiting
// only the entries appended since, when the new snapshot extends the old one in place (an
// upload: see appendEntries); any other change (retention, a reload) rebuilds it.
type timeSearch struct {
	st  *remoteState // the snapshot described; st.entries[i] is at position seq.Start()+i
	seq maxseq.Seq
}

func (t *timeSearch) advance(st *remoteState) {
	old := t.st
	t.st = st
	if old != nil && len(old.entries) > 0 && len(st.entries) > 0 {
		// Same first element in memory: the old entries are a prefix of the new ones.
		if &old.entries[0] == &st.entries[0] && len(st.entries) >= len(old.entries) {
			for i := len(old.entries); i < len(st.entries); i++ {
				t.seq.Append(st.entries[i].MaxTimestamp)
			}
			return
		}
	}
	t.seq.Reset()
	for i := range st.entries {
		t.seq.Append(st.entries[i].MaxTimestamp)
	}
}

// entryReaching returns the newest snapshot and its first entry that holds an offset at or
// above max(from, its log start) and whose max timestamp is >= ts (nil if none).
func (p *RemotePartition) entryReaching(from, ts int64) (*remoteState, *SegmentEntry) {
	p.timeMu.Lock()
	defer p.timeMu.Unlock()
	t := &p.times
	st := p.state.Load()
	if t.st != st {
		t.advance(st)
	}
	from = max(from, st.start)
	i := sort.Search(len(st.entries), func(i int) bool { return st.entries[i].LastOffset >= from })
	k := t.seq.FirstAtLeast(t.seq.Start()+i, ts)
	if k < 0 {
		return st, nil
	}
	return st, &st.entries[k-t.seq.Start()]
}

func (p *RemotePartition) findInEntry(ctx context.Context, st *remoteState, e *SegmentEntry, ts int64) ([]byte, bool, error) {
	idx, err := p.index(ctx, &e.Index)
	if err != nil {
		return nil, false, err
	}
	tidx, err := p.index(ctx, &e.TimeIndex)
	if err != nil {
		return nil, false, err
	}
	pos, rel := timeIndexLookup(tidx, idx, ts)
	if pos < 0 {
		return nil, false, nil
	}
	want := e.BaseOffset + rel
	for pos < e.Size {
		hdr, err := p.readRange(ctx, e, pos, min(segment.BatchHeaderSize, e.Size-pos))
		if err != nil {
			return nil, false, &ReadError{Key: e.Log.Key, Position: pos, Offset: want, Err: err}
		}
		bh, err := parseBatchHeader(hdr)
		if err == nil {
			err = checkFrame(e, pos, bh, want)
		}
		if err != nil {
			return nil, false, &ReadError{Key: e.Log.Key, Position: pos, Offset: want, Err: err}
		}
		if bh.MaxTimestamp >= ts && bh.LastOffset() >= st.start {
			b, err := p.readRange(ctx, e, pos, bh.Size())
			if err != nil {
				return nil, false, &ReadError{Key: e.Log.Key, Position: pos, Offset: want, Err: err}
			}
			if got := segment.BatchCRC(b); got != bh.CRC {
				err := fmt.Errorf("%w: batch crc32c %08x, header says %08x", segment.ErrCorrupt, got, bh.CRC)
				return nil, false, &ReadError{Key: e.Log.Key, Position: pos, Offset: want, Err: err}
			}
			return append([]byte(nil), b...), true, nil
		}
		pos += bh.Size()
		want = bh.LastOffset() + 1
	}
	return nil, false, nil
}

// index returns a whole index object, cached; its CRC-32C is checked on load.
func (p *RemotePartition) index(ctx context.Context, ref *ObjectRef) ([]byte, error) {
	key, size, sum := ref.Key, ref.Size, ref.CRC32C
	return p.m.cache.Index(ctx, key, func(ctx context.Context) ([]byte, error) {
		b, err := p.getRange(ctx, key, 0, size)
		if err != nil {
			return nil, err
		}
		if got := crc32c(b); got != sum {
			return nil, fmt.Errorf("%w: remote index %q: crc32c %08x, manifest says %08x", segment.ErrCorrupt, key, got, sum)
		}
		if ref.SHA256 != "" && !p.m.cfg.SkipHashCheck && sha256Hex(b) != ref.SHA256 {
			p.m.metrics.integrity.WithLabelValues("index").Inc()
			return nil, fmt.Errorf("%w: remote index %q: sha256 differs from the manifest's", segment.ErrCorrupt, key)
		}
		return b, nil
	})
}

// readRange returns n bytes of e's data object from off, assembled from cached chunks. The
// result may alias the cache and must not be modified.
func (p *RemotePartition) readRange(ctx context.Context, e *SegmentEntry, off, n int64) ([]byte, error) {
	cb := p.m.cfg.ChunkBytes
	first, last := off/cb, (off+n-1)/cb
	if first == last {
		c, err := p.chunk(ctx, e, first)
		if err != nil {
			return nil, err
		}
		lo := off - first*cb
		if lo+n > int64(len(c)) {
			return nil, fmt.Errorf("%w: remote segment %q: chunk %d has %d bytes, need %d", segment.ErrCorrupt, e.Log.Key, first, len(c), lo+n)
		}
		return c[lo : lo+n], nil
	}
	return p.appendRange(ctx, make([]byte, 0, n), e, off, n)
}

// appendRange appends n bytes of e's data object from off to dst.
func (p *RemotePartition) appendRange(ctx context.Context, out []byte, e *SegmentEntry, off, n int64) ([]byte, error) {
	cb := p.m.cfg.ChunkBytes
	first, last := off/cb, (off+n-1)/cb
	for ci := first; ci <= last; ci++ {
		c, err := p.chunk(ctx, e, ci)
		if err != nil {
			return nil, err
		}
		lo, hi := int64(0), int64(len(c))
		if ci == first {
			lo = off - first*cb
		}
		if ci == last {
			hi = off + n - last*cb
		}
		if lo > hi || hi > int64(len(c)) {
			return nil, fmt.Errorf("%w: remote segment %q: chunk %d has %d bytes", segment.ErrCorrupt, e.Log.Key, ci, len(c))
		}
		out = append(out, c[lo:hi]...)
	}
	return out, nil
}

func (p *RemotePartition) chunk(ctx context.Context, e *SegmentEntry, idx int64) ([]byte, error) {
	if err := p.tamper.Load().refuse(e); err != nil {
		return nil, err
	}
	cb := p.m.cfg.ChunkBytes
	key, size := e.Log.Key, e.Size
	return p.m.cache.Chunk(ctx, key, idx, func(ctx context.Context) ([]byte, error) {
		b, err := p.getRange(ctx, key, idx*cb, min(cb, size-idx*cb))
		if err == nil {
			err = p.verifyChunk(ctx, e, idx*cb, b)
		}
		return b, err
	})
}

// getRange reads exactly n bytes of key from off.
func (p *RemotePartition) getRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	rc, err := p.m.store.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, fmt.Errorf("cannot get %q [%d, +%d): %w", key, off, n, err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("cannot read %q [%d, +%d): %w", key, off, n, err)
	}
	return b, nil
}
