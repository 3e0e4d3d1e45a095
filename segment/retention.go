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
	var deleted []SegmentInfo
	for {
		segs := l.snapshot()
		if len(segs) < 2 {
			break
		}
		info := segs[0].info()
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
		if err := l.deleteOldestLocked(now); err != nil {
			return deleted, err
		}
		total -= info.Size
		deleted = append(deleted, info)
	}
	if len(deleted) > 0 {
		return deleted, l.setLogStartLocked(l.logStart.Load())
	}
	return deleted, nil
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
	if err := l.deleteOldestLocked(time.Now()); err != nil {
		return err
	}
	return l.setLogStartLocked(l.logStart.Load())
}

// deleteOldestLocked moves the log start to the next segment, removes the oldest segment
// from the snapshot, then removes its files. Its file stays open for readers for
// retireDelay.
func (l *Log) deleteOldestLocked(now time.Time) error {
	segs := l.snapshot()
	old := segs[0]
	if start := segs[1].base; start > l.logStart.Load() {
		// Open derives this start from the oldest remaining segment anyway; the checkpoint
		// is refreshed by the caller once per batch of deletions.
		//
		// The start moves before the snapshot loses the segment: a reader that finds an
		// offset missing from the snapshot then sees the new start, and so knows the offset
		// went to retention (the broker reads it from the tier) rather than being out of
		// range.
		l.logStart.Store(start)
	}
	// A snapshot is never written to once published (rollLocked builds a new array), so
	// the next one can share its array: deleting k segments costs k, not k times the
	// history. The deleted segment stays referenced by the array until the next roll.
	l.publish(segs[1:])
	l.retired = append(l.retired, retiredSegment{seg: old, at: now})
	return l.removeSegmentFiles(old)
}

// removeSegmentFiles renames the segment's files to *.deleted and removes them; Open
// finishes the job if a crash interrupts it.
func (l *Log) removeSegmentFiles(s *segment) error {
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
	if err := l.fs.SyncDir(l.dir); err != nil {
		errs = append(errs, fmt.Errorf("segment: cannot sync directory %q: %w", l.dir, err))
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
	if err := l.setLogStartLocked(offset); err != nil {
		return err
	}
	for {
		segs := l.snapshot()
		if len(segs) < 2 || segs[1].base > offset {
			return nil
		}
		if err := l.deleteOldestLocked(now); err != nil {
			return err
		}
	}
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
