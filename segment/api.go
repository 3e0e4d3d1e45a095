package segment

// This file fixes the public API of the local log so that broker and tiering can be
// written against it while the implementation lands. Bodies are filled in by log.go.

import (
	"errors"
	"log/slog"
	"time"
)

// Sentinel errors. Match with errors.Is.
var (
	ErrCorrupt          = errors.New("segment: corrupt data")
	ErrOffsetOutOfRange = errors.New("segment: offset out of range")
	ErrInvalidBatch     = errors.New("segment: invalid record batch")
	ErrUnsupportedMagic = errors.New("segment: unsupported record batch magic")
	ErrCorruptBatchCRC  = errors.New("segment: record batch crc mismatch")
	ErrClosed           = errors.New("segment: log closed")
)

// Config controls one partition's local log. The zero value is usable.
type Config struct {
	SegmentBytes       int64         // roll when the active segment would exceed this; default 1 GiB
	SegmentMs          time.Duration // roll when the active segment's first append is older; 0 = never; default 7 days at the broker level
	IndexIntervalBytes int           // bytes between sparse index entries; default 4096
	MaxIndexBytes      int           // preallocated index size cap; default 10 MiB
	// MaxOpenSealedFiles caps the .log files of sealed segments that are open at once
	// (opened on first read, least recently read closed first; files.go), so that a log of
	// any length opens with a few file descriptors. Default 128. Ignored when Files is set.
	MaxOpenSealedFiles int
	FlushMessages      int64         // fsync after this many messages even without acks=-1; 0 = never (rely on page cache)
	FlushInterval      time.Duration // fsync if unflushed data is older than this; 0 = never
	FS                 FS            // filesystem seam; nil = the operating system
	Logger             *slog.Logger  // nil = discard
	// OnFsync, when set, is called after every fsync that makes appended records durable
	// (Flush, acks=-1 waits, flush.messages/flush.ms) with its duration; for metrics.
	// Default nil.
	OnFsync func(time.Duration)
	// Files, when set, is the cache of sealed segment files this log shares with others
	// (a broker passes one to all its partitions, so that the cap holds for all of them
	// together). Default nil: the log has a cache of its own of MaxOpenSealedFiles.
	Files *FileCache
}

// BatchInfo describes a record batch that was appended.
type BatchInfo struct {
	BaseOffset      int64
	LastOffset      int64
	MaxTimestamp    int64 // after LogAppendTime rewriting, if any
	FirstTimestamp  int64
	NumRecords      int32
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	IsTransactional bool
	IsControl       bool
	Size            int // bytes of the whole batch
}

// SegmentInfo is an immutable snapshot of one segment.
type SegmentInfo struct {
	BaseOffset    int64
	NextOffset    int64     // last offset + 1; == BaseOffset for an empty segment
	Size          int64     // bytes in .log
	MaxTimestamp  int64     // -1 if empty
	Created       time.Time // time of first append (mtime fallback after recovery); used by segment.ms
	LastModified  time.Time // time of the last append; used by retention.ms when MaxTimestamp is unusable
	Sealed        bool
	LogPath       string
	IndexPath     string
	TimeIndexPath string
}

// RecoveryReport says what Open found and cut.
type RecoveryReport struct {
	Segments       int
	RecoveredBytes int64 // bytes scanned during recovery
	TruncatedBytes int64 // bytes cut from torn/corrupt tails
	TruncatedAt    int64 // offset at which the log was truncated, -1 if nothing was cut
	RebuiltIndexes int
	CleanShutdown  bool
	// OtherFiles names the regular files Open found in the directory that are not segment
	// files, leftovers it removed or its own checkpoints (e.g. a caller's producer
	// snapshots), in no particular order: callers need not list a directory of 100,000
	// segments again. Nil when Open did not list the directory (after a clean shutdown
	// whose marker names every segment, see summary.go): callers then look for the files
	// they expect by name. Not nil after any other successful Open.
	OtherFiles []string
}

// ReadResult is a contiguous byte range of one segment file holding whole batches,
// starting with the batch that contains the requested offset.
type ReadResult struct {
	File        ReadAtFile // the .log file (for sendfile or ReadAt); stays open at least 30s after the segment is deleted or its file evicted (files.go)
	Position    int64
	Size        int64
	FirstOffset int64 // base offset of the first batch in the range
}

// ReadAtFile is the part of an open segment file that readers need. On the OS filesystem
// it is an *os.File, so the broker can sendfile from it.
type ReadAtFile interface {
	ReadAt(p []byte, off int64) (int, error)
}

// AppendOptions control one Append.
type AppendOptions struct {
	Now           time.Time // wall clock for LogAppendTime and segment.ms; zero = time.Now()
	LogAppendTime bool      // rewrite the batch's timestamp type and max timestamp to Now
}

// RetentionPolicy describes when a sealed segment at the head of the log may go.
type RetentionPolicy struct {
	Ms    int64 // delete segments whose MaxTimestamp is older than now-Ms; -1 = unlimited
	Bytes int64 // delete oldest segments while the log is larger than Bytes; -1 = unlimited
}
