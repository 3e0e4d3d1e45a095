package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The clean-shutdown marker carries a summary of the segments, so that Open after a clean
// shutdown needs no system call per sealed segment and does not list the directory:
//
//	"3\n"
//	uvarint count
//	varint base offset of the active segment (greater than every record's base)
//	count records of 56 bytes, base offsets strictly ascending, each seven big-endian int64:
//	  base, size, next, maxTs, maxOff, created, modified   (as the segment held them at Close)
//	uint32 big-endian CRC-32C of everything before it
//
// The records have a fixed size so that Open reads them where they lie (one pass over the
// bases, sizes, next offsets and max timestamps checks them and sums the totals) and keeps
// them as they are until the segments are needed (lazy.go): decoding the varints of v2 was
// most of a clean Open of a long history. Close copies such records back unchanged.
//
// v2 ("2\n", written before v3) is the same with the records as seven varints each and the
// active base after them; v1 ("1\n") is v2 without the active segment's base, which Open
// reads as before (it lists the directory). A v0 marker ("0\n") or a marker whose CRC or
// layout does not check still means a clean shutdown, without a summary (every sealed
// segment is then checked as before, after listing the directory). An Open of an older
// version reads a v3 marker as one whose layout does not check.
//
// With a v2 or v3 summary Open does not list the directory: the segments are the ones the
// summary names (after a Stat of the oldest and the newest .log, so that files removed
// while the log was closed fall back to the listing path), and leftovers of interrupted
// deletions or atomic writes (*.deleted, *.tmp, index files without a .log) are not looked
// for. A clean Close leaves none of the log's own (they only survive a crash, and a crash
// leaves no marker); any other such file is inert and is removed by the next Open that
// lists the directory (after an unclean shutdown). RecoveryReport.OtherFiles is then nil.
//
// A summary record is used only for a .log file whose base it names and whose successor's
// base is its next offset; any other sealed segment takes the stat-and-check path. The
// marker is consumed (durably removed) by Open, so a crash after Open never trusts it; an
// unclean shutdown therefore always takes the full recovery path.
//
// A gapless summary's sealed segments are kept as its records until needed (lazy.go); Close
// writes them back as they were. A sealed segment opened from the summary has not had its
// index files looked at: they are checked when first loaded (ensureIndexes, before any lookup uses them) and rebuilt from
// the batch headers if missing or damaged.
const (
	cleanMarkerV1 = "1\n"
	cleanMarkerV2 = "2\n"
	cleanMarkerV3 = "3\n"

	summaryRecordSize = 7 * 8 // bytes of a v3 record
)

// segSummary is what Open needs of a sealed segment.
type segSummary struct {
	base, size, next, maxTs, maxOff, created, modified int64
}

// summaryOf returns the summary record of a sealed segment.
func summaryOf(s *segment) segSummary {
	m := s.maxMark.Load()
	return segSummary{s.base, s.size.Load(), s.next.Load(), m.ts, m.off, s.created.Load(), s.modified.Load()}
}

// summaryRecords are v3 records (summaryRecordSize bytes each), read where they lie.
type summaryRecords []byte

func (r summaryRecords) len() int { return len(r) / summaryRecordSize }

func (r summaryRecords) field(i, f int) int64 {
	return int64(binary.BigEndian.Uint64(r[i*summaryRecordSize+f*8:]))
}

func (r summaryRecords) baseAt(i int) int64 { return r.field(i, 0) }

func (r summaryRecords) at(i int) segSummary {
	p := r[i*summaryRecordSize : (i+1)*summaryRecordSize]
	v := func(f int) int64 { return int64(binary.BigEndian.Uint64(p[f*8:])) }
	return segSummary{base: v(0), size: v(1), next: v(2), maxTs: v(3), maxOff: v(4), created: v(5), modified: v(6)}
}

// all decodes every record (nil for nil).
func (r summaryRecords) all() []segSummary {
	if r == nil {
		return nil
	}
	out := make([]segSummary, r.len())
	for i := range out {
		out[i] = r.at(i)
	}
	return out
}

func appendSummaryRecord(b []byte, e segSummary) []byte {
	for _, v := range [...]int64{e.base, e.size, e.next, e.maxTs, e.maxOff, e.created, e.modified} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// recordsOf encodes a v1 or v2 summary as v3 records (nil for nil, empty for empty).
func recordsOf(summary []segSummary) summaryRecords {
	if summary == nil {
		return nil
	}
	b := make([]byte, 0, len(summary)*summaryRecordSize)
	for _, e := range summary {
		b = appendSummaryRecord(b, e)
	}
	return b
}

// encodeCleanMarkerV3 builds the v3 marker for the sealed segments recs (records kept as
// they were read: see lazySealed) followed by segs (the active segment is not passed; its
// base is active).
func encodeCleanMarkerV3(recs summaryRecords, segs []*segment, active int64) []byte {
	n := recs.len() + len(segs)
	b := make([]byte, 0, len(cleanMarkerV3)+2*binary.MaxVarintLen64+n*summaryRecordSize+4)
	b = append(b, cleanMarkerV3...)
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendVarint(b, active)
	b = append(b, recs...)
	for _, s := range segs {
		b = appendSummaryRecord(b, summaryOf(s))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeCleanMarkerV3 returns the records of a v3 marker (aliasing b) and the base of the
// active segment, or nil, -1 if its CRC or layout does not check. Records are checked as
// decodeCleanMarker checks v2 ones, in place.
func decodeCleanMarkerV3(b []byte) (summaryRecords, int64) {
	if len(b) < len(cleanMarkerV3)+4 || string(b[:len(cleanMarkerV3)]) != cleanMarkerV3 {
		return nil, -1
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, -1
	}
	p := body[len(cleanMarkerV3):]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p))/summaryRecordSize {
		return nil, -1
	}
	p = p[k:]
	active, k := binary.Varint(p)
	if k <= 0 || active < 0 || uint64(len(p)-k) != n*summaryRecordSize {
		return nil, -1
	}
	recs := summaryRecords(p[k:])
	prev := int64(-1)
	for i := range recs.len() {
		base, size, next := recs.field(i, 0), recs.field(i, 1), recs.field(i, 2)
		if base <= prev || size < 0 || size > maxSegmentFileSize || next < base {
			return nil, -1
		}
		prev = base
	}
	if active <= prev {
		return nil, -1
	}
	return recs, active
}

// encodeCleanMarker builds the v2 marker (as versions before v3 wrote it) for the sealed
// segments segs (the active segment is not passed; its base is active).
func encodeCleanMarker(segs []*segment, active int64) []byte {
	b := make([]byte, 0, len(cleanMarkerV2)+2*binary.MaxVarintLen64+len(segs)*24+4)
	b = append(b, cleanMarkerV2...)
	b = binary.AppendUvarint(b, uint64(len(segs)))
	for _, s := range segs {
		m := s.maxMark.Load()
		for _, v := range [...]int64{s.base, s.size.Load(), s.next.Load(), m.ts, m.off, s.created.Load(), s.modified.Load()} {
			b = binary.AppendVarint(b, v)
		}
	}
	b = binary.AppendVarint(b, active)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeCleanMarker returns the summary in a marker, nil if it has none or it does not
// check (then the marker still says the shutdown was clean), and the base offset of the
// active segment (-1 unless a v2 marker names it).
func decodeCleanMarker(b []byte) ([]segSummary, int64) {
	v2 := len(b) >= len(cleanMarkerV2) && string(b[:len(cleanMarkerV2)]) == cleanMarkerV2
	if len(b) < len(cleanMarkerV1)+4 || (!v2 && string(b[:len(cleanMarkerV1)]) != cleanMarkerV1) {
		return nil, -1
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, -1
	}
	p := body[len(cleanMarkerV1):]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) { // a record is at least seven bytes
		return nil, -1
	}
	p = p[k:]
	out := make([]segSummary, 0, n)
	for range n {
		var v [7]int64
		for i := range v {
			x, k := binary.Varint(p)
			if k <= 0 {
				return nil, -1
			}
			v[i], p = x, p[k:]
		}
		e := segSummary{base: v[0], size: v[1], next: v[2], maxTs: v[3], maxOff: v[4], created: v[5], modified: v[6]}
		if e.base < 0 || e.size < 0 || e.size > maxSegmentFileSize || e.next < e.base ||
			(len(out) > 0 && e.base <= out[len(out)-1].base) {
			return nil, -1
		}
		out = append(out, e)
	}
	active := int64(-1)
	if v2 {
		x, k := binary.Varint(p)
		if k <= 0 || x < 0 || (len(out) > 0 && x <= out[len(out)-1].base) {
			return nil, -1
		}
		active, p = x, p[k:]
	}
	if len(p) != 0 {
		return nil, -1
	}
	return out, active
}

// maxSegmentFileSize bounds a summarised size: positions in the indexes are 32 bits.
const maxSegmentFileSize = int64(^uint32(0))

// writeCleanMarker durably writes the clean-shutdown marker summarising the sealed
// segments of the snapshot p (its lazy ones, then those of segs) and naming the last
// segment, the active one (Open recovers it).
func writeCleanMarker(fsys FS, dir string, p *segSnapshot) error {
	segs := p.segs
	if len(segs) == 0 { // not a log's state (it always has an active segment): no summary
		return writeFileAtomic(fsys, dir, cleanMarkerFile, []byte("0\n"))
	}
	var recs summaryRecords
	if p.lazy != nil {
		recs = p.lazy.recs
	}
	return writeFileAtomic(fsys, dir, cleanMarkerFile, encodeCleanMarkerV3(recs, segs[:len(segs)-1], segs[len(segs)-1].base))
}

// takeCleanMarker reports whether the marker exists, returns its summary as v3 records (nil
// if none) and removes it durably, so that a crash after the log is reopened is never
// mistaken for a clean shutdown. active is the base of the active segment a v2 or v3
// summary names, else -1.
func takeCleanMarker(fsys FS, dir string) (clean bool, summary summaryRecords, active int64, err error) {
	path := joinPath(dir, cleanMarkerFile)
	b, err := readWholeFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, -1, nil
	} else if err != nil {
		return false, nil, -1, fmt.Errorf("segment: cannot read %q: %w", path, err)
	}
	if err := fsys.Remove(path); err != nil {
		return false, nil, -1, fmt.Errorf("segment: cannot remove %q: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return false, nil, -1, fmt.Errorf("segment: cannot sync directory %q: %w", dir, err)
	}
	if len(b) >= len(cleanMarkerV3) && string(b[:len(cleanMarkerV3)]) == cleanMarkerV3 {
		summary, active = decodeCleanMarkerV3(b)
		return true, summary, active, nil
	}
	old, active := decodeCleanMarker(b)
	return true, recordsOf(old), active, nil
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

// summarySlab holds, in a handful of allocations, the segments Open takes from the
// clean-shutdown summary: their structs, max-timestamp marks, lazy-check states and the
// bytes of their three paths (one string, sliced). A log of 100,000 segments otherwise made
// half a million small allocations at start-up, and the garbage collector ran during Open
// to trace them. The price: a slab stays in memory until every segment of it is gone (the
// segments Open found, retired one by one by retention, are at most that many anyway).
type summarySlab struct {
	segs  []segment
	marks []tsMark
	lazy  []lazyIndexes
	paths string
	plen  int // len of dir, separator and the 20 digits: the common part of the three paths
	k     int // next unused element
}

// newSummarySlab prepares n segments whose bases will be taken in order from bases.
func newSummarySlab(dir string, bases []int64) *summarySlab {
	d := filepath.Join(dir, "x") // the cleaned directory and a separator, as segmentPath joins
	d = d[:len(d)-1]
	plen := len(d) + 20
	var b strings.Builder // String() does not copy
	b.Grow(len(bases) * (3*plen + len(logSuffix) + len(indexSuffix) + len(timeIndexSuffix)))
	var digits [20]byte
	for _, base := range bases {
		name := strconv.AppendInt(digits[:0], base, 10)
		for _, suffix := range [...]string{logSuffix, indexSuffix, timeIndexSuffix} {
			b.WriteString(d)
			for range 20 - len(name) {
				b.WriteByte('0')
			}
			b.Write(name)
			b.WriteString(suffix)
		}
	}
	n := len(bases)
	return &summarySlab{segs: make([]segment, n), marks: make([]tsMark, n), lazy: make([]lazyIndexes, n), paths: b.String(), plen: plen}
}

// openSummarised opens a sealed segment from its summary record: no system call. The
// segment comes from slab, whose next base must be e.base.
func (l *Log) openSummarised(e segSummary, check *lazyCheck, slab *summarySlab) *segment {
	k := slab.k
	slab.k++
	s := &slab.segs[k]
	off := k * (3*slab.plen + len(logSuffix) + len(indexSuffix) + len(timeIndexSuffix))
	next := func(suffix string) string {
		p := slab.paths[off : off+slab.plen+len(suffix)]
		off += len(p)
		return p
	}
	s.base, s.fs = e.base, l.fs
	s.logPath, s.idxPath, s.tidxPath = next(logSuffix), next(indexSuffix), next(timeIndexSuffix)
	s.files = l.files
	s.mayGap.Store(e.next <= l.cleanedBelow.Load())
	s.size.Store(e.size)
	s.next.Store(e.next)
	s.publishTail()
	s.sealed.Store(true)
	s.created.Store(e.created)
	s.modified.Store(e.modified)
	slab.marks[k] = tsMark{ts: e.maxTs, off: e.maxOff}
	s.maxMark.Store(&slab.marks[k])
	slab.lazy[k].check = check
	s.unchecked = &slab.lazy[k]
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
			var buf [BatchHeaderSize]byte
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
	var buf [BatchHeaderSize]byte
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
		if h.BaseOffset < expect || (h.BaseOffset != expect && !s.mayGap.Load()) { // a cleaned segment may have gaps (clean.go)
			addTime()
			return idx, tidx, mark, s.corruptf(pos, "base offset %d, expected %d", h.BaseOffset, expect)
		}
		if h.LastOffset()-s.base > int64(^uint32(0)) {
			addTime()
			return idx, tidx, mark, s.corruptf(pos, "last offset %d too far from the segment base", h.LastOffset())
		}
		if h.MaxTimestamp > mark.ts {
			mark = tsMark{ts: h.MaxTimestamp, off: h.BaseOffset}
		}
		if since > interval {
			idx = append(idx, offsetEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)})
			addTime()
			since = 0
		}
		since += h.Size()
		pos += h.Size()
		expect = h.LastOffset() + 1
	}
	addTime()
	return idx, tidx, mark, nil
}
