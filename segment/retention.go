package segment

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ApplyRetention deletes sealed segments from the head while p says they expired and allow
// (nil = always) approves each one; it stops at the first segment that is kept. The active
// segment is never deleted. A segment expires by time when its MaxTimestamp (LastModified if
// it has no timestamps) is more than p.Ms before now, and by size while the log without it is
// still at least p.Bytes (Kafka's retention.ms and retention.bytes). The log start offset
// moves to the first remaining segment.
func (l *Log) ApplyRetention(p RetentionPolicy, now time.Time, allow func(SegmentInfo) bool) ([]SegmentInfo, error) {
	if p.Ms >= 0 || p.Bytes >= 0 {
		l.materialise() // before mu, not to hold up Append (lazy.go)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	l.reapRetiredLocked(now, false)
	total := l.Size()
	segs := l.snapshot()
	var deleted []SegmentInfo
	for n := 0; n+1 < len(segs); n++ {
		info := segs[n].info()
		expired := false
		if p.Ms >= 0 {
			ts := info.MaxTimestamp
			if ts < 0 {
				ts = info.LastModified.UnixMilli()
			}
			expired = now.UnixMilli()-ts > p.Ms
		}
		if p.Bytes >= 0 && total-info.Size >= p.Bytes {
			expired = true
		}
		if !expired || (allow != nil && !allow(info)) {
			break
		}
		total -= info.Size
		deleted = append(deleted, info)
	}
	if len(deleted) == 0 {
		return nil, nil
	}
	return deleted, l.deleteHeadLocked(len(deleted), now)
}

// DeleteOldestSegment deletes the oldest sealed segment if its BaseOffset is base and moves
// the log start offset to the next segment.
func (l *Log) DeleteOldestSegment(base int64) error {
	l.materialise() // before mu, not to hold up Append (lazy.go)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	segs := l.snapshot()
	if len(segs) < 2 {
		return fmt.Errorf("segment: no sealed segment to delete in %q", l.dir)
	}
	if segs[0].base != base {
		return fmt.Errorf("segment: oldest segment of %q has base offset %d, not %d", l.dir, segs[0].base, base)
	}
	return l.deleteHeadLocked(1, time.Now())
}

// deleteHeadLocked deletes the n oldest segments (all sealed). The log start moves to the
// next segment durably first (the checkpoint), then the snapshot loses them, then their
// files go, with one directory fsync for them all rather than one each: a crash before the
// checkpoint leaves the log as it was; after it, Open starts the log at the checkpoint
// whichever of the files' removals were durable (a segment wholly below the start is never
// read, and the next deletion removes it again) and tidies *.deleted leftovers. Their
// files stay open for readers for retireDelay.
func (l *Log) deleteHeadLocked(n int, now time.Time) error {
	segs := l.snapshot()
	if start := segs[n].base; start > l.logStart.Load() {
		// The start moves before the snapshot loses the segments: a reader that finds an
		// offset missing from the snapshot then sees the new start, and so knows the offset
		// went to retention (the broker reads it from the tier) rather than being out of
		// range.
		if err := l.setLogStartLocked(start); err != nil {
			return err
		}
	}
	// A snapshot is never written to once published (rollLocked builds a new array), so
	// the next one can share its array: deleting k segments costs k, not k times the
	// history. The deleted segments stay referenced by the array until the next roll.
	l.publish(segs[n:])
	var errs []error
	for _, old := range segs[:n] {
		l.retired = append(l.retired, retiredSegment{seg: old, at: now})
		errs = append(errs, l.unlinkSegmentFiles(old))
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		errs = append(errs, markSync(fmt.Errorf("segment: cannot sync directory %q: %w", l.dir, err)))
	}
	return errors.Join(errs...)
}

// removeSegmentFiles removes the segment's files durably (see unlinkSegmentFiles).
func (l *Log) removeSegmentFiles(s *segment) error {
	err := l.unlinkSegmentFiles(s)
	if serr := l.fs.SyncDir(l.dir); serr != nil {
		err = errors.Join(err, markSync(fmt.Errorf("segment: cannot sync directory %q: %w", l.dir, serr)))
	}
	return err
}

// unlinkSegmentFiles renames the segment's files to *.deleted and removes them, without a
// directory fsync; Open finishes the job if a crash interrupts it.
func (l *Log) unlinkSegmentFiles(s *segment) error {
	var errs []error
	for _, p := range []string{s.logPath, s.idxPath, s.tidxPath} {
		if err := l.fs.Rename(p, p+deletedSuffix); err != nil {
			errs = append(errs, fmt.Errorf("segment: cannot rename %q: %w", p, err))
			continue
		}
		if err := l.fs.Remove(p + deletedSuffix); err != nil {
			errs = append(errs, fmt.Errorf("segment: cannot remove %q: %w", p+deletedSuffix, err))
		}
	}
	return errors.Join(errs...)
}

// reapRetiredLocked closes the files of deleted segments retired before now-retireDelay
// (all of them if all).
func (l *Log) reapRetiredLocked(now time.Time, all bool) {
	keep := l.retired[:0]
	for _, r := range l.retired {
		if all || now.Sub(r.at) >= retireDelay {
			r.seg.close()
			continue
		}
		keep = append(keep, r)
	}
	clear(l.retired[len(keep):])
	l.retired = keep
}

func (l *Log) setLogStartLocked(offset int64) error {
	if err := writeLogStart(l.fs, l.dir, offset); err != nil {
		return l.fence(err)
	}
	l.logStart.Store(offset)
	return nil
}

// SetLogStartOffset raises the log start (DeleteRecords, remote retention); it is persisted
// and deletes whole segments entirely below it. Offsets beyond NextOffset are an error
// unless the log is empty, in which case the log restarts at offset (restore from a bucket).
// Lowering the log start is a no-op.
func (l *Log) SetLogStartOffset(offset int64) error {
	if offset > l.logStart.Load() {
		l.materialise() // before mu, not to hold up Append (lazy.go)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if offset <= l.logStart.Load() {
		return nil
	}
	now := time.Now()
	next := l.next.Load()
	if offset > next {
		segs := l.snapshot()
		if len(segs) != 1 || segs[0].size.Load() != 0 || next != l.logStart.Load() {
			return fmt.Errorf("%w: log start %d beyond the log end %d", ErrOffsetOutOfRange, offset, next)
		}
		return l.restartLocked(offset, now)
	}
	// The checkpoint must not get ahead of the data that survives a crash.
	if err := l.WaitDurable(context.Background(), offset); err != nil {
		return err
	}
	segs := l.snapshot()
	n := 0
	for n+1 < len(segs) && segs[n+1].base <= offset {
		n++
	}
	if err := writeLogStart(l.fs, l.dir, offset); err != nil {
		if !NoSpace(err) || n == 0 {
			return l.fence(err)
		}
		// A full disk: delete first. The segments wholly below offset go without the
		// checkpoint (a crash then starts the log at the first remaining segment, which is
		// at or below offset: Open takes the larger of the checkpoint and the first base),
		// and their space lets the checkpoint be written after.
		l.removeTmp(logStartFile)
		l.logger.Warn("disk full: deleting segments below the new log start before writing its checkpoint", "dir", l.dir, "log_start", offset)
		if err := l.deleteHeadUncheckpointedLocked(n); err != nil {
			return err
		}
		n = 0
		if err := writeLogStart(l.fs, l.dir, offset); err != nil {
			return l.fence(err)
		}
	}
	l.logStart.Store(offset)
	if n == 0 {
		return nil
	}
	return l.deleteHeadLocked(n, now)
}

// deleteHeadUncheckpointedLocked is deleteHeadLocked without the checkpoint (see
// SetLogStartOffset on a full disk): the in-memory log start moves to the first remaining
// segment, the snapshot loses the n oldest, their files go.
func (l *Log) deleteHeadUncheckpointedLocked(n int) error {
	segs := l.snapshot()
	if start := segs[n].base; start > l.logStart.Load() {
		l.logStart.Store(start)
	}
	l.publish(segs[n:])
	var errs []error
	for _, old := range segs[:n] {
		errs = append(errs, l.unlinkSegmentFiles(old))
		// Closed at once, not retired: the space of an unlinked file comes back only when
		// its last descriptor closes. A reader still holding a result of one gets
		// os.ErrClosed and retries.
		old.close()
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		errs = append(errs, markSync(fmt.Errorf("segment: cannot sync directory %q: %w", l.dir, err)))
	}
	return errors.Join(errs...)
}

// removeTmp removes what a failed atomic write of name left, to give its space back.
func (l *Log) removeTmp(name string) {
	_ = l.fs.Remove(joinPath(l.dir, name) + tmpSuffix)
}

// restartLocked replaces the empty active segment by one starting at offset.
func (l *Log) restartLocked(offset int64, now time.Time) error {
	// Wait for a running fsync of the old segment; its file is retired, not closed.
	if err := l.setLogStartLocked(offset); err != nil {
		return err
	}
	old := l.active()
	seg, err := l.createSegment(offset)
	if err != nil {
		return l.fence(err)
	}
	l.publish([]*segment{seg})
	l.next.Store(offset)
	l.advanceDurable(offset)
	l.retired = append(l.retired, retiredSegment{seg: old, at: now})
	if err := l.removeSegmentFiles(old); err != nil {
		return l.fence(err)
	}
	return nil
}
