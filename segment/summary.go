package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
)

// The clean-shutdown marker carries a summary of the sealed segments (format v1), so that
// Open after a clean shutdown needs no system call per sealed segment:
//
//	"1\n"
//	uvarint count
//	count records, base offsets strictly ascending, each seven varints:
//	  base, size, next, maxTs, maxOff, created, modified   (as the segment held them at Close)
//	uint32 big-endian CRC-32C of everything before it
//
// A v0 marker ("0\n") or a v1 marker whose CRC or layout does not check still means a clean
// shutdown, without a summary (every sealed segment is then checked as before). A summary
// record is used only for a .log file found in the directory whose base it names and whose
// successor's base is its next offset; any other sealed segment takes the stat-and-check
// path. The marker is consumed (durably removed) by Open, so a crash after Open never
// trusts it; an unclean shutdown therefore always takes the full recovery path.
//
// A sealed segment opened from the summary has not had its index files looked at: they are
// checked when first loaded (ensureIndexes, before any lookup uses them) and rebuilt from
// the batch headers if missing or damaged.
const cleanMarkerV1 = "1\n"

// segSummary is what Open needs of a sealed segment.
type segSummary struct {
	base, size, next, maxTs, maxOff, created, modified int64
}

// encodeCleanMarker builds the v1 marker for segs (all sealed; the active segment is not
// passed).
func encodeCleanMarker(segs []*segment) []byte {
	b := make([]byte, 0, len(cleanMarkerV1)+binary.MaxVarintLen64+len(segs)*24+4)
	b = append(b, cleanMarkerV1...)
	b = binary.AppendUvarint(b, uint64(len(segs)))
	for _, s := range segs {
		m := s.maxMark.Load()
		for _, v := range [...]int64{s.base, s.size.Load(), s.next.Load(), m.ts, m.off, s.created.Load(), s.modified.Load()} {
			b = binary.AppendVarint(b, v)
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeCleanMarker returns the summary in a marker, nil if it has none or it does not
// check (then the marker still says the shutdown was clean).
func decodeCleanMarker(b []byte) []segSummary {
	if len(b) < len(cleanMarkerV1)+4 || string(b[:len(cleanMarkerV1)]) != cleanMarkerV1 {
		return nil
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil
	}
	p := body[len(cleanMarkerV1):]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) { // a record is at least seven bytes
		return nil
	}
	p = p[k:]
	out := make([]segSummary, 0, n)
	for range n {
		var v [7]int64
		for i := range v {
			x, k := binary.Varint(p)
			if k <= 0 {
				return nil
			}
			v[i], p = x, p[k:]
		}
		e := segSummary{base: v[0], size: v[1], next: v[2], maxTs: v[3], maxOff: v[4], created: v[5], modified: v[6]}
		if e.base < 0 || e.size < 0 || e.size > maxSegmentFileSize || e.next < e.base ||
			(len(out) > 0 && e.base <= out[len(out)-1].base) {
			return nil
		}
		out = append(out, e)
	}
	if len(p) != 0 {
		return nil
	}
	return out
}

// maxSegmentFileSize bounds a summarised size: positions in the indexes are 32 bits.
const maxSegmentFileSize = int64(^uint32(0))

// writeCleanMarker durably writes the clean-shutdown marker summarising the sealed
// segments of segs (the last one, the active segment, is left out: Open recovers it).
func writeCleanMarker(fsys FS, dir string, segs []*segment) error {
	var sealed []*segment
	if len(segs) > 0 {
		sealed = segs[:len(segs)-1]
	}
	return writeFileAtomic(fsys, dir, cleanMarkerFile, encodeCleanMarker(sealed))
}

// takeCleanMarker reports whether the marker exists, returns its summary (nil if none) and
// removes it durably, so that a crash after the log is reopened is never mistaken for a
// clean shutdown.
func takeCleanMarker(fsys FS, dir string) (bool, []segSummary, error) {
	path := joinPath(dir, cleanMarkerFile)
	b, err := readWholeFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, nil
	} else if err != nil {
		return false, nil, fmt.Errorf("segment: cannot read %q: %w", path, err)
	}
	if err := fsys.Remove(path); err != nil {
		return false, nil, fmt.Errorf("segment: cannot remove %q: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return false, nil, fmt.Errorf("segment: cannot sync directory %q: %w", dir, err)
	}
	return true, decodeCleanMarker(b), nil
}

// lazyCheck is shared by the segments of one log opened from the summary: what checking
// and rebuilding their indexes on first use needs.
type lazyCheck struct {
	interval int64
	logger   *slog.Logger
	rebuilt  atomic.Int64 // indexes rebuilt on first use
}

// lazyIndexes marks a segment whose index files have not been checked yet.
type lazyIndexes struct {
	check *lazyCheck
	once  sync.Once
}

// openSummarised opens a sealed segment from its summary record: no system call.
func (l *Log) openSummarised(e segSummary, check *lazyCheck) *segment {
	s := newSegment(l.fs, l.dir, e.base)
	s.files = l.files
	s.size.Store(e.size)
	s.next.Store(e.next)
	s.publishTail()
	s.sealed.Store(true)
	s.created.Store(e.created)
	s.modified.Store(e.modified)
	s.setMax(e.maxTs, e.maxOff)
	s.unchecked = &lazyIndexes{check: check}
	return s
}

// checkIndexesOnce loads the index files of a segment opened from the summary, checking
// them as Open checks those of a sealed segment after an unclean shutdown, and rebuilds
// them from the batch headers if they fail. Concurrent callers wait for the first.
func (s *segment) checkIndexesOnce() {
	u := s.unchecked
	u.once.Do(func() {
		size, span := s.size.Load(), s.next.Load()-s.base
		b, idxErr := readWholeFile(s.fs, s.idxPath)
		idx, idxOK := decodeOffsetIndex(b, size)
		b, tidxErr := readWholeFile(s.fs, s.tidxPath)
		tidx, tidxOK := decodeTimeIndex(b, span)
		ok := idxErr == nil && tidxErr == nil && idxOK && tidxOK && (len(tidx) > 0 || size == 0)
		if ok && len(idx) > 0 {
			last := idx[len(idx)-1]
			var buf [batchHeaderSize]byte
			h, err := s.readHeader(int64(last.pos), size, &buf)
			ok = int64(last.rel) < span && err == nil && h.BaseOffset == s.base+int64(last.rel)
		}
		if ok {
			s.mu.Lock()
			s.idx, s.tidx, s.loaded = idx, tidx, true
			s.mu.Unlock()
			return
		}
		// Rebuild, as openSealed does, without touching the published max timestamp
		// (retention reads it). Other readers wait in once.Do.
		idx, tidx, maxMark, scanErr := s.walkHeaders(size, u.check.interval)
		s.mu.Lock()
		s.idx, s.tidx, s.loaded = idx, tidx, true
		s.mu.Unlock()
		if scanErr != nil {
			u.check.logger.Warn("sealed segment has a corrupt or unreadable batch; reads past it fail", "segment", s.logPath, "err", scanErr)
			if !errors.Is(scanErr, ErrCorrupt) {
				return // an I/O error: keep the valid prefix in memory, leave the files alone
			}
		} else if m := s.maxMark.Load(); *m != maxMark {
			s.setMax(maxMark.ts, maxMark.off) // the summary disagreed with the file: trust the file
		}
		u.check.rebuilt.Add(1)
		if err := s.writeIndexes(); err != nil {
			u.check.logger.Warn("cannot rewrite index of sealed segment; using the rebuilt one in memory", "segment", s.logPath, "err", err)
			return
		}
		u.check.logger.Warn("rebuilt index of sealed segment on first use", "segment", s.logPath)
	})
}

// walkHeaders rebuilds a sealed segment's indexes from its batch headers up to size, as
// scan and indexBatchLocked would, but into fresh slices and a local running max. It stops
// at the first bad header (ErrCorrupt) or I/O error, returning the entries so far.
func (s *segment) walkHeaders(size, interval int64) (idx []offsetEntry, tidx []timeEntry, mark tsMark, err error) {
	var buf [batchHeaderSize]byte
	mark = tsMark{ts: -1, off: -1}
	addTime := func() {
		if mark.ts >= 0 && (len(tidx) == 0 || mark.ts > tidx[len(tidx)-1].ts) {
			tidx = append(tidx, timeEntry{ts: mark.ts, rel: uint32(mark.off - s.base)})
		}
	}
	pos, expect, since := int64(0), s.base, int64(0)
	for pos < size {
		h, err := s.readHeader(pos, size, &buf)
		if err != nil {
			addTime()
			return idx, tidx, mark, err
		}
		if h.BaseOffset != expect {
			addTime()
			return idx, tidx, mark, s.corruptf(pos, "base offset %d, expected %d", h.BaseOffset, expect)
		}
		if h.lastOffset()-s.base > int64(^uint32(0)) {
			addTime()
			return idx, tidx, mark, s.corruptf(pos, "last offset %d too far from the segment base", h.lastOffset())
		}
		if h.MaxTimestamp > mark.ts {
			mark = tsMark{ts: h.MaxTimestamp, off: h.BaseOffset}
		}
		if since > interval {
			idx = append(idx, offsetEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
			addTime()
			since = 0
		}
		since += h.size()
		pos += h.size()
		expect = h.lastOffset() + 1
	}
	addTime()
	return idx, tidx, mark, nil
}
