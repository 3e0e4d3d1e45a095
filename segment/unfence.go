package segment

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Lifting a fence after a full disk.
//
// A write that fails fences the log (ErrFenced): its state on disk is no longer known, so
// nothing more is written until that is settled. For most failures only a reopen settles
// it (recovery reads the files back). A full disk is different: the write failed for want
// of space (ENOSPC, or EDQUOT for a quota), nothing else is wrong, and an operator frees
// space without restarting. Unfence settles such a fence in place, as recovery would:
//
//   - The active segment is cut back to its committed size (what the last successful
//     append published), dropping whatever a failed write left beyond it.
//   - The whole segment's headers are walked again and the batches after the last index
//     entry are read and checked (CRC-32C, counts, offsets continuing from the segment
//     base to the log end); the in-memory indexes and max timestamp are rebuilt from the
//     walk, and the index files are cut and rewritten to match. Any mismatch leaves the
//     log fenced (a restart runs full recovery).
//   - If the failure came after the active segment was sealed (a roll could not create
//     the next segment), the next segment is created now.
//   - Everything is fsynced; only then is the fence lifted.
//
// A failed fsync is never lifted this way, whatever its errno: after a failed fsync the
// kernel may have dropped dirty pages that reads still serve, so what is on disk is not
// known (the "fsyncgate" problem); those fences need a restart.

// syncError marks a failed fsync (see Unfence). Its message is the wrapped error's.
type syncError struct{ err error }

func (e syncError) Error() string { return e.err.Error() }
func (e syncError) Unwrap() error { return e.err }

func markSync(err error) error {
	if err == nil {
		return nil
	}
	return syncError{err}
}

// NoSpace reports whether err is a write that failed for want of disk space (ENOSPC or
// EDQUOT), not a failed fsync: the failures Unfence can lift.
func NoSpace(err error) bool {
	var se syncError
	return (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) && !errors.As(err, &se)
}

// Fenced returns the error that fenced the log (wrapping ErrFenced), or nil.
func (l *Log) Fenced() error { return l.fenced() }

// Unfence lifts a fence caused by a full disk (NoSpace), after checking the active
// segment as described above. It returns true if it lifted one; false with a nil error if
// the log was not fenced; an error if the fence is of another kind (returned as is) or
// could not be lifted yet (the disk is still full, or the check failed: the log stays
// fenced).
func (l *Log) Unfence() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, ErrClosed
	}
	ferr := l.fenced()
	if ferr == nil {
		return false, nil
	}
	if !NoSpace(ferr) {
		return false, ferr
	}
	// No fsync may run meanwhile: take the group-commit leadership (waiters queue behind
	// it and then find the fence, or the log unfenced), and wait for an index fsync.
	for {
		l.syncMu.Lock()
		if !l.syncing {
			break
		}
		ch := l.syncDone
		l.syncMu.Unlock()
		<-ch
	}
	l.syncing = true
	done := make(chan struct{})
	l.syncDone = done
	l.syncMu.Unlock()
	defer func() {
		l.syncMu.Lock()
		l.syncing = false
		close(done)
		l.syncMu.Unlock()
	}()
	l.idxSyncWG.Wait()

	act := l.active()
	if act.sealed.Load() {
		seg, err := l.createSegment(l.next.Load())
		if err != nil {
			return false, fmt.Errorf("segment %s: cannot lift the fence: %w", l.dir, err)
		}
		l.publishRolled(seg)
		act = seg
	} else if err := l.repairActiveLocked(act); err != nil {
		return false, fmt.Errorf("segment %s: cannot lift the fence: %w", l.dir, err)
	}
	if err := act.syncAll(); err != nil {
		return false, fmt.Errorf("segment %s: cannot lift the fence: %w", l.dir, err)
	}
	l.advanceDurable(l.next.Load())
	l.fenceErr.Store(nil)
	l.logger.Info("segment log unfenced: space is available again", "dir", l.dir, "next_offset", l.next.Load(), "was", ferr)
	return true, nil
}

// repairActiveLocked cuts the active segment back to its committed size and rebuilds its
// indexes from the file (see Unfence).
func (l *Log) repairActiveLocked(s *segment) error {
	size, next := s.size.Load(), s.next.Load()
	if err := s.log.Truncate(size); err != nil {
		return fmt.Errorf("cannot truncate %q at %d: %w", s.logPath, size, err)
	}
	interval := int64(l.cfg.IndexIntervalBytes)
	idx, tidx, mark, err := s.walkHeaders(size, interval)
	if err != nil {
		return err
	}
	var from int64
	if len(idx) > 0 {
		from = int64(idx[len(idx)-1].pos)
	}
	end, err := s.verifyBatches(from, size)
	if err != nil {
		return err
	}
	if end != next {
		return s.corruptf(size, "batches end at offset %d, the log end is %d", end, next)
	}
	s.mu.Lock()
	s.idx, s.tidx = idx, tidx
	s.mu.Unlock()
	s.setMax(mark.ts, mark.off)
	s.bytesSinceIndex = size - from
	for _, x := range []struct {
		f    File
		data []byte
	}{{s.idxFile, encodeOffsetIndex(idx)}, {s.tidxFile, encodeTimeIndex(tidx)}} {
		if x.f == nil {
			continue
		}
		// Cut first: the rewrite then only overwrites blocks the file already has.
		if err := x.f.Truncate(int64(len(x.data))); err != nil {
			return fmt.Errorf("cannot truncate %q: %w", x.f.Name(), err)
		}
		if _, err := x.f.WriteAt(x.data, 0); err != nil {
			return fmt.Errorf("cannot rewrite %q: %w", x.f.Name(), err)
		}
	}
	return nil
}

// verifyBatches reads and checks the whole batches in [from, size) of s, which must start
// at a batch boundary, and returns the offset after the last one.
func (s *segment) verifyBatches(from, size int64) (next int64, err error) {
	var hbuf [BatchHeaderSize]byte
	var body []byte
	next = -1
	pos := from
	for pos < size {
		h, err := s.readHeader(pos, size, &hbuf)
		if err != nil {
			return 0, err
		}
		if next >= 0 && h.BaseOffset != next {
			return 0, s.corruptf(pos, "base offset %d, expected %d", h.BaseOffset, next)
		}
		if int64(cap(body)) < h.Size() {
			body = make([]byte, h.Size())
		}
		body = body[:h.Size()]
		if _, err := s.log.ReadAt(body, pos); err != nil {
			return 0, fmt.Errorf("segment %s: read batch at %d: %w", s.logPath, pos, err)
		}
		if _, err := parseBatch(body, false); err != nil {
			return 0, s.corruptf(pos, "%v", err)
		}
		pos += h.Size()
		next = h.LastOffset() + 1
	}
	if next < 0 {
		next = s.base // empty segment
	}
	return next, nil
}

// CloseRetired closes at once the files of deleted segments that are kept open for
// readers (retireDelay): on a full disk their space is needed now, and an unlinked file
// gives its space back only when its last descriptor closes. A reader still holding a
// result of one gets os.ErrClosed and retries.
func (l *Log) CloseRetired() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.retired) > 0 {
		l.reapRetiredLocked(time.Time{}, true)
	}
}
