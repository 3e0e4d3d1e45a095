package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Open opens or creates the log in dir, recovering the tail after an unclean shutdown.
//
// Recovery, in order:
//  1. Take (and durably remove) the clean-shutdown marker, with its summary of the sealed
//     segments and the base of the active one (summary.go). With such a summary the segments
//     are the ones it names and the directory is not listed (the cost of listing a directory
//     of 100,000 segments was a quarter of a broker's start-up). Otherwise list it: remove
//     leftovers of interrupted deletions (*.deleted) and atomic writes (*.tmp), and index
//     files without a .log.
//  2. Sealed segments (all but the newest) were fsynced with their indexes when sealed. After
//     a clean shutdown, one the summary names (same base, same successor) is taken from it
//     with no system call, and its indexes are checked (rebuilt if damaged) on first use,
//     before any lookup uses them. When the summary names every sealed segment (no gap),
//     they are not even made into segments: they stay summary records until something
//     needs them (lazy.go). Any other sealed segment is trusted after a cheap
//     sanity check of each index (length a multiple of the entry size, last
//     entry inside the segment, and after an unclean shutdown the batch it names really starts
//     there). An index that is missing or fails the check is rebuilt by walking the batch
//     headers. The .log files are not opened (files.go opens them on first read), so a log of
//     100,000 segments opens without 100,000 file descriptors.
//  3. The newest segment may have a torn or unsynced tail: keep the longest prefix of its offset
//     index whose last entry names a valid batch, and scan from that entry to the end of the file
//     checking length, magic, CRC-32C and offset continuity of every batch, re-indexing as it
//     goes. The cost is proportional to the unindexed tail, not to the log.
//  4. Cut the file at the first bad batch (the cut bytes are kept in <name>.log.broken), rewrite
//     its indexes, fsync.
//  5. Read the log start offset checkpoint and reconcile it with the segments.
//  6. Report what was found and cut (RecoveryReport) and log it once.
func Open(dir string, cfg Config) (*Log, RecoveryReport, error) {
	rep := RecoveryReport{TruncatedAt: -1}
	if err := cfg.Validate(); err != nil {
		return nil, rep, err
	}
	cfg = cfg.withDefaults()
	l := &Log{dir: dir, cfg: cfg, fs: cfg.FS, logger: cfg.Logger}
	l.files = newLogFiles(l.fs, cfg)
	if _, err := l.fs.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := l.fs.MkdirAll(dir, 0o755); err != nil {
			return nil, rep, fmt.Errorf("segment: cannot create %q: %w", dir, err)
		}
		if err := l.fs.SyncDir(filepath.Dir(dir)); err != nil {
			return nil, rep, fmt.Errorf("segment: cannot sync directory %q: %w", filepath.Dir(dir), err)
		}
	} else if err != nil {
		return nil, rep, fmt.Errorf("segment: cannot stat %q: %w", dir, err)
	}
	if _, err := finishSwap(l.fs, dir, l.logger); err != nil { // clean.go
		return nil, rep, err
	}
	l.cleanedBelow.Store(readCleanedOffset(l.fs, dir))
	clean, recs, active, err := takeCleanMarker(l.fs, dir)
	if err != nil {
		return nil, rep, err
	}
	rep.CleanShutdown = clean

	// A gapless summary's sealed segments stay records until needed (lazy.go): only the
	// active segment is opened.
	var (
		lazy    *lazySealed
		summary []segSummary // the records, decoded, when they are not lazy
		bases   []int64
	)
	if active >= 0 && recs.len() > 0 && l.logFilesExist(recs.baseAt(0), active) {
		check := &lazyCheck{interval: int64(l.cfg.IndexIntervalBytes), logger: l.logger}
		if lazy = newLazySealed(recs, active, check); lazy != nil {
			bases = []int64{active}
		}
	}
	if lazy == nil {
		summary = recs.all()
		bases = l.summarisedBases(summary, active)
	}
	if bases == nil {
		var others []string
		if bases, others, err = l.tidyDir(); err != nil {
			return nil, rep, err
		}
		rep.OtherFiles = others
	}
	ckpt, haveCkpt, err := readLogStart(l.fs, dir)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			return nil, rep, err
		}
		l.logger.Warn("ignoring damaged log start checkpoint", "dir", dir, "err", err)
		haveCkpt = false
	}

	var segs []*segment
	fail := func(err error) (*Log, RecoveryReport, error) {
		for _, s := range segs {
			s.close()
		}
		l.files.close()
		return nil, rep, err
	}
	if len(bases) > 0 {
		sealed, err := l.openAllSealed(bases, clean, summary, &rep)
		segs = sealed
		if err != nil {
			return fail(err)
		}
		s, err := l.recoverActive(bases[len(bases)-1], &rep)
		if err != nil {
			return fail(err)
		}
		segs = append(segs, s)
	}
	rep.Segments = len(segs)
	if lazy != nil {
		rep.Segments += lazy.recs.len()
	}

	// A checkpoint beyond the log end (a log restarted for a restore, or data lost after the
	// checkpoint was written) restarts the log at the checkpoint: offsets below the log start
	// are never handed out again.
	if n := len(segs); n > 0 && haveCkpt && ckpt > segs[n-1].next.Load() {
		if lazy != nil {
			segs = append(lazy.build(l), segs...)
			lazy = nil
		}
		l.logger.Warn("log start checkpoint beyond the log end; restarting the log there", "dir", dir,
			"checkpoint", ckpt, "next_offset", segs[n-1].next.Load())
		old := segs
		segs = nil
		for _, s := range old {
			s.close()
			if err := l.removeSegmentFiles(s); err != nil {
				return fail(err)
			}
		}
	}
	if len(segs) == 0 {
		base := int64(0)
		if haveCkpt {
			base = ckpt
		}
		s, err := l.createSegment(base)
		if err != nil {
			return fail(err)
		}
		segs = append(segs, s)
		rep.Segments = 1
	}
	act := segs[len(segs)-1]
	next := act.next.Load()
	start := segs[0].base
	if lazy != nil {
		start = lazy.recs.baseAt(0)
	}
	if haveCkpt && ckpt > start {
		start = ckpt
	}
	l.files.opened()
	l.segs.Store(&segSnapshot{segs: segs, lazy: lazy})
	l.logStart.Store(start)
	l.next.Store(next)
	l.durable.Store(next)

	attrs := []any{"dir", dir, "segments", rep.Segments, "next_offset", next, "log_start_offset", start,
		"clean_shutdown", rep.CleanShutdown, "recovered_bytes", rep.RecoveredBytes,
		"truncated_bytes", rep.TruncatedBytes, "truncated_at", rep.TruncatedAt, "rebuilt_indexes", rep.RebuiltIndexes}
	if rep.TruncatedBytes > 0 || rep.RebuiltIndexes > 0 || !rep.CleanShutdown {
		l.logger.Info("segment log recovered", attrs...)
	} else {
		l.logger.Debug("segment log opened", attrs...)
	}

	if cfg.FlushMessages > 0 || cfg.FlushInterval > 0 {
		l.flushKick = make(chan struct{}, 1)
		l.flushStop = make(chan struct{})
		l.flushDone = make(chan struct{})
		go l.flushLoop()
	}
	return l, rep, nil
}

// tidyDir removes leftovers and returns the base offsets of the .log files, ascending, and
// the names of the other regular files (RecoveryReport.OtherFiles).
func (l *Log) tidyDir() ([]int64, []string, error) {
	entries, err := readDirUnsorted(l.fs, l.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("segment: cannot list %q: %w", l.dir, err)
	}
	var bases []int64
	others := []string{}
	logs := map[int64]bool{}
	var indexes []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(name, deletedSuffix) || strings.HasSuffix(name, tmpSuffix) ||
			strings.HasSuffix(name, cleanedSuffix) || strings.HasSuffix(name, swapSuffix): // clean.go: an uncommitted swap
			if err := l.fs.Remove(joinPath(l.dir, name)); err != nil {
				return nil, nil, fmt.Errorf("segment: cannot remove %q: %w", name, err)
			}
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseBase(name, logSuffix); ok {
				bases = append(bases, base)
				logs[base] = true
			}
		case strings.HasSuffix(name, indexSuffix) || strings.HasSuffix(name, timeIndexSuffix):
			indexes = append(indexes, name)
		case name == logStartFile || name == cleanMarkerFile || name == CleanerSwapFile || name == cleanedOffsetFile:
		default:
			others = append(others, name)
		}
	}
	for _, name := range indexes {
		base, ok := parseBase(name, indexSuffix)
		if !ok {
			base, ok = parseBase(name, timeIndexSuffix)
		}
		if ok && !logs[base] {
			if err := l.fs.Remove(joinPath(l.dir, name)); err != nil {
				return nil, nil, fmt.Errorf("segment: cannot remove orphan %q: %w", name, err)
			}
		}
	}
	slices.Sort(bases)
	return bases, others, nil
}

// summarisedBases returns the base offsets of the segments a v2 clean-shutdown summary
// names (its sealed segments, then the active one), or nil when Open must list the
// directory: no such summary, or the oldest or the active segment's .log is missing (files
// removed while the log was closed; the listing finds what is left).
func (l *Log) summarisedBases(summary []segSummary, active int64) []int64 {
	if active < 0 || summary == nil {
		return nil
	}
	bases := make([]int64, len(summary)+1)
	for i := range summary {
		bases[i] = summary[i].base
	}
	bases[len(summary)] = active
	if !l.logFilesExist(bases[0], active) {
		return nil
	}
	return bases
}

// logFilesExist reports whether the .log files of the segments at these bases exist.
func (l *Log) logFilesExist(bases ...int64) bool {
	for _, base := range bases {
		if _, err := l.fs.Stat(segmentPathPrefix(l.dir, base) + logSuffix); err != nil {
			return false
		}
	}
	return true
}

// readDirUnsorted lists dir; on the OS filesystem without sorting the names, which FS.ReadDir
// promises and tidyDir does not need (it sorts the base offsets): sorting 300,000 names was
// a sixth of opening a log of 100,000 segments.
func readDirUnsorted(fsys FS, dir string) ([]fs.DirEntry, error) {
	if _, ok := fsys.(OSFS); !ok {
		return fsys.ReadDir(dir)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

func parseBase(name, suffix string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// openSealedParallel is the number of sealed segments from which Open checks them with
// several goroutines: the cost is a few file lookups per segment, mostly in the kernel, and
// a long history (100,000 segments) otherwise keeps one core busy for seconds.
var openSealedParallel = 256

// openAllSealed opens every segment but the newest (bases ascending): from the clean-shutdown
// summary where it names the segment, otherwise by checking its files, in parallel for a
// long log. On error it returns the segments it opened (for the caller to close).
func (l *Log) openAllSealed(bases []int64, clean bool, summary []segSummary, rep *RecoveryReport) ([]*segment, error) {
	n := len(bases) - 1
	segs := make([]*segment, n)
	var todo []int // indexes into bases of the segments the summary does not name
	if len(summary) > 0 {
		check := &lazyCheck{interval: int64(l.cfg.IndexIntervalBytes), logger: l.logger}
		match := make([]int, n) // index into summary of the record for bases[i], or -1
		matched := make([]int64, 0, n)
		j := 0
		for i := range n {
			for j < len(summary) && summary[j].base < bases[i] {
				j++
			}
			match[i] = -1
			if j < len(summary) && summary[j].base == bases[i] && summary[j].next == bases[i+1] {
				match[i] = j
				matched = append(matched, bases[i])
				continue
			}
			todo = append(todo, i)
		}
		slab := newSummarySlab(l.dir, matched)
		for i, j := range match {
			if j >= 0 {
				segs[i] = l.openSummarised(summary[j], check, slab)
			}
		}
	} else {
		todo = make([]int, n)
		for i := range todo {
			todo[i] = i
		}
	}
	workers := 1
	if len(todo) >= openSealedParallel {
		workers = min(4, max(2, runtime.GOMAXPROCS(0)))
	}
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errs    = make([]error, workers)
		rebuilt = make([]RecoveryReport, workers)
	)
	for w := range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(todo) {
					return
				}
				i := todo[k]
				s, err := l.openSealed(bases[i], bases[i+1], clean, &rebuilt[w])
				if err != nil {
					errs[w] = err
					next.Store(int64(len(todo))) // stop the others
					return
				}
				segs[i] = s
			}
		})
	}
	wg.Wait()
	for w := range workers {
		rep.RebuiltIndexes += rebuilt[w].RebuiltIndexes
	}
	if err := errors.Join(errs...); err != nil {
		opened := segs[:0]
		for _, s := range segs {
			if s != nil {
				opened = append(opened, s)
			}
		}
		return opened, err
	}
	return segs, nil
}

// openSealed opens a segment that is followed by another one (so it was sealed and fsynced).
// Its .log is not opened (files.go opens it on first read); after a clean shutdown the
// sanity check does not read the batch the last index entry names either.
func (l *Log) openSealed(base, nextBase int64, clean bool, rep *RecoveryReport) (*segment, error) {
	s := newSegment(l.fs, l.dir, base)
	s.files = l.files // opened lazily: no file descriptor per sealed segment
	s.mayGap.Store(nextBase <= l.cleanedBelow.Load())
	st, err := l.fs.Stat(s.logPath)
	if err != nil {
		return nil, fmt.Errorf("segment: cannot stat %q: %w", s.logPath, err)
	}
	s.size.Store(st.Size())
	s.next.Store(nextBase)
	s.publishTail()
	s.sealed.Store(true)
	if st.Size() > 0 {
		s.created.Store(st.ModTime().UnixNano())
		s.modified.Store(st.ModTime().UnixNano())
	}
	ok, err := s.sanityCheckIndexes(clean)
	if err != nil {
		s.close()
		return nil, err
	}
	if ok {
		return s, nil
	}
	// Rebuild both indexes from the batch headers.
	s.loaded = true
	end, next, scanErr := s.scan(0, base, st.Size(), false, int64(l.cfg.IndexIntervalBytes))
	if scanErr != nil && !errors.Is(scanErr, ErrCorrupt) {
		s.close()
		return nil, scanErr
	}
	if scanErr == nil && (next > nextBase || (next != nextBase && !s.mayGap.Load())) { // next < nextBase: a cleaned segment's trailing gap
		scanErr = s.corruptf(end, "offsets not contiguous: the batches end at offset %d, the next segment starts at %d", next-1, nextBase)
	}
	if scanErr != nil {
		l.logger.Warn("sealed segment has a corrupt batch; reads past it fail", "segment", s.logPath, "position", end, "err", scanErr)
	}
	s.mu.Lock()
	_ = s.maybeAddTimeEntryLocked()
	s.mu.Unlock()
	if err := s.writeIndexes(); err != nil {
		s.close()
		return nil, err
	}
	rep.RebuiltIndexes++
	l.logger.Warn("rebuilt index of sealed segment", "segment", s.logPath)
	return s, nil
}

// sanityCheckIndexes checks a sealed segment's index files cheaply and sets maxTs from the
// last time index entry. ok=false means they must be rebuilt. After a clean shutdown
// (trusted) the batch the last offset index entry names is not read, so the .log is not
// opened.
func (s *segment) sanityCheckIndexes(trusted bool) (ok bool, err error) {
	size := s.size.Load()
	span := s.next.Load() - s.base
	idx, err := readTail(s.fs, s.idxPath, offsetEntrySize)
	if err != nil {
		return false, nil
	}
	tidx, err := readTail(s.fs, s.tidxPath, timeEntrySize)
	if err != nil {
		return false, nil
	}
	if len(idx) > 0 {
		es, _ := decodeOffsetIndex(idx, size)
		if len(es) != 1 || int64(es[0].rel) >= span {
			return false, nil
		}
		if !trusted {
			var buf [BatchHeaderSize]byte
			h, err := s.readHeader(int64(es[0].pos), size, &buf)
			if err != nil || h.BaseOffset != s.base+int64(es[0].rel) {
				return false, nil
			}
		}
	}
	if len(tidx) > 0 {
		es, _ := decodeTimeIndex(tidx, span)
		if len(es) != 1 {
			return false, nil
		}
		s.setMax(es[0].ts, s.base+int64(es[0].rel))
	} else if size > 0 {
		// No time entry: every batch had a negative max timestamp, or the index is lost.
		// Walking the headers tells which; this is rare, so pay for it.
		return false, nil
	}
	return true, nil
}

// readTail returns the last entry of an index file, nil for an empty file, or an error if
// the file is missing or its length is not a multiple of entrySize.
func readTail(fsys FS, path string, entrySize int64) ([]byte, error) {
	if _, ok := fsys.(OSFS); ok {
		return readTailOS(path, entrySize)
	}
	return readTailFS(fsys, path, entrySize)
}

func readTailFS(fsys FS, path string, entrySize int64) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size()%entrySize != 0 {
		return nil, fmt.Errorf("segment: index %q has a partial entry: %w", path, ErrCorrupt)
	}
	if st.Size() == 0 {
		return nil, nil
	}
	b := make([]byte, entrySize)
	if _, err := f.ReadAt(b, st.Size()-entrySize); err != nil {
		return nil, err
	}
	return b, nil
}

// recoverActive opens the newest segment, validates its tail and cuts what is torn.
func (l *Log) recoverActive(base int64, rep *RecoveryReport) (*segment, error) {
	s := newSegment(l.fs, l.dir, base)
	var err error
	if s.log, err = l.fs.OpenFile(s.logPath, os.O_RDWR, 0); err != nil {
		return nil, fmt.Errorf("segment: cannot open %q: %w", s.logPath, err)
	}
	st, err := s.log.Stat()
	if err != nil {
		s.close()
		return nil, fmt.Errorf("segment: cannot stat %q: %w", s.logPath, err)
	}
	size := st.Size()
	if size > 0 {
		s.created.Store(st.ModTime().UnixNano())
		s.modified.Store(st.ModTime().UnixNano())
	}
	idxOnDisk, idxErr := readWholeFile(l.fs, s.idxPath)
	tidxOnDisk, tidxErr := readWholeFile(l.fs, s.tidxPath)
	if idxErr != nil && !errors.Is(idxErr, fs.ErrNotExist) {
		s.close()
		return nil, fmt.Errorf("segment: cannot read %q: %w", s.idxPath, idxErr)
	}
	if tidxErr != nil && !errors.Is(tidxErr, fs.ErrNotExist) {
		s.close()
		return nil, fmt.Errorf("segment: cannot read %q: %w", s.tidxPath, tidxErr)
	}

	start, expect, err := s.recoveryStart(idxOnDisk, tidxOnDisk, size)
	if err != nil {
		s.close()
		return nil, err
	}
	s.loaded = true
	end, next, scanErr := s.scan(start, expect, size, true, int64(l.cfg.IndexIntervalBytes))
	rep.RecoveredBytes += size - start
	if scanErr != nil && !errors.Is(scanErr, ErrCorrupt) {
		s.close()
		return nil, scanErr
	}
	if end < size {
		if err := l.cutTail(s, end, size); err != nil {
			s.close()
			return nil, err
		}
		rep.TruncatedBytes += size - end
		rep.TruncatedAt = next
		l.logger.Warn("truncated torn or corrupt segment tail", "segment", s.logPath, "position", end,
			"bytes", size-end, "next_offset", next, "err", scanErr)
	}
	s.size.Store(end)
	s.next.Store(next)
	s.publishTail()

	if !bytes.Equal(encodeOffsetIndex(s.idx), idxOnDisk) || !bytes.Equal(encodeTimeIndex(s.tidx), tidxOnDisk) || idxErr != nil || tidxErr != nil {
		if err := s.writeIndexes(); err != nil {
			s.close()
			return nil, err
		}
		rep.RebuiltIndexes++
	}
	const flag = os.O_RDWR
	if s.idxFile, err = l.fs.OpenFile(s.idxPath, flag, 0o644); err == nil {
		s.tidxFile, err = l.fs.OpenFile(s.tidxPath, flag, 0o644)
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("segment: cannot open index of %q: %w", s.logPath, err)
	}
	// Bytes a crashed process left in the page cache are not yet durable.
	if err := s.log.Sync(); err != nil {
		s.close()
		return nil, fmt.Errorf("segment: cannot fsync %q: %w", s.logPath, err)
	}
	return s, nil
}

// recoveryStart decides where the tail scan of the newest segment begins: at the last offset
// index entry that names a valid batch. It loads the kept index entries into s together with
// the running max timestamp at that point.
func (s *segment) recoveryStart(idxOnDisk, tidxOnDisk []byte, size int64) (pos, expect int64, err error) {
	idx, _ := decodeOffsetIndex(idxOnDisk, size)
	var buf [BatchHeaderSize]byte
	for len(idx) > 0 {
		e := idx[len(idx)-1]
		h, err := s.readHeader(int64(e.pos), size, &buf)
		if err == nil && h.BaseOffset == s.base+int64(e.rel) {
			break
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return 0, 0, err
		}
		idx = idx[:len(idx)-1]
	}
	pos, expect = 0, s.base
	if len(idx) > 0 {
		pos, expect = int64(idx[len(idx)-1].pos), s.base+int64(idx[len(idx)-1].rel)
	}
	// Time entries up to the batch at pos are kept; one naming that batch must agree with it.
	tidx, _ := decodeTimeIndex(tidxOnDisk, expect-s.base+1)
	if n := len(tidx); n > 0 && s.base+int64(tidx[n-1].rel) == expect {
		h, err := s.readHeader(pos, size, &buf)
		if err != nil || h.MaxTimestamp != tidx[n-1].ts {
			tidx = tidx[:n-1]
		}
	}
	// The running max at pos: the last kept time entry, then the headers between the batch it
	// names and pos (their entries may have been lost with an unsynced time index).
	maxTs, maxOff, walk := int64(-1), int64(-1), int64(0)
	if len(tidx) > 0 {
		te := tidx[len(tidx)-1]
		maxTs, maxOff = te.ts, s.base+int64(te.rel)
		walk = int64(floorByOffset(idx, te.rel).pos)
	}
	// Index points on the way get the time entries they had when appended (if lost).
	j := sort.Search(len(idx), func(i int) bool { return int64(idx[i].pos) >= walk })
	for walk < pos {
		h, err := s.readHeader(walk, size, &buf)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return 0, 0, err
			}
			// The indexed prefix is not walkable: scan the whole segment.
			idx, tidx, pos, expect, maxTs, maxOff = nil, nil, 0, s.base, -1, -1
			break
		}
		if h.MaxTimestamp > maxTs {
			maxTs, maxOff = h.MaxTimestamp, h.BaseOffset
		}
		if j < len(idx) && int64(idx[j].pos) == walk {
			if maxTs >= 0 && (len(tidx) == 0 || maxTs > tidx[len(tidx)-1].ts) {
				tidx = append(tidx, timeEntry{ts: maxTs, rel: uint32(maxOff - s.base)})
			}
			j++
		}
		walk += h.Size()
	}
	s.idx, s.tidx = idx, tidx
	s.setMax(maxTs, maxOff)
	return pos, expect, nil
}

// scan walks the batches from pos, the first of which must have base offset expect, up to
// limit, indexing each in memory. verify reads whole batches and checks them (CRC-32C,
// counts); otherwise only headers are checked. It stops at the first bad batch and returns
// its position and an ErrCorrupt error; I/O errors are returned as they are.
func (s *segment) scan(pos, expect, limit int64, verify bool, interval int64) (end, next int64, err error) {
	var hbuf [BatchHeaderSize]byte
	var body []byte
	for pos < limit {
		h, err := s.readHeader(pos, limit, &hbuf)
		if err != nil {
			return pos, expect, err
		}
		// A cleaned sealed segment has gaps between batches (clean.go); the active
		// segment (verify) never has.
		if h.BaseOffset < expect || (h.BaseOffset != expect && (verify || !s.mayGap.Load())) {
			return pos, expect, s.corruptf(pos, "base offset %d, expected %d", h.BaseOffset, expect)
		}
		if h.LastOffset()-s.base > int64(^uint32(0)) {
			return pos, expect, s.corruptf(pos, "last offset %d too far from the segment base", h.LastOffset())
		}
		if verify {
			if int64(cap(body)) < h.Size() {
				body = make([]byte, h.Size())
			}
			body = body[:h.Size()]
			if _, err := s.log.ReadAt(body, pos); err != nil {
				return pos, expect, fmt.Errorf("segment %s: read batch at %d: %w", s.logPath, pos, err)
			}
			if _, err := parseBatch(body, false); err != nil {
				return pos, expect, s.corruptf(pos, "%v", err)
			}
		}
		if err := s.indexBatchLocked(pos, &h, interval); err != nil {
			return pos, expect, err
		}
		pos += h.Size()
		expect = h.LastOffset() + 1
	}
	return pos, expect, nil
}

// cutTail keeps bytes [end, size) in <log>.broken and truncates the log to end.
func (l *Log) cutTail(s *segment, end, size int64) error {
	if err := l.keepBroken(s, end, size); err != nil {
		l.logger.Warn("cannot keep the cut tail", "segment", s.logPath, "err", err)
	}
	if err := s.log.Truncate(end); err != nil {
		return fmt.Errorf("segment: cannot truncate %q at %d: %w", s.logPath, end, err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("segment: cannot fsync %q: %w", s.logPath, err)
	}
	return nil
}

// keepBroken copies bytes [end, size) of the segment to <log>.broken (atomically, in chunks).
func (l *Log) keepBroken(s *segment, end, size int64) error {
	path := s.logPath + brokenSuffix
	tmp := path + tmpSuffix
	f, err := l.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, io.NewSectionReader(s.log, end, size-end))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(tmp, path)
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	return err
}

func pathBase(p string) string { return filepath.Base(p) }

func encodeOffsetIndex(es []offsetEntry) []byte {
	b := make([]byte, 0, len(es)*offsetEntrySize)
	for _, e := range es {
		b = append(b, encodeOffsetEntry(e)...)
	}
	return b
}

func encodeTimeIndex(es []timeEntry) []byte {
	b := make([]byte, 0, len(es)*timeEntrySize)
	for _, e := range es {
		b = append(b, encodeTimeEntry(e)...)
	}
	return b
}

// writeIndexes replaces both index files with the in-memory entries (atomically).
func (s *segment) writeIndexes() error {
	s.mu.RLock()
	idx, tidx := encodeOffsetIndex(s.idx), encodeTimeIndex(s.tidx)
	s.mu.RUnlock()
	dir := filepath.Dir(s.logPath)
	if err := writeFileAtomic(s.fs, dir, pathBase(s.idxPath), idx); err != nil {
		return err
	}
	return writeFileAtomic(s.fs, dir, pathBase(s.tidxPath), tidx)
}
