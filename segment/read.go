package segment

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"sort"
)

// Bytes reads the range of the result into a new slice.
func (r ReadResult) Bytes() ([]byte, error) {
	if r.Size == 0 {
		return nil, nil
	}
	b := make([]byte, r.Size)
	n, err := r.File.ReadAt(b, r.Position)
	if n == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("segment: read %d bytes at %d: %w", r.Size, r.Position, err)
}

// segmentFor returns the last segment of the snapshot with base <= offset, or nil.
func segmentFor(segs []*segment, offset int64) *segment {
	lo, hi := 0, len(segs)
	for lo < hi {
		m := (lo + hi) / 2
		if segs[m].base <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return nil
	}
	return segs[lo-1]
}

// Read returns whole batches starting at the batch containing offset, at most maxBytes of
// them, except that when minOneBatch is true the first batch is returned even if larger.
// offset == NextOffset returns an empty result; outside [LogStartOffset, NextOffset] is
// ErrOffsetOutOfRange. The range never spans two segments. A malformed batch header on the
// way is ErrCorrupt.
func (l *Log) Read(offset int64, maxBytes int, minOneBatch bool) (ReadResult, error) {
	// The log end and the active segment's readable bytes come from one load (see
	// publishTail): a batch being appended is either wholly readable and below next, or
	// neither. The start is loaded after the snapshot: retention raises it before it
	// publishes a snapshot without the deleted segments, so offsets at or above it are
	// always in segs or its lazy part (made into segments when needed, lazy.go).
	p := l.view()
	segs := p.segs
	act := segs[len(segs)-1]
	actSize, next := act.published()
	start := l.logStart.Load()
	if offset < start || offset > next {
		return ReadResult{}, fmt.Errorf("%w: offset %d outside [%d, %d]", ErrOffsetOutOfRange, offset, start, next)
	}
	for {
		seg := segmentFor(segs, offset)
		if seg == nil && p.lazy != nil {
			// Below the segments made so far: in the lazy ones (lazy.go).
			p = l.materialise()
			segs = p.segs
			continue
		}
		if seg == nil {
			return ReadResult{}, fmt.Errorf("%w: offset %d below the first local segment", ErrOffsetOutOfRange, offset)
		}
		limit := seg.size.Load() // final: seg was sealed before a newer segment was published
		if seg == act {
			limit = actSize
		}
		f, err := seg.reader()
		if errors.Is(err, fs.ErrNotExist) && l.segs.Load() != p && p.lazy == nil {
			// Replaced by cleaned segments since the snapshot was taken (clean.go): read
			// the new ones.
			p = l.view()
			segs = p.segs
			act = segs[len(segs)-1]
			actSize, next = act.published()
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			// Deleted by retention since the snapshot was taken: the start has moved.
			return ReadResult{}, fmt.Errorf("%w: offset %d: %w", ErrOffsetOutOfRange, offset, err)
		}
		if err != nil {
			return ReadResult{}, err
		}
		if offset == next {
			return ReadResult{File: f, Position: limit, FirstOffset: offset}, nil
		}
		pos, h, found, err := seg.findBatch(offset, limit)
		if err != nil {
			return ReadResult{}, err
		}
		if !found {
			// offset lies past this segment's batches: it can only be the start of the
			// next segment (a gap left by a restart).
			if nextSeg := nextSegment(segs, seg); nextSeg != nil && offset < nextSeg.base {
				offset = nextSeg.base
				continue
			}
			return ReadResult{}, fmt.Errorf("segment %s: offset %d not found below position %d: %w", seg.logPath, offset, limit, ErrCorrupt)
		}
		res := ReadResult{File: f, Position: pos, FirstOffset: h.BaseOffset}
		first := h.Size()
		switch {
		case first > int64(maxBytes):
			if minOneBatch {
				res.Size = first
			}
		case pos+int64(maxBytes) >= limit:
			res.Size = limit - pos
		default:
			end, err := seg.endWithin(pos, pos+int64(maxBytes), limit)
			if err != nil {
				return ReadResult{}, err
			}
			res.Size = end - pos
		}
		return res, nil
	}
}

func nextSegment(segs []*segment, s *segment) *segment {
	for i, x := range segs {
		if x == s && i+1 < len(segs) {
			return segs[i+1]
		}
	}
	return nil
}

// FindTimestamp returns the first batch at or after the log start whose MaxTimestamp >= ts
// (its bytes in a ReadResult of exactly that batch), or found=false if no such batch exists.
// It visits only segments whose max timestamp reaches ts (timesearch.go), in log order.
func (l *Log) FindTimestamp(ts int64) (r ReadResult, found bool, err error) {
	seg, act, start := l.sealedReaching(math.MinInt64, ts)
	for seg != nil {
		// Sealed: its size is final. Its batches >= ts may all lie below the start (a
		// DeleteRecords inside it); then the search goes on after it.
		if r, found, err := seg.findTimestamp(ts, start, seg.size.Load()); err != nil || found {
			return r, found, err
		}
		seg, act, _ = l.sealedReaching(seg.next.Load(), ts)
	}
	if act.maxMark.Load().ts < ts || act.next.Load() <= start {
		return ReadResult{}, false, nil
	}
	limit, _ := act.published() // not a batch still being appended
	return act.findTimestamp(ts, start, limit)
}

// findTimestamp is FindTimestamp within one segment, below limit and at or after start.
func (seg *segment) findTimestamp(ts, start, limit int64) (ReadResult, bool, error) {
	from := seg.base
	seg.ensureIndexes()
	seg.mu.RLock()
	if e, ok := floorByTimestamp(seg.tidx, ts); ok {
		from = seg.base + int64(e.rel)
	}
	seg.mu.RUnlock()
	if from < start {
		from = start
	}
	pos, h, ok, err := seg.findBatch(from, limit)
	if err != nil {
		return ReadResult{}, false, err
	}
	var buf [BatchHeaderSize]byte
	for ok && pos < limit {
		if h.MaxTimestamp >= ts {
			f, err := seg.reader()
			if err != nil {
				return ReadResult{}, false, err
			}
			return ReadResult{File: f, Position: pos, Size: h.Size(), FirstOffset: h.BaseOffset}, true, nil
		}
		pos += h.Size()
		if pos >= limit {
			break
		}
		if h, err = seg.readHeader(pos, limit, &buf); err != nil {
			return ReadResult{}, false, err
		}
	}
	return ReadResult{}, false, nil
}

// MaxTimestamp returns the largest timestamp in the log and the base offset of a batch holding
// it (-1, -1 when empty). Its cost does not grow with the number of segments (totals.go).
func (l *Log) MaxTimestamp() (ts int64, offset int64) {
	t := l.totals()
	m := t.max
	segs := t.snap.segs
	if a := segs[len(segs)-1].maxMark.Load(); a.ts > m.ts {
		m = *a
	}
	return m.ts, m.off
}

// SegmentsFrom is Segments without the segments wholly below offset: those whose offsets
// all lie below it (NextOffset <= offset). The active segment is always included (last).
// Its cost is that of the segments it returns, so that callers interested in the newest
// segments (the uploader, the roll check) do not pay for a long history (an offset below
// the segments still lazy after a clean Open makes them first, lazy.go).
func (l *Log) SegmentsFrom(offset int64) []SegmentInfo {
	p := l.view()
	if p.lazy != nil && offset < p.segs[0].base {
		p = l.materialise() // a lazy segment holds offsets at or above offset
	}
	segs := p.segs
	i := sort.Search(len(segs)-1, func(i int) bool { return segs[i].next.Load() > offset })
	out := make([]SegmentInfo, 0, len(segs)-i)
	for _, s := range segs[i:] {
		out = append(out, s.info())
	}
	return out
}

// HasSegment reports whether a local segment starts at base (in time logarithmic in the
// number of segments).
func (l *Log) HasSegment(base int64) bool {
	p := l.view()
	if p.lazy != nil && base < p.segs[0].base {
		return p.lazy.has(base)
	}
	s := segmentFor(p.segs, base)
	return s != nil && s.base == base
}
