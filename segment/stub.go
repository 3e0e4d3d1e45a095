package segment

// Stubs that fix the method set. Replaced by the real implementation.

import (
	"context"
	"time"
)

// Log is the local log of one partition: a directory of segments. One writer (Append,
// Roll, retention) at a time; readers may call Read concurrently with the writer.
type Log struct{}

// Open opens or creates the log in dir, recovering the tail after an unclean shutdown.
func Open(dir string, cfg Config) (*Log, RecoveryReport, error) { panic("unimplemented") }

// Append validates one v2 record batch (header, lengths, count, CRC-32C, magic 2), assigns
// offsets starting at NextOffset (rewriting baseOffset in place in batch), rolls if needed
// and writes it to the active segment (page cache only). batch is owned by the log after the call.
func (l *Log) Append(batch []byte, opts AppendOptions) (BatchInfo, error) { panic("unimplemented") }

// WaitDurable returns once every byte up to (excluding) offset is fsynced. Concurrent callers
// share fsyncs (group commit): at most one fsync runs at a time and a waiter that arrives
// during one is satisfied by the next.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error { panic("unimplemented") }

// Read returns whole batches starting at the batch containing offset, at most maxBytes of
// them, except that when minOneBatch is true the first batch is returned even if larger.
// offset == NextOffset returns an empty result; outside [LogStartOffset, NextOffset] is
// ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int, minOneBatch bool) (ReadResult, error) {
	panic("unimplemented")
}

// FindTimestamp returns the first batch whose MaxTimestamp >= ts (its bytes in a ReadResult
// of exactly that batch), or found=false if no such batch exists.
func (l *Log) FindTimestamp(ts int64) (r ReadResult, found bool, err error) { panic("unimplemented") }

// MaxTimestamp returns the largest timestamp in the log and the base offset of a batch holding it
// (-1, -1 when empty).
func (l *Log) MaxTimestamp() (ts int64, offset int64) { panic("unimplemented") }

func (l *Log) LogStartOffset() int64 { panic("unimplemented") }
func (l *Log) NextOffset() int64     { panic("unimplemented") }
func (l *Log) DurableOffset() int64  { panic("unimplemented") }
func (l *Log) Size() int64           { panic("unimplemented") }

// SetLogStartOffset raises the log start (DeleteRecords, remote retention); it is persisted
// and deletes whole segments entirely below it. Offsets beyond NextOffset are an error
// unless the log is empty, in which case the log restarts at offset (restore from a bucket).
func (l *Log) SetLogStartOffset(offset int64) error { panic("unimplemented") }

// Segments returns a snapshot of the segments, oldest first; the last one is active.
func (l *Log) Segments() []SegmentInfo { panic("unimplemented") }

// Roll seals the active segment (if non-empty) and starts a new one.
func (l *Log) Roll() error { panic("unimplemented") }

// MaybeRoll rolls if the active segment is older than SegmentMs.
func (l *Log) MaybeRoll(now time.Time) (bool, error) { panic("unimplemented") }

// ApplyRetention deletes sealed segments from the head while p says they expired and allow
// (nil = always) approves each one; it stops at the first segment that is kept.
func (l *Log) ApplyRetention(p RetentionPolicy, now time.Time, allow func(SegmentInfo) bool) ([]SegmentInfo, error) {
	panic("unimplemented")
}

// DeleteOldestSegment deletes the oldest sealed segment if its BaseOffset is base.
func (l *Log) DeleteOldestSegment(base int64) error { panic("unimplemented") }

// Flush fsyncs everything written so far.
func (l *Log) Flush() error { panic("unimplemented") }

// Close flushes, writes the clean-shutdown marker and closes files.
func (l *Log) Close() error { panic("unimplemented") }

// Delete closes the log and removes its directory.
func (l *Log) Delete() error { panic("unimplemented") }

// FS is the filesystem seam (OS by default; an in-memory crashable one in tests).
type FS interface{}
