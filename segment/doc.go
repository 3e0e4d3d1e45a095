// Package segment is the durable local log of one partition: a directory of segment files
// holding Kafka record batches (magic v2) exactly as produced, with Kafka's file names and
// index formats, so that an operator who knows Kafka recognises everything on disk.
//
// This comment is the format specification. Constants named here are part of the format.
//
// # Directory
//
// One directory per partition (<data-dir>/<topic>-<partition>/):
//
//	00000000000000000000.log        record batches; the name is the segment's base offset, %020d
//	00000000000000000000.index      sparse offset index of that segment
//	00000000000000000000.timeindex  sparse time index of that segment
//	00000000000000001234.log ...    later segments; the newest one is the active segment
//	log-start-offset                log start offset checkpoint
//	clean-shutdown                  present only while the log is closed cleanly
//	*.log.broken                    bytes cut from a torn tail by recovery (kept for forensics)
//	*.deleted, *.tmp                leftovers of an interrupted deletion or atomic write; removed by Open
//	*.cleaned, *.swap, cleaner-swap a segment swap of the cleaner in progress (clean.go); Open
//	                                finishes it (cleaner-swap present) or rolls it back
//	cleaned-offset                  "0\n<offset>\n": sealed segments ending at or below it may be
//	                                cleaned ones, whose batches may skip offsets
//
// A segment's base offset is the base offset of its first batch. Segments are contiguous: the
// next offset of a sealed segment is the base offset of the segment after it. Only the active
// segment is written; a sealed segment is immutable, except that the cleaner of a compacted
// topic replaces runs of sealed segments by cleaned ones (clean.go): a cleaned segment keeps
// the base offset of the first segment it replaces and the offsets of the batches it keeps,
// so its batches may start after its base, skip offsets, and end before the next segment's
// base (reads and recovery accept such gaps only below cleaned-offset).
//
// # Record batch (magic 2)
//
// All integers are big-endian. Byte positions are relative to the start of the batch. The
// header is decoded by DecodeBatchHeader into a BatchHeader (header.go), the one decoder of
// this layout in Strata: the broker, the remote tier and the CLI use it too.
//
//	 0  baseOffset            int64   rewritten by the broker on append (not covered by the CRC)
//	 8  batchLength           int32   bytes after this field: total size = batchLength + 12
//	12  partitionLeaderEpoch  int32   stored as received (not covered by the CRC)
//	16  magic                 int8    must be 2 (ErrUnsupportedMagic otherwise)
//	17  crc                   uint32  CRC-32C (Castagnoli) of bytes 21 .. end
//	21  attributes            int16   bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
//	                                  bit 3 timestamp type (1 = LogAppendTime), bit 4 transactional,
//	                                  bit 5 control, bit 6 delete horizon set
//	23  lastOffsetDelta       int32   == records count - 1 for a producer's batch
//	27  baseTimestamp         int64   (first timestamp)
//	35  maxTimestamp          int64
//	43  producerId            int64
//	51  producerEpoch         int16
//	53  baseSequence          int32
//	57  records count         int32   >= 1
//	61  records ...                   (compressed as a whole if the codec is not 0)
//
// Append checks, and writes nothing if any check fails: at least 61 bytes; magic 2;
// batchLength == len-12; CRC-32C over bytes 21..end (ErrCorruptBatchCRC); count >= 1;
// lastOffsetDelta == count-1; a defined codec; for uncompressed batches, count*7 <= the record
// bytes (7 bytes is the smallest record). Other failures wrap ErrInvalidBatch.
//
// What the broker changes in a stored batch:
//   - bytes 0-7 (baseOffset) always: the next offset of the log. Not covered by the CRC, so
//     the stored batch still verifies with the producer's CRC.
//   - with AppendOptions.LogAppendTime only: bit 3 of the attributes is set and bytes 35-42
//     (maxTimestamp) are set to the broker's clock in milliseconds. Both are covered by the CRC,
//     so the CRC (bytes 17-20) is recomputed in this case and only in this case. baseTimestamp
//     and the records are left as they are (readers of LogAppendTime batches use maxTimestamp).
//
// Nothing else is ever rewritten; batches are not decompressed or recompressed.
//
// # Offset index (.index)
//
// A sequence of 8-byte entries, sorted, without header:
//
//	0  relativeOffset  uint32  baseOffset of a batch - segment base offset
//	4  position        uint32  byte position of that batch in the .log file
//
// An entry is added for a batch when more than IndexIntervalBytes (log.index.interval.bytes,
// default 4096) were appended since the previous entry; position 0 has no entry. To find an
// offset: binary search for the last entry with relativeOffset <= target, then walk batch
// headers forward from its position. Unlike Kafka, the file is not preallocated: its length
// is always a whole number of entries and a sealed segment's index is exactly its entries.
// The active segment rolls when another entry would exceed MaxIndexBytes.
//
// # Time index (.timeindex)
//
// A sequence of 12-byte entries, sorted, without header:
//
//	0  timestamp       int64   a new maximum of the batch max timestamps of the segment
//	8  relativeOffset  uint32  base offset (relative) of the first batch that reached it
//
// Written at the same index points as the offset index, when the running maximum grew since
// the last entry, and once more when the segment is sealed, so the last entry of a sealed
// segment is the segment's MaxTimestamp. Invariant: every batch before relativeOffset has a max
// timestamp below timestamp. To find the first batch with maxTimestamp >= T: the last entry
// with timestamp <= T gives a batch to start walking from.
//
// # Checkpoint and marker files
//
// log-start-offset is text: the format version line "0", then the offset in decimal, each
// followed by "\n". It is written atomically: write <name>.tmp, fsync it, rename over the old
// file, fsync the directory. The log start offset is max(checkpoint, base of the oldest
// segment). A checkpoint beyond the recovered log end restarts the log at the checkpoint (all
// segments removed), so offsets below the log start are never handed out twice; SetLogStartOffset
// waits for the data below its offset to be durable before it writes the checkpoint, so this
// only happens for a log restarted at a restore. clean-shutdown is written the same way by
// Close after every file was fsynced: "3\n", a summary of the sealed segments as fixed-size
// records and the active segment's base, CRC-32C (byte layout in summary.go; the "0\n", "1\n"
// and "2\n" markers of older versions are still read). Open removes it (and fsyncs the
// directory) before anything else, so a crash after Open is never mistaken for a clean
// shutdown. With a v2 or v3 summary Open takes the segments from it and does not list the
// directory; it keeps them as the summary's
// records until something needs them as segments (lazy.go), so a clean start costs a read of
// the marker, not an allocation per sealed segment.
//
// # Durability
//
// Append writes to the page cache. WaitDurable(offset) returns when an fsync covering offset
// completed; concurrent waiters share fsyncs (group commit: one fsync at a time, the waiters
// that arrive during it are covered by the next). FlushMessages and FlushInterval make a
// background goroutine fsync for writes nobody waits on (acks=1). Rolling fsyncs the sealed
// segment's .log, .index and .timeindex before the new segment is created and the directory
// fsynced. The index files of the active segment are fsynced in the background after a
// group-commit fsync, never before its waiters are released, only when their last entry moved
// 256 KiB past the last synced one, and then at most once a second unless it moved 16 MiB (so
// that a busy acks=-1 partition pays for one fsync per request, not three): after a crash,
// recovery rebuilds what is missing, and scans at most about 16 MiB + IndexIntervalBytes (256
// KiB for a partition that was quiet), plus what was written during one index fsync. A failed write or fsync fences the log (ErrFenced, sticky): Append and the
// other writers fail until the log is reopened and recovered, or, for a write that failed
// for want of space (ENOSPC, EDQUOT; never a failed fsync), until Unfence re-verifies the
// active segment in place (unfence.go).
//
// # Recovery
//
// See Open for the checklist. In short: sealed segments get a cheap sanity check of their
// indexes (rebuilt by walking batch headers if missing or implausible); the active segment is
// scanned from its last offset index entry that names a valid batch (so the cost is that of
// the unindexed tail), checking every batch's length, magic, CRC-32C and offset continuity; the
// file is cut at the first bad batch. A damaged batch in the middle of a sealed segment is not
// looked for at Open; a read that walks into a bad header returns ErrCorrupt, it never skips.
//
// # Concurrency
//
// One writer (Append, Roll, MaybeRoll, ApplyRetention, DeleteOldestSegment, SetLogStartOffset,
// Close) at a time; the Log serialises them anyway. Readers (Read, FindTimestamp, MaxTimestamp,
// Segments, the offset getters) run concurrently with the writer on an immutable snapshot of
// the segment list (atomic.Pointer; a reader that needs segments still lazy after a clean
// Open makes them and publishes them by compare-and-swap, lazy.go) and read only bytes below a segment's committed size, which
// the writer publishes after the bytes were written. Deleting segments from the head moves
// the log start checkpoint first, then the segments leave the snapshot, then their files are
// renamed to *.deleted and removed, with one directory fsync per batch of deletions (a crash
// leaves segments wholly below the checkpoint, never read, or *.deleted files, which Open
// removes); the open file stays readable for
// 30 seconds for ReadResults still in flight, then is closed (a later read gets an error, not
// a panic).
//
// # File descriptors
//
// A log holds the three files of its active segment open, and its sealed segments' .log
// files through a FileCache (files.go): its own of MaxOpenSealedFiles (default 128), or one
// shared by every log of a broker (Config.Files), which then bounds them for all partitions
// together. The cache holds at most twice its cap: Open does not open the files, a read
// opens one on demand, Roll hands the sealed segment's file over, and the least recently read
// (of any log) is closed when the cap needs room: 30 seconds later, like a deleted segment's,
// or earlier once as many others wait so. So a broker of thousands of partitions of 100,000
// segments opens and serves reads within any sane ulimit -n.
package segment
