package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cleaned segments: the log's side of log compaction (the cleaner itself, which decides
// what to keep, is package partition's). A cleaner writes the batches it keeps of a run of
// sealed segments into new segments beside them (CreateCleaned, CleanedWriter), then
// ReplaceSegments swaps them in. A cleaned segment keeps the offsets of the batches it
// holds, so it has gaps: its first batch may start after its base offset, batches need
// not be contiguous, and its last batch may end before the next segment's base. Readers
// and recovery accept gaps in sealed segments (offsets only move forward); the active
// segment is never cleaned and must stay contiguous.
//
// The swap, each step durable before the next:
//
//  1. the new segments are written as <base>.log.cleaned, .index.cleaned and
//     .timeindex.cleaned and fsynced (CleanedWriter.Finish);
//  2. every .cleaned file is renamed to .swap; directory fsync;
//  3. the commit point: cleaner-swap is written atomically (WriteFileAtomic), naming the
//     base offsets of the old and of the new segments;
//  4. the old segments' files are renamed to .deleted, the .swap files to their final
//     names; directory fsync; the .deleted files and cleaner-swap are removed; directory
//     fsync.
//
// Open finishes or rolls back a swap a crash interrupted, before it looks at the
// segments: without cleaner-swap, every .cleaned and .swap file goes when Open lists the
// directory (tidyDir; the old segments are intact: nothing was renamed before the commit
// point, and a crash leaves no clean-shutdown marker, so Open lists it); with it
// (finishSwap, one read of a missing file on every Open), the old
// segments it names are removed, whatever .swap file is left is renamed to its final
// name, and cleaner-swap goes. Both are idempotent, so a crash during recovery is
// recovered again. A crash therefore leaves the old segments or the new ones, never a mix.

const (
	// cleanedOffsetFile holds the end of the cleaned segments: "0\n<offset>\n". Sealed
	// segments ending at or below it may skip offsets; the others are checked for
	// contiguous offsets, which catches a damaged base offset.
	cleanedOffsetFile = "cleaned-offset"
	cleanedSuffix     = ".cleaned"
	swapSuffix        = ".swap"
	// CleanerSwapFile is the commit record of a segment swap (see above).
	CleanerSwapFile = "cleaner-swap"
)

// CleanedWriter writes one cleaned segment beside the log. It is not safe for concurrent
// use; the log is not locked while it writes.
type CleanedWriter struct {
	l        *Log
	s        *segment // the segment being built: in-memory indexes, final paths
	f        File     // <log>.cleaned
	next     int64    // the lowest offset the next batch may start at
	interval int64
	done     bool
	modified time.Time
}

// CreateCleaned starts a cleaned segment of base offset base, to replace (with others)
// sealed segments whose first is at base or before it.
func (l *Log) CreateCleaned(base int64) (*CleanedWriter, error) {
	s := newSegment(l.fs, l.dir, base)
	s.loaded = true
	s.mayGap.Store(true)
	_ = l.fs.Remove(s.logPath + cleanedSuffix)
	f, err := l.fs.OpenFile(s.logPath+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("segment: cannot create %q: %w", s.logPath+cleanedSuffix, err)
	}
	return &CleanedWriter{l: l, s: s, f: f, next: base, interval: int64(l.cfg.IndexIntervalBytes)}, nil
}

// Base is the cleaned segment's base offset.
func (w *CleanedWriter) Base() int64 { return w.s.base }

// Size is the number of bytes written so far.
func (w *CleanedWriter) Size() int64 { return w.s.size.Load() }

// NextOffset is the offset after the last batch written (the base if none).
func (w *CleanedWriter) NextOffset() int64 { return w.next }

// SetModified sets the time the segment reports as created and last modified (the newest
// of the segments it replaces, so that time-based retention sees the same age).
func (w *CleanedWriter) SetModified(t time.Time) { w.modified = t }

// Append writes one v2 batch whose offsets are final. Its base offset must not be below
// the end of the previous batch, and its offsets must fit the segment's relative offsets.
func (w *CleanedWriter) Append(batch []byte) error {
	if w.done {
		return fmt.Errorf("segment: append to a finished cleaned segment %q", w.s.logPath)
	}
	h, err := DecodeBatchHeader(batch)
	if err != nil {
		return err
	}
	if err := checkHeader(&h, int64(len(batch))); err != nil {
		return err
	}
	if h.Size() != int64(len(batch)) {
		return fmt.Errorf("%w: batch length %d, %d bytes", ErrInvalidBatch, h.BatchLength, len(batch))
	}
	if h.BaseOffset < w.next {
		return fmt.Errorf("%w: cleaned batch at %d before the previous end %d", ErrInvalidBatch, h.BaseOffset, w.next)
	}
	pos := w.s.size.Load()
	if h.LastOffset()-w.s.base > maxRelativeOffset || pos+int64(len(batch)) > maxSegmentPosition {
		return fmt.Errorf("%w: batch at %d does not fit cleaned segment %d", ErrInvalidBatch, h.BaseOffset, w.s.base)
	}
	if _, err := w.f.WriteAt(batch, pos); err != nil {
		return fmt.Errorf("segment %s: write cleaned batch at %d: %w", w.s.logPath, pos, err)
	}
	if err := w.s.indexBatchLocked(pos, &h, w.interval); err != nil {
		return err
	}
	w.s.size.Store(pos + int64(len(batch)))
	w.next = h.LastOffset() + 1
	return nil
}

// Fits reports whether a batch of size bytes ending at lastOffset can still be appended.
func (w *CleanedWriter) Fits(size int64, lastOffset int64) bool {
	return lastOffset-w.s.base <= maxRelativeOffset && w.s.size.Load()+size <= maxSegmentPosition
}

const (
	maxRelativeOffset  = 1<<31 - 1
	maxSegmentPosition = 1<<31 - 1
)

// Finish writes the indexes and fsyncs the three .cleaned files.
func (w *CleanedWriter) Finish() error {
	if w.done {
		return nil
	}
	w.done = true
	s := w.s
	s.mu.Lock()
	_ = s.maybeAddTimeEntryLocked()
	idx, tidx := encodeOffsetIndex(s.idx), encodeTimeIndex(s.tidx)
	s.mu.Unlock()
	if err := w.f.Sync(); err != nil {
		return markSync(fmt.Errorf("segment %s: fsync: %w", s.logPath+cleanedSuffix, err))
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("segment %s: close: %w", s.logPath+cleanedSuffix, err)
	}
	w.f = nil
	for _, x := range []struct {
		path string
		b    []byte
	}{{s.idxPath + cleanedSuffix, idx}, {s.tidxPath + cleanedSuffix, tidx}} {
		if err := writeSynced(w.l.fs, x.path, x.b); err != nil {
			return err
		}
	}
	return nil
}

// Abort closes and removes the writer's files.
func (w *CleanedWriter) Abort() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	w.done = true
	for _, p := range w.paths() {
		_ = w.l.fs.Remove(p + cleanedSuffix)
		_ = w.l.fs.Remove(p + swapSuffix)
	}
}

func (w *CleanedWriter) paths() []string { return []string{w.s.logPath, w.s.idxPath, w.s.tidxPath} }

func writeSynced(fsys FS, path string, b []byte) error {
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("segment: cannot create %q: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("segment: cannot write %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return markSync(fmt.Errorf("segment: cannot fsync %q: %w", path, err))
	}
	return f.Close()
}

// CleanHook, when set (tests), is called at each step of ReplaceSegments with its name
// ("swap", "commit", "rename", "done"); a non-nil error stops the swap there as a crash
// would (the files are left as they are; the log must be abandoned and reopened).
var CleanHook func(step string) error

// errCleanHook marks a stop requested by CleanHook.
var errCleanHook = errors.New("segment: clean stopped by hook")

// ReplaceSegments swaps the finished cleaned segments ws in for the run of sealed
// segments starting at oldBases[0] (oldBases are their base offsets, ascending,
// consecutive in the log). The cleaned segments must start at oldBases[0], ascend, and
// end at or before the base of the segment after the run. Steps and recovery: see the
// comment at the top of this file. An error before the commit point leaves the log as it
// was (the .cleaned/.swap files are removed); an error after it fences the log (reopen
// recovers the swap).
func (l *Log) ReplaceSegments(oldBases []int64, ws []*CleanedWriter) (err error) {
	l.materialise() // before mu, not to hold up Append (lazy.go)
	l.mu.Lock()
	defer l.mu.Unlock()
	abort := func(err error) error {
		for _, w := range ws {
			w.Abort()
		}
		return err
	}
	if err := l.writableLocked(); err != nil {
		return abort(err)
	}
	if len(oldBases) == 0 || len(ws) == 0 {
		return abort(fmt.Errorf("segment: nothing to replace in %q", l.dir))
	}
	segs := l.snapshot()
	i := slices.IndexFunc(segs, func(s *segment) bool { return s.base == oldBases[0] })
	j := i + len(oldBases)
	if i < 0 || j >= len(segs) { // the active segment is never replaced
		return abort(fmt.Errorf("segment: segments from %d are not a sealed run of %q", oldBases[0], l.dir))
	}
	for k, b := range oldBases {
		if segs[i+k].base != b || !segs[i+k].sealed.Load() {
			return abort(fmt.Errorf("segment: segment %d is not a sealed segment of %q", b, l.dir))
		}
	}
	end := segs[j].base
	for k, w := range ws {
		if !w.done {
			return abort(fmt.Errorf("segment: cleaned segment %d not finished", w.s.base))
		}
		limit := end
		if k+1 < len(ws) {
			limit = ws[k+1].s.base
		}
		if (k == 0 && w.s.base != oldBases[0]) || (k > 0 && w.s.base <= ws[k-1].s.base) || w.next > limit {
			return abort(fmt.Errorf("segment: cleaned segment %d does not fit [%d, %d) of %q", w.s.base, oldBases[0], end, l.dir))
		}
	}
	hook := func(step string) error {
		if CleanHook != nil {
			if err := CleanHook(step); err != nil {
				return fmt.Errorf("%w at %s", errCleanHook, step)
			}
		}
		return nil
	}

	// 2. .cleaned -> .swap
	if err := hook("swap"); err != nil {
		return err
	}
	for _, w := range ws {
		for _, p := range w.paths() {
			if err := l.fs.Rename(p+cleanedSuffix, p+swapSuffix); err != nil {
				return abort(fmt.Errorf("segment: cannot rename %q: %w", p+cleanedSuffix, err))
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return abort(markSync(fmt.Errorf("segment: cannot sync directory %q: %w", l.dir, err)))
	}
	// 3. the commit point
	if err := hook("commit"); err != nil {
		return err
	}
	if end > l.cleanedBelow.Load() {
		// Before the commit point: a rolled-back swap leaves it too high, which only
		// means that some uncleaned segments are read as cleaned ones may be.
		if err := WriteFileAtomic(l.fs, joinPath(l.dir, cleanedOffsetFile), []byte("0\n"+strconv.FormatInt(end, 10)+"\n"), 0o644); err != nil {
			l.removeTmp(cleanedOffsetFile)
			return abort(err)
		}
		l.cleanedBelow.Store(end)
	}
	newBases := make([]int64, len(ws))
	for k, w := range ws {
		newBases[k] = w.s.base
	}
	if err := WriteFileAtomic(l.fs, joinPath(l.dir, CleanerSwapFile), encodeSwap(oldBases, newBases), 0o644); err != nil {
		l.removeTmp(CleanerSwapFile)
		return abort(err)
	}
	// 4. from here on, recovery rolls forward: any failure fences the log.
	if err := hook("rename"); err != nil {
		return l.fence(err)
	}
	old := segs[i:j]
	for _, s := range old {
		l.markGone(s) // a reader must not reopen the path, which the new file takes
	}
	var fresh []*segment
	for k, w := range ws {
		s := w.s
		next := end
		if k+1 < len(ws) {
			next = ws[k+1].s.base
		}
		s.next.Store(next)
		s.publishTail()
		s.sealed.Store(true)
		s.files = l.files
		mod := w.modified
		if mod.IsZero() {
			mod = time.Now()
		}
		s.created.Store(mod.UnixNano())
		s.modified.Store(mod.UnixNano())
		fresh = append(fresh, s)
	}
	for _, s := range old {
		for _, p := range []string{s.logPath, s.idxPath, s.tidxPath} {
			if err := l.fs.Rename(p, p+deletedSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return l.fence(fmt.Errorf("segment: cannot rename %q: %w", p, err))
			}
		}
	}
	for _, w := range ws {
		for _, p := range w.paths() {
			if err := l.fs.Rename(p+swapSuffix, p); err != nil {
				return l.fence(fmt.Errorf("segment: cannot rename %q: %w", p+swapSuffix, err))
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fence(markSync(fmt.Errorf("segment: cannot sync directory %q: %w", l.dir, err)))
	}
	// Publish: the figures and the time search start over (they only know head drops
	// and tail appends).
	next := make([]*segment, 0, len(segs)-len(old)+len(fresh))
	next = append(append(append(next, segs[:i]...), fresh...), segs[j:]...)
	l.timeMu.Lock()
	l.totalsMu.Lock()
	l.totalsState.sealed = nil
	l.timeSearch.sealed, l.timeSearch.snap = nil, nil
	l.publish(next)
	l.totalsMu.Unlock()
	l.timeMu.Unlock()
	now := time.Now()
	for _, s := range old {
		l.retired = append(l.retired, retiredSegment{seg: s, at: now})
	}
	if err := hook("done"); err != nil {
		return l.fence(err)
	}
	var errs []error
	for _, s := range old {
		for _, p := range []string{s.logPath, s.idxPath, s.tidxPath} {
			if err := l.fs.Remove(p + deletedSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := l.fs.Remove(joinPath(l.dir, CleanerSwapFile)); err != nil {
		errs = append(errs, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		errs = append(errs, markSync(err))
	}
	if err := errors.Join(errs...); err != nil {
		return l.fence(fmt.Errorf("segment: cannot finish segment swap in %q: %w", l.dir, err))
	}
	return nil
}

// markGone makes later reads of s that need to open its file fail as deleted (a file it
// already has open stays readable until it is retired).
func (l *Log) markGone(s *segment) {
	c := l.files.c
	c.mu.Lock()
	s.gone = true
	c.mu.Unlock()
}

func encodeSwap(oldBases, newBases []int64) []byte {
	var b strings.Builder
	b.WriteString("0\n")
	for _, bases := range [][]int64{oldBases, newBases} {
		for k, x := range bases {
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatInt(x, 10))
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func decodeSwap(b []byte) (oldBases, newBases []int64, err error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) < 3 || lines[0] != "0" {
		return nil, nil, fmt.Errorf("segment: %s: bad format: %w", CleanerSwapFile, ErrCorrupt)
	}
	parse := func(line string) ([]int64, error) {
		var out []int64
		for f := range strings.FieldsSeq(line) {
			x, err := strconv.ParseInt(f, 10, 64)
			if err != nil || x < 0 {
				return nil, fmt.Errorf("segment: %s: bad offset %q: %w", CleanerSwapFile, f, ErrCorrupt)
			}
			out = append(out, x)
		}
		return out, nil
	}
	if oldBases, err = parse(lines[1]); err != nil {
		return nil, nil, err
	}
	if newBases, err = parse(lines[2]); err != nil {
		return nil, nil, err
	}
	return oldBases, newBases, nil
}

// finishSwap completes or rolls back a segment swap a crash interrupted (see the top of
// this file). It runs at Open before the directory is looked at, and reports whether it
// changed anything (then the clean-shutdown summary cannot be trusted).
func finishSwap(fsys FS, dir string, logger interface{ Warn(string, ...any) }) (bool, error) {
	commit := joinPath(dir, CleanerSwapFile)
	data, err := ReadFile(fsys, commit)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // rolled back, if at all, by tidyDir: it removes .cleaned and .swap files
	}
	if err != nil {
		return false, fmt.Errorf("segment: cannot read %q: %w", commit, err)
	}
	oldBases, newBases, err := decodeSwap(data)
	if err != nil {
		return false, err
	}
	exists := func(p string) bool { _, err := fsys.Stat(p); return err == nil }
	for _, b := range oldBases {
		p := segmentPathPrefix(dir, b)
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if slices.Contains(newBases, b) && !exists(p+suf+swapSuffix) {
				continue // already the new file
			}
			for _, q := range []string{p + suf, p + suf + deletedSuffix} {
				if err := fsys.Remove(q); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return true, fmt.Errorf("segment: cannot remove %q: %w", q, err)
				}
			}
		}
	}
	for _, b := range newBases {
		p := segmentPathPrefix(dir, b)
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if exists(p + suf + swapSuffix) {
				if err := fsys.Rename(p+suf+swapSuffix, p+suf); err != nil {
					return true, fmt.Errorf("segment: cannot rename %q: %w", p+suf+swapSuffix, err)
				}
			}
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return true, fmt.Errorf("segment: cannot sync directory %q: %w", dir, err)
	}
	if err := fsys.Remove(commit); err != nil {
		return true, fmt.Errorf("segment: cannot remove %q: %w", commit, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return true, fmt.Errorf("segment: cannot sync directory %q: %w", dir, err)
	}
	logger.Warn("finished a segment swap interrupted by a crash", "dir", dir, "old", oldBases, "new", newBases)
	return true, nil
}

// WriteAuxFile atomically replaces the file name in the log's directory (a checkpoint of
// a package that composes the log, such as the cleaner's) on the log's filesystem.
func (l *Log) WriteAuxFile(name string, data []byte) error {
	return WriteFileAtomic(l.fs, joinPath(l.dir, name), data, 0o644)
}

// ReadAuxFile reads the file name in the log's directory (fs.ErrNotExist if missing).
func (l *Log) ReadAuxFile(name string) ([]byte, error) { return ReadFile(l.fs, joinPath(l.dir, name)) }

// readCleanedOffset reads cleaned-offset (0 if missing or damaged: no segment may skip
// offsets, and a cleaned one fails its reads past a gap rather than serving wrong data).
func readCleanedOffset(fsys FS, dir string) int64 {
	b, err := ReadFile(fsys, joinPath(dir, cleanedOffsetFile))
	if err != nil {
		return 0
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 || lines[0] != "0" {
		return 0
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
