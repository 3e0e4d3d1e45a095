package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFenced marks errors returned after a write or fsync failed: the log refuses further
// writes until it is reopened, or until Unfence lifts a fence caused by a full disk (the
// broker answers KAFKA_STORAGE_ERROR meanwhile). The original failure is wrapped too.
var ErrFenced = errors.New("segment: log fenced after a write failure")

const (
	defaultSegmentBytes       = 1 << 30
	defaultIndexIntervalBytes = 4096
	defaultMaxIndexBytes      = 10 << 20
	// retireDelay is how long the file of a deleted segment stays open for readers that
	// still hold a ReadResult of it.
	retireDelay = 30 * time.Second
)

// Validate reports configuration values the log cannot work with.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < 0 || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("segment: SegmentBytes %d out of range [0, %d]", c.SegmentBytes, math.MaxInt32)
	case c.SegmentMs < 0:
		return fmt.Errorf("segment: negative SegmentMs %v", c.SegmentMs)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("segment: negative IndexIntervalBytes %d", c.IndexIntervalBytes)
	case c.MaxIndexBytes < 0:
		return fmt.Errorf("segment: negative MaxIndexBytes %d", c.MaxIndexBytes)
	case c.FlushMessages < 0:
		return fmt.Errorf("segment: negative FlushMessages %d", c.FlushMessages)
	case c.FlushInterval < 0:
		return fmt.Errorf("segment: negative FlushInterval %v", c.FlushInterval)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = defaultSegmentBytes
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = defaultIndexIntervalBytes
	}
	if c.MaxIndexBytes == 0 {
		c.MaxIndexBytes = defaultMaxIndexBytes
	}
	if c.FS == nil {
		c.FS = OSFS{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Log is the local log of one partition: a directory of segments. One writer (Append,
// Roll, retention, SetLogStartOffset, Close) at a time — the log serialises them with mu
// anyway; Read, FindTimestamp, MaxTimestamp, Segments and the offset getters may be called
// concurrently with the writer; WaitDurable and Flush from any goroutine.
//
// Lock order: mu, then matMu, then syncMu, then segment.fileMu, then segment.mu (none is
// held while waiting for another goroutine, except that Close waits for a running fsync).
// matMu is held only by materialise (lazy.go), which takes no other lock of the log.
type Log struct {
	dir    string
	cfg    Config
	fs     FS
	logger *slog.Logger

	files   *logFiles  // sealed segments' files, opened lazily through a FileCache (files.go)
	mu      sync.Mutex // the writer
	closed  bool       // guarded by mu
	retired []retiredSegment

	segs     atomic.Pointer[segSnapshot] // immutable snapshot; its oldest sealed segments may be lazy (lazy.go)
	matMu    sync.Mutex                  // serialises materialise
	logStart atomic.Int64
	// cleanedBelow: sealed segments ending at or below it may be cleaned ones, whose
	// batches may skip offsets (clean.go); persisted in cleaned-offset.
	cleanedBelow atomic.Int64
	next         atomic.Int64
	durable      atomic.Int64
	fenceErr     atomic.Pointer[error]

	// sealedTotals are the size and max timestamp of the snapshot's sealed segments,
	// derived from totalsState under totalsMu when the snapshot changed (totals.go).
	sealedTotals atomic.Pointer[sealedTotals]
	totalsMu     sync.Mutex
	totalsState  totalsState

	// timeSearch finds the first segment reaching a timestamp (timesearch.go).
	timeMu     sync.Mutex // lock order: timeMu, then matMu
	timeSearch timeSearch

	// Group commit.
	syncMu     sync.Mutex
	syncing    bool          // an fsync is running
	syncDone   chan struct{} // closed when the running fsync finishes
	syncClosed bool

	// Index fsyncs run in the background, off the acks=-1 path (see indexSyncBytes).
	idxSyncing atomic.Bool    // a background index fsync runs; set only by syncOnce
	idxSyncWG  sync.WaitGroup // the background index fsync; Close waits for it

	unflushedMsgs  atomic.Int64
	unflushedSince atomic.Int64 // unix nanos of the oldest unflushed append, 0 if none
	flushKick      chan struct{}
	flushStop      chan struct{}
	flushDone      chan struct{}
}

type retiredSegment struct {
	seg *segment
	at  time.Time
}

// snapshot returns the segments of the current snapshot, oldest first, the last one
// active. Older sealed segments may still be lazy (lazy.go): callers that need every
// segment use allSegments, or (the writer, before it deletes from the head) materialise.
func (l *Log) snapshot() []*segment { return l.segs.Load().segs }

func (l *Log) active() *segment {
	s := l.snapshot()
	return s[len(s)-1]
}

// publish replaces the snapshot by segs (the writer, or Open before the log is shared).
// The current snapshot must have no lazy segments: segs would lose them.
func (l *Log) publish(segs []*segment) {
	if p := l.segs.Load(); p != nil && p.lazy != nil {
		panic("segment: publish over lazy sealed segments; materialise first")
	}
	l.segs.Store(&segSnapshot{segs: segs})
}

// LogStartOffset is the first offset readable from this log.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// NextOffset is the offset the next appended record gets (the log end offset). It is what
// the active segment published (see publishTail), so it agrees with the bytes Read returns.
func (l *Log) NextOffset() int64 {
	_, next := l.active().published()
	return next
}

// DurableOffset is the offset below which every record is fsynced.
func (l *Log) DurableOffset() int64 { return l.durable.Load() }

// Size is the number of bytes in all local segment files. Its cost does not grow with
// the number of segments (totals.go).
func (l *Log) Size() int64 {
	t := l.totals()
	segs := t.snap.segs
	return t.bytes + segs[len(segs)-1].size.Load()
}

// Dir is the directory of the log.
func (l *Log) Dir() string { return l.dir }

// Segments returns a snapshot of the segments, oldest first; the last one is active. After
// a clean Open it makes the sealed segments still lazy (lazy.go); callers that need only
// the newest segments or one base use SegmentsFrom or HasSegment.
func (l *Log) Segments() []SegmentInfo {
	segs := l.allSegments()
	out := make([]SegmentInfo, len(segs))
	for i, s := range segs {
		out[i] = s.info()
	}
	return out
}

func (l *Log) fenced() error {
	if p := l.fenceErr.Load(); p != nil {
		return *p
	}
	return nil
}

// fence makes err sticky for all later writes and returns the sticky error.
func (l *Log) fence(err error) error {
	ferr := fmt.Errorf("%w: %w", ErrFenced, err)
	if l.fenceErr.CompareAndSwap(nil, &ferr) {
		l.logger.Error("segment log fenced", "dir", l.dir, "err", err)
	}
	return *l.fenceErr.Load()
}

func (l *Log) writableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.fenced()
}

// Append validates one v2 record batch (header, lengths, count, CRC-32C, magic 2), assigns
// offsets starting at NextOffset (rewriting baseOffset in place in batch), rolls if needed
// and writes it to the active segment (page cache only). batch is owned by the log after
// the call. On a validation error nothing is written; on a write error the log is fenced.
func (l *Log) Append(batch []byte, opts AppendOptions) (BatchInfo, error) {
	h, err := parseBatch(batch, true)
	if err != nil {
		return BatchInfo{}, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return BatchInfo{}, err
	}
	if len(l.retired) > 0 {
		l.reapRetiredLocked(now, false)
	}
	base := l.next.Load()
	if base > math.MaxInt64-int64(h.LastOffsetDelta)-1 {
		return BatchInfo{}, fmt.Errorf("%w: offsets would overflow", ErrInvalidBatch)
	}
	act := l.active()
	if l.shouldRollLocked(act, int64(len(batch)), base+int64(h.LastOffsetDelta), now) {
		if err := l.rollLocked(); err != nil {
			return BatchInfo{}, err
		}
		act = l.active()
	}

	setBaseOffset(batch, base)
	h.BaseOffset = base
	if opts.LogAppendTime {
		h.MaxTimestamp = now.UnixMilli()
		h.Attributes |= attrTimestampType
		setLogAppendTime(batch, h.MaxTimestamp)
	}
	if err := act.appendLocked(batch, &h, now, int64(l.cfg.IndexIntervalBytes)); err != nil {
		return BatchInfo{}, l.fence(err)
	}
	next := h.LastOffset() + 1
	l.next.Store(next)
	if l.unflushedMsgs.Add(int64(h.NumRecords)) == int64(h.NumRecords) {
		l.unflushedSince.Store(now.UnixNano())
	}
	if l.cfg.FlushMessages > 0 && l.unflushedMsgs.Load() >= l.cfg.FlushMessages {
		select {
		case l.flushKick <- struct{}{}:
		default:
		}
	}
	return h.info(), nil
}

func (l *Log) shouldRollLocked(act *segment, size, lastOffset int64, now time.Time) bool {
	cur := act.size.Load()
	if cur == 0 {
		return false
	}
	switch {
	case cur+size > l.cfg.SegmentBytes:
		return true
	case l.cfg.SegmentMs > 0 && act.created.Load() != 0 && now.Sub(unixNanos(act.created.Load())) >= l.cfg.SegmentMs:
		return true
	case lastOffset-act.base > math.MaxInt32:
		return true // relative offsets must fit in the index entries
	case cur+size > math.MaxUint32:
		return true
	}
	act.mu.RLock()
	full := (len(act.idx)+1)*offsetEntrySize > l.cfg.MaxIndexBytes || (len(act.tidx)+1)*timeEntrySize > l.cfg.MaxIndexBytes
	act.mu.RUnlock()
	return full
}

// appendLocked writes batch at the end of the active segment, adds index entries and then
// publishes maxTs, then size and next (together, in tail).
func (s *segment) appendLocked(batch []byte, h *BatchHeader, now time.Time, interval int64) error {
	pos := s.size.Load()
	if n, err := s.log.WriteAt(batch, pos); err != nil {
		return fmt.Errorf("segment %s: write batch at %d: %w", s.logPath, pos, err)
	} else if n != len(batch) {
		return fmt.Errorf("segment %s: write batch at %d: %w", s.logPath, pos, io.ErrShortWrite)
	}
	if err := s.indexBatchLocked(pos, h, interval); err != nil {
		return err
	}
	s.size.Store(pos + int64(len(batch)))
	if s.created.Load() == 0 {
		s.created.Store(now.UnixNano())
	}
	s.modified.Store(now.UnixNano())
	s.next.Store(h.LastOffset() + 1)
	s.publishTail()
	return nil
}

// indexBatchLocked updates the running max timestamp and, at index points, appends index
// entries (in memory and to the index files) for the batch at pos. It does not publish.
func (s *segment) indexBatchLocked(pos int64, h *BatchHeader, interval int64) error {
	if h.MaxTimestamp > s.maxMark.Load().ts {
		s.setMax(h.MaxTimestamp, h.BaseOffset)
	}
	if s.bytesSinceIndex > interval {
		if err := s.addIndexEntriesLocked(offsetEntry{rel: uint32(h.BaseOffset - s.base), pos: uint32(pos)}); err != nil {
			return err
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += h.Size()
	return nil
}

// addIndexEntriesLocked appends e to the offset index and, if the running max grew since
// the last time index entry, (maxTs, maxTsOff) to the time index.
func (s *segment) addIndexEntriesLocked(e offsetEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idxFile != nil {
		if _, err := s.idxFile.WriteAt(encodeOffsetEntry(e), int64(len(s.idx))*offsetEntrySize); err != nil {
			return fmt.Errorf("segment %s: write index entry: %w", s.idxPath, err)
		}
	}
	s.idx = append(s.idx, e)
	return s.maybeAddTimeEntryLocked()
}

// maybeAddTimeEntryLocked needs s.mu held.
func (s *segment) maybeAddTimeEntryLocked() error {
	m := s.maxMark.Load()
	ts := m.ts
	if ts < 0 || (len(s.tidx) > 0 && ts <= s.tidx[len(s.tidx)-1].ts) {
		return nil
	}
	te := timeEntry{ts: ts, rel: uint32(m.off - s.base)}
	if s.tidxFile != nil {
		if _, err := s.tidxFile.WriteAt(encodeTimeEntry(te), int64(len(s.tidx))*timeEntrySize); err != nil {
			return fmt.Errorf("segment %s: write time index entry: %w", s.tidxPath, err)
		}
	}
	s.tidx = append(s.tidx, te)
	return nil
}

// seal makes the active segment immutable: a final time index entry, index files trimmed
// to their entries, all three files fsynced, index write handles closed.
func (s *segment) seal() error {
	s.mu.Lock()
	err := s.maybeAddTimeEntryLocked()
	nIdx, nTidx := len(s.idx), len(s.tidx)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.log.Sync(); err != nil {
		return markSync(fmt.Errorf("segment %s: fsync: %w", s.logPath, err))
	}
	for _, x := range []struct {
		f    File
		size int64
	}{{s.idxFile, int64(nIdx) * offsetEntrySize}, {s.tidxFile, int64(nTidx) * timeEntrySize}} {
		if x.f == nil {
			continue
		}
		if err := x.f.Truncate(x.size); err != nil {
			return fmt.Errorf("segment %s: trim index: %w", x.f.Name(), err)
		}
		if err := x.f.Sync(); err != nil {
			return markSync(fmt.Errorf("segment %s: fsync index: %w", x.f.Name(), err))
		}
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	for _, f := range []File{s.idxFile, s.tidxFile} {
		if f != nil {
			if err := f.Close(); err != nil {
				return fmt.Errorf("segment %s: close index: %w", f.Name(), err)
			}
		}
	}
	s.idxFile, s.tidxFile = nil, nil
	s.sealed.Store(true)
	return nil
}

// createSegment creates the three files of a new empty active segment.
func (l *Log) createSegment(base int64) (*segment, error) {
	s := newSegment(l.fs, l.dir, base)
	s.loaded = true
	var err error
	const flag = os.O_RDWR | os.O_CREATE | os.O_TRUNC
	if s.log, err = l.fs.OpenFile(s.logPath, flag, 0o644); err != nil {
		return nil, fmt.Errorf("segment: cannot create %q: %w", s.logPath, err)
	}
	if s.idxFile, err = l.fs.OpenFile(s.idxPath, flag, 0o644); err != nil {
		s.close()
		return nil, fmt.Errorf("segment: cannot create %q: %w", s.idxPath, err)
	}
	if s.tidxFile, err = l.fs.OpenFile(s.tidxPath, flag, 0o644); err != nil {
		s.close()
		return nil, fmt.Errorf("segment: cannot create %q: %w", s.tidxPath, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.close()
		return nil, markSync(fmt.Errorf("segment: cannot sync directory %q: %w", l.dir, err))
	}
	return s, nil
}

// Roll seals the active segment (if non-empty) and starts a new one.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	return l.rollLocked()
}

// MaybeRoll rolls if the active segment is non-empty and older than SegmentMs.
func (l *Log) MaybeRoll(now time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return false, err
	}
	act := l.active()
	if l.cfg.SegmentMs <= 0 || act.size.Load() == 0 || act.created.Load() == 0 ||
		now.Sub(unixNanos(act.created.Load())) < l.cfg.SegmentMs {
		return false, nil
	}
	return true, l.rollLocked()
}

func (l *Log) rollLocked() error {
	act := l.active()
	if act.size.Load() == 0 {
		return nil
	}
	if err := act.seal(); err != nil {
		return l.fence(err)
	}
	l.files.adopt(act) // its file may now be closed for the fd cap (files.go)
	l.advanceDurable(act.next.Load())
	seg, err := l.createSegment(l.next.Load())
	if err != nil {
		return l.fence(err)
	}
	l.publishRolled(seg)
	l.logger.Debug("segment rolled", "dir", l.dir, "sealed", act.base, "next", seg.base)
	return nil
}

func (l *Log) advanceDurable(off int64) {
	for {
		cur := l.durable.Load()
		if off <= cur || l.durable.CompareAndSwap(cur, off) {
			return
		}
	}
}

// WaitDurable returns once every byte up to (excluding) offset is fsynced. Concurrent callers
// share fsyncs (group commit): at most one fsync runs at a time and a waiter that arrives
// during one is satisfied by the next, which one of the waiters then runs for everybody.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error {
	for {
		if l.durable.Load() >= offset {
			return nil
		}
		if err := l.fenced(); err != nil {
			return err
		}
		if offset > l.next.Load() {
			return fmt.Errorf("%w: wait for durability of offset %d beyond the log end %d", ErrOffsetOutOfRange, offset, l.next.Load())
		}
		l.syncMu.Lock()
		if l.syncClosed {
			l.syncMu.Unlock()
			return ErrClosed
		}
		if l.syncing {
			ch := l.syncDone
			l.syncMu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := l.syncLeaderLocked()
		if err != nil {
			return err
		}
	}
}

// syncLeaderLocked is entered with syncMu held and no fsync running; it runs one fsync of
// everything written so far, releases every waiter and returns with syncMu unlocked.
func (l *Log) syncLeaderLocked() error {
	l.syncing = true
	done := make(chan struct{})
	l.syncDone = done
	l.syncMu.Unlock()

	err := l.syncOnce()

	l.syncMu.Lock()
	l.syncing = false
	close(done)
	l.syncMu.Unlock()
	return err
}

// syncOnce fsyncs the active segment. Everything below the offset read first is covered:
// older segments were fsynced when they were sealed, before a newer active one was published.
func (l *Log) syncOnce() error {
	target := l.next.Load()
	msgs := l.unflushedMsgs.Load()
	act := l.active()
	start := time.Now()
	if err := act.log.Sync(); err != nil {
		return l.fence(markSync(fmt.Errorf("segment %s: fsync: %w", act.logPath, err)))
	}
	if l.cfg.OnFsync != nil {
		l.cfg.OnFsync(time.Since(start))
	}
	l.advanceDurable(target)
	if l.unflushedMsgs.Add(-msgs) <= 0 {
		l.unflushedSince.Store(0)
	}
	// Only one syncOnce runs at a time and only it sets idxSyncing, so the Load then Store
	// cannot race; the goroutine's Store(false) publishes its idxSyncedPos/At to the check.
	if !l.idxSyncing.Load() && act.indexSyncDue() {
		l.idxSyncing.Store(true)
		l.idxSyncWG.Add(1)
		go l.syncIndexes(act)
	}
	return nil
}

// syncIndexes fsyncs the index files of s, which was the active segment, in the background.
// Recovery checks every index entry against the .log and rebuilds the rest from it, so the
// indexes' durability bounds only how much of the .log a recovery scans; it never gates an
// acknowledgement. A failed fsync fences the log all the same (the next WaitDurable
// returns the error), as a failed write would.
func (l *Log) syncIndexes(s *segment) {
	defer l.idxSyncWG.Done()
	defer l.idxSyncing.Store(false)
	if err := s.syncIndexes(); err != nil {
		l.fence(err)
	}
}

// The index files of the active segment are fsynced, after a group-commit fsync and in the
// background, when their last entry moved indexSyncBytes past the one synced before, but
// at most once per indexSyncInterval unless it moved indexSyncMaxBytes: two more fsyncs on
// every acks=-1 produce request of a busy partition would halve its throughput, while
// recovery scans the unindexed tail at memory speed. So recovery after a crash scans at
// most indexSyncMaxBytes (+ one index interval, + what was written during one index
// fsync), and a quiet partition at most indexSyncBytes. A sealed segment's indexes are
// fsynced by seal, before the segment is published as sealed.
const (
	indexSyncBytes    = 256 << 10
	indexSyncMaxBytes = 16 << 20
	indexSyncInterval = time.Second
)

// lastIndexPos is the .log position of the last offset index entry (0 if none).
func (s *segment) lastIndexPos() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n := len(s.idx); n > 0 {
		return int64(s.idx[n-1].pos)
	}
	return 0
}

// indexSyncDue reports whether the index files are due for an fsync (see indexSyncBytes).
// Only syncOnce calls it, never while a background index fsync runs.
func (s *segment) indexSyncDue() bool {
	behind := s.lastIndexPos() - s.idxSyncedPos
	return behind >= indexSyncBytes &&
		(behind >= indexSyncMaxBytes || time.Since(s.idxSyncedAt) >= indexSyncInterval)
}

// syncIndexes fsyncs the index files with fileMu held, so that seal cannot close them
// meanwhile. Only Log.syncIndexes calls it.
func (s *segment) syncIndexes() error {
	last := s.lastIndexPos()
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	for _, f := range []File{s.idxFile, s.tidxFile} {
		if f == nil {
			return nil // sealed meanwhile, which fsynced them
		}
		if err := f.Sync(); err != nil {
			return markSync(fmt.Errorf("segment %s: fsync index: %w", f.Name(), err))
		}
	}
	s.idxSyncedPos, s.idxSyncedAt = last, time.Now()
	return nil
}

// Flush fsyncs everything written so far.
func (l *Log) Flush() error {
	return l.WaitDurable(context.Background(), l.next.Load())
}

// flushLoop applies FlushMessages and FlushInterval for writes nobody waits on.
func (l *Log) flushLoop() {
	defer close(l.flushDone)
	var tick <-chan time.Time
	if l.cfg.FlushInterval > 0 {
		period := l.cfg.FlushInterval / 4
		if period < time.Millisecond {
			period = time.Millisecond
		}
		t := time.NewTicker(period)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.flushStop:
			return
		case <-l.flushKick:
		case now := <-tick:
			since := l.unflushedSince.Load()
			if since == 0 || now.Sub(unixNanos(since)) < l.cfg.FlushInterval {
				continue
			}
		}
		if err := l.Flush(); err != nil && !errors.Is(err, ErrClosed) {
			l.logger.Debug("background flush failed", "dir", l.dir, "err", err)
		}
	}
}

// Close flushes, writes the clean-shutdown marker and closes files. Closing twice is a no-op.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeLocked()
}

func (l *Log) closeLocked() error {
	if l.closed {
		return nil
	}
	l.closed = true
	if l.flushStop != nil {
		close(l.flushStop)
		<-l.flushDone
	}
	// Wait for a running fsync, then refuse new ones.
	for {
		l.syncMu.Lock()
		if !l.syncing {
			l.syncClosed = true
			l.syncMu.Unlock()
			break
		}
		ch := l.syncDone
		l.syncMu.Unlock()
		<-ch
	}
	// No syncOnce runs or can start, so no background index fsync starts either.
	l.idxSyncWG.Wait()
	var errs []error
	if l.fenced() == nil {
		act := l.active()
		err := act.syncAll()
		if err == nil {
			l.advanceDurable(l.next.Load())
			err = writeCleanMarker(l.fs, l.dir, l.view())
		}
		errs = append(errs, err)
	}
	for _, s := range l.snapshot() {
		errs = append(errs, s.close())
	}
	l.reapRetiredLocked(time.Time{}, true)
	l.files.close()
	return errors.Join(errs...)
}

// syncAll fsyncs the log and index files of the active segment.
func (s *segment) syncAll() error {
	for _, f := range []File{s.log, s.idxFile, s.tidxFile} {
		if f == nil {
			continue
		}
		if err := f.Sync(); err != nil {
			return markSync(fmt.Errorf("segment %s: fsync: %w", f.Name(), err))
		}
	}
	return nil
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cerr := l.closeLocked()
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return errors.Join(cerr, fmt.Errorf("segment: cannot list %q: %w", l.dir, err))
	}
	for _, e := range entries {
		if err := l.fs.Remove(joinPath(l.dir, e.Name())); err != nil {
			return fmt.Errorf("segment: cannot remove %q: %w", e.Name(), err)
		}
	}
	if err := l.fs.Remove(l.dir); err != nil {
		return fmt.Errorf("segment: cannot remove %q: %w", l.dir, err)
	}
	return nil
}
