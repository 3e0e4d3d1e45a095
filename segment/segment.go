package segment

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
	brokenSuffix    = ".broken"
	tmpSuffix       = ".tmp"
)

// ProducerSnapshotSuffix names the producer-state snapshots kept beside a partition's
// segments, <dir>/<%020d offset>.snapshot (Kafka's name), offset being the next offset to
// be written when the snapshot was taken. Package segment neither writes nor reads them
// (package partition does, and package tiering uploads them with the segment they end):
// it names every file of a partition directory in one place, and reports them among
// RecoveryReport.OtherFiles.
const ProducerSnapshotSuffix = ".snapshot"

// ProducerSnapshotPath returns <dir>/<%020d offset>.snapshot.
func ProducerSnapshotPath(dir string, offset int64) string {
	return segmentPath(dir, offset, ProducerSnapshotSuffix)
}

// ProducerSnapshotOffsets returns the offsets of the producer snapshot file names among
// names (file names in a partition directory, in any order), ascending.
func ProducerSnapshotOffsets(names []string) []int64 {
	var out []int64
	for _, name := range names {
		if len(name) != 20+len(ProducerSnapshotSuffix) {
			continue
		}
		if off, ok := parseBase(name, ProducerSnapshotSuffix); ok {
			out = append(out, off)
		}
	}
	slices.Sort(out)
	return out
}

func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// segmentPathPrefix is segmentPath without the suffix, built without fmt: Open makes three
// paths for every segment of the log.
func segmentPathPrefix(dir string, base int64) string {
	if base < 0 {
		return segmentPath(dir, base, "")
	}
	var digits [20]byte
	b := strconv.AppendInt(digits[:0], base, 10)
	var name [20]byte
	for i := range name {
		name[i] = '0'
	}
	copy(name[20-len(b):], b)
	return filepath.Join(dir, string(name[:]))
}

// segment is one .log file with its two indexes.
//
// The writer (the Log's single writer) writes a batch to the active segment, adds its index
// entries, then stores size and next and publishes them together in tail (publishTail);
// readers of the active segment take size and next from one load of tail (the log end
// offset is the active segment's published next) and never read at or beyond that size.
// Index entries and maxMark may name a batch at size that is
// not yet published; readers treat it as absent. idx and tidx are guarded by mu; they are loaded lazily for a
// segment found sealed at Open.
type segment struct {
	base int64
	fs   FS
	// log is the file the segment was written through (the active segment, and segments
	// sealed by this process), set before the segment is published and never changed. A
	// segment found sealed at Open has log == nil: its file is opened on first read through
	// files, held in lazy, and may be closed again (files.go); so is log once Roll sealed
	// the segment (adopted). Readers use reader().
	log      File
	files    *logFiles
	slot     int // index in files.c.open while lazy is open; guarded by the cache's mu
	lazy     atomic.Pointer[File]
	used     atomic.Bool // read since the cache's clock hand last passed
	adopted  atomic.Bool // log was handed to files at seal: read it through lazy, never close it here
	gone     bool        // guarded by the cache's mu: forgotten (deleted or closed); never reopen
	logPath  string
	idxPath  string
	tidxPath string

	size     atomic.Int64           // committed bytes of .log
	next     atomic.Int64           // last offset + 1
	tail     atomic.Uint64          // size and next-base published together; see publishTail
	maxMark  atomic.Pointer[tsMark] // largest batch max timestamp and where it was first reached
	created  atomic.Int64           // unix nanos of the first append (mtime after reopen), 0 if empty
	modified atomic.Int64           // unix nanos of the last append
	sealed   atomic.Bool
	mayGap   atomic.Bool // a cleaned segment (clean.go): its batches may skip offsets

	// Writer state of the active segment. idxFile and tidxFile are set and closed by the
	// writer with fileMu held; syncOnce fsyncs them with fileMu held.
	idxFile         File
	tidxFile        File
	bytesSinceIndex int64
	fileMu          sync.Mutex
	idxSyncedPos    int64     // position of the last index entry fsynced by the background index sync (Log.syncIndexes)
	idxSyncedAt     time.Time // when syncOnce last fsynced the index files

	// unchecked is set for a sealed segment opened from the clean-shutdown summary: its
	// index files are checked (and rebuilt if damaged) on first load (summary.go).
	unchecked *lazyIndexes

	mu     sync.RWMutex
	loaded bool
	idx    []offsetEntry
	tidx   []timeEntry
}

func newSegment(fsys FS, dir string, base int64) *segment {
	p := segmentPathPrefix(dir, base)
	s := &segment{
		base:     base,
		fs:       fsys,
		logPath:  p + logSuffix,
		idxPath:  p + indexSuffix,
		tidxPath: p + timeIndexSuffix,
	}
	s.next.Store(base)
	s.setMax(-1, -1)
	return s
}

// publishTail makes the segment's size and next offset visible to readers as one pair,
// so that a reader never sees bytes of a batch whose offsets are not yet below the log end
// (a consumer that got such a batch would fetch past the high watermark and be answered
// OFFSET_OUT_OF_RANGE). The roll rules keep size <= MaxUint32 and next-base <= MaxInt32+1,
// so both fit in 32 bits. The zero value is the empty segment. Only the writer (or Open)
// calls it, after storing size and next.
func (s *segment) publishTail() {
	s.tail.Store(uint64(s.size.Load())<<32 | uint64(uint32(s.next.Load()-s.base)))
}

// published returns the size and next offset last published together by publishTail.
func (s *segment) published() (size, next int64) {
	t := s.tail.Load()
	return int64(t >> 32), s.base + int64(uint32(t))
}

// tsMark is a segment's max timestamp and the base offset of the first batch that reached
// it (-1, -1 if none), published together.
type tsMark struct{ ts, off int64 }

func (s *segment) setMax(ts, off int64) { s.maxMark.Store(&tsMark{ts: ts, off: off}) }

func (s *segment) info() SegmentInfo {
	return SegmentInfo{
		BaseOffset:    s.base,
		NextOffset:    s.next.Load(),
		Size:          s.size.Load(),
		MaxTimestamp:  s.maxMark.Load().ts,
		Created:       unixNanos(s.created.Load()),
		LastModified:  unixNanos(s.modified.Load()),
		Sealed:        s.sealed.Load(),
		LogPath:       s.logPath,
		IndexPath:     s.idxPath,
		TimeIndexPath: s.tidxPath,
	}
}

// ActiveSegment returns the active (newest) segment's info: Segments()[len-1] without
// building the info of every segment (100,000 of them at a long history's start-up).
func (l *Log) ActiveSegment() SegmentInfo { return l.active().info() }

func unixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// ensureIndexes loads the index files of a sealed segment on first use. A damaged tail of
// an index is ignored (lookups fall back to scanning from an earlier entry); the indexes of
// a segment opened from the clean-shutdown summary are checked and rebuilt if damaged.
func (s *segment) ensureIndexes() {
	s.mu.RLock()
	loaded := s.loaded
	s.mu.RUnlock()
	if loaded {
		return
	}
	if s.unchecked != nil {
		s.checkIndexesOnce()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return
	}
	b, _ := readWholeFile(s.fs, s.idxPath)
	s.idx, _ = decodeOffsetIndex(b, s.size.Load())
	b, _ = readWholeFile(s.fs, s.tidxPath)
	s.tidx, _ = decodeTimeIndex(b, s.next.Load()-s.base)
	s.loaded = true
}

// lookup returns the position and base offset of the indexed batch at or before offset.
func (s *segment) lookup(offset int64) (pos int64, base int64) {
	s.ensureIndexes()
	s.mu.RLock()
	e := floorByOffset(s.idx, relOffset(offset-s.base))
	s.mu.RUnlock()
	return int64(e.pos), s.base + int64(e.rel)
}

func relOffset(d int64) uint32 {
	switch {
	case d < 0:
		return 0
	case d > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(d)
}

// readHeader reads and checks the batch header at pos; limit is the committed size.
func (s *segment) readHeader(pos, limit int64, buf *[BatchHeaderSize]byte) (BatchHeader, error) {
	if limit-pos < BatchHeaderSize {
		return BatchHeader{}, s.corruptf(pos, "%d bytes left for a batch header", limit-pos)
	}
	f, err := s.reader()
	if err != nil {
		return BatchHeader{}, err
	}
	if _, err := f.ReadAt(buf[:], pos); err != nil {
		return BatchHeader{}, fmt.Errorf("segment %s: read batch header at %d: %w", s.logPath, pos, err)
	}
	h := decodeBatchHeader(buf[:])
	if err := checkHeader(&h, limit-pos); err != nil {
		return h, s.corruptf(pos, "%v", err)
	}
	return h, nil
}

func (s *segment) corruptf(pos int64, format string, args ...any) error {
	return fmt.Errorf("segment %s: batch at position %d: %s: %w", s.logPath, pos, fmt.Sprintf(format, args...), ErrCorrupt)
}

// findBatch walks from the indexed position to the batch containing offset, checking that
// each header it reads continues the offsets of the one before (the first the index entry's
// offset): the walk reads the headers anyway, so the check costs nothing. It returns
// found=false if offset is at or beyond the last batch below limit.
func (s *segment) findBatch(offset, limit int64) (pos int64, h BatchHeader, found bool, err error) {
	pos, want := s.lookup(offset)
	var buf [BatchHeaderSize]byte
	for pos < limit {
		h, err = s.readHeader(pos, limit, &buf)
		if err != nil {
			return 0, h, false, err
		}
		if s.mayGap.Load() {
			if h.BaseOffset < want || h.LastOffsetDelta < 0 {
				// Offsets only move forward; a cleaned segment may skip some (clean.go).
				return 0, h, false, s.corruptf(pos, "base offset %d below the expected %d", h.BaseOffset, want)
			}
		} else if err := CheckContinuity(h, want, -1); err != nil {
			return 0, h, false, s.corruptf(pos, "%v", err)
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		want = h.LastOffset() + 1
		pos += h.Size()
	}
	return 0, h, false, nil
}

// endWithin returns the end of the last whole batch in [start, maxEnd], or start if the
// first batch at start does not fit. start is a batch boundary and maxEnd < limit.
func (s *segment) endWithin(start, maxEnd, limit int64) (int64, error) {
	s.ensureIndexes()
	s.mu.RLock()
	e := floorByPosition(s.idx, maxEnd)
	s.mu.RUnlock()
	pos := start
	if int64(e.pos) > pos {
		pos = int64(e.pos)
	}
	var buf [BatchHeaderSize]byte
	for pos < limit {
		h, err := s.readHeader(pos, limit, &buf)
		if err != nil {
			return 0, err
		}
		if pos+h.Size() > maxEnd {
			break
		}
		pos += h.Size()
	}
	return pos, nil
}

// close closes the segment's open files.
// It allocates nothing when all goes well: Close of a log of 100,000 sealed segments calls it
// for each.
func (s *segment) close() error {
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.files != nil {
		keep(s.files.forget(s))
	}
	if s.log != nil && !s.adopted.Load() { // adopted: the cache closed it, or will
		keep(s.log.Close())
	}
	if s.idxFile != nil {
		keep(s.idxFile.Close())
	}
	if s.tidxFile != nil {
		keep(s.tidxFile.Close())
	}
	return errors.Join(errs...)
}

func readWholeFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if err == io.EOF {
		err = nil
	}
	return b[:n], err
}
