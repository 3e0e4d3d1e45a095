// Package partition is the single owner of one partition directory: it composes the local
// log (package segment), the partition's remote tier (package tiering) and the
// idempotent-producer state (package broker/producer), and gives a Kafka handler what it
// needs and nothing more. The broker decides which partitions exist and maps requests and
// errors; the tier moves bytes to and from the bucket; only the partition writes the local
// log and decides what leaves it.
//
// # Directory
//
// <data-dir>/<topic>-<partition>/ holds the files of segment.Log (segment/doc.go: the .log,
// .index and .timeindex files, log-start-offset, clean-shutdown) and, beside them, the
// producer-state snapshots:
//
//	00000000000000001234.snapshot   producer state when 1234 was the next offset to write
//	                                (encoding: broker/producer/doc.go; name:
//	                                segment.ProducerSnapshotPath)
//
// A snapshot is written atomically on the partition's filesystem seam (segment.WriteFileAtomic) at
// every maintenance run that saw appends and at Close, at the log end; a partition of a
// tiered topic also writes one at every roll, at the new segment's base offset, which the
// uploader sends with the sealed segment. After each maintenance snapshot the others are
// removed, except, in a tiered partition, those at the base offset of a local segment
// (prodsnap.go). The aborted-transaction index, aborted.txnindex, is beside them
// (txn.go). Nothing else in the directory belongs to the partition.
//
// # Lifecycle
//
// Open opens the log (recovering a torn tail) and rebuilds the producer state from the
// newest snapshot at or below the log end plus a replay of the batch headers after it;
// history that is no longer local marks the state incomplete (producers the state does not
// know may then continue at any sequence, as Kafka allows since KIP-360). AttachTier (or
// SetTier) attaches the remote tier: an empty local log that the bucket is ahead of (a
// restore) restarts at the remote end, and takes the newest remote producer snapshot plus
// a replay of the remote batches after it. Maintain, called by the broker every retention
// check interval, rolls by segment.ms and the tier's upload interval, applies retention
// and snapshots the producer state. Close snapshots the state and closes the log cleanly;
// Delete removes the directory. The tier's upload loop is the tiering.Manager's.
//
// # Writes and retention
//
// Append runs the idempotence check, rolls the active segment when the batch would pass
// segment.bytes (or segment.ms has passed), appends, and wakes the fetches waiting for the
// partition (Subscribe) unless the caller wakes them after WaitDurable (acks=-1). The
// partition, not the log, rolls (the log is opened with rolling disabled) so that config
// changes apply at once and every roll hints the uploader.
//
// Retention: without a tier (or with remote.storage.enable off) retention.ms/bytes apply
// to the local log. With a tier, total retention (remote + local) is applied to the
// remote part first (the manifest is the truth for remote data) and the local log start
// follows the remote start; then local segments go by local.retention.ms/bytes (-2: the
// totals), and only the segments the tier reports uploaded. A tiered partition whose tier
// is not attached yet deletes nothing locally. DeleteRecords moves the remote start, then
// the local one. The tier never writes the local log: it reports (Bounds, Uploaded,
// ApplyRetention's new start) and the partition applies.
//
// # Transactions
//
// Transactional batches come through AppendChecked, whose check (the broker's
// verification with its transaction coordinator) runs under the write lock that
// WriteTxnMarker also takes. They open their producer's transaction on the partition (the
// producer state holds its first offset, and snapshots carry it); WriteTxnMarker, called
// by the transaction coordinator, appends the COMMIT or ABORT control batch that closes it
// and records an abort in the aborted-transaction index. LastStableOffset is the first
// offset of the oldest open transaction (else the high watermark, and never below the log
// start); AbortedTxns lists the aborted transactions a read_committed fetch of a range
// needs, from the local index or, below the local log start, from the tier's manifest
// entries (txn.go).
//
// # Reads
//
// Offsets at or above the local log start are read locally (ReadLocal into a buffer, or
// ReadLocalSection: a section of the segment file for sendfile). Offsets below it are read
// from the tier by ReadRemote: a background read that a fetch waits for at most
// RemoteFetchMaxWait (the read goes on, bounded by 30 s, and the client's next fetch at
// that offset joins it); a failed read is answered again for 50 ms, doubling with each
// consecutive failure up to 1 s, without a new GET. The records of a remote read are
// slices of the tier's chunk cache (tiering.Records): read-only, and written to the socket
// as they are. A read no fetch takes (its fetch stopped waiting) is dropped after 10 s. The
// partition reads only what a fetch asks for: what is loaded ahead of a sequential
// consumer is the tier's (tiering/readahead.go), told the local log start as its bound
// (ReadOptions.Until), since the offsets from there on are read locally.
//
// ListOffset answers the special values (latest, earliest, max timestamp, earliest local,
// latest tiered, earliest pending upload) and timestamps: remote first when the tier holds
// older data, then the local time index, down to the exact record (records.go decompresses
// the batch found).
//
// # Compaction
//
// With "compact" in cleanup.policy, Clean (cleaner.go; run by a Cleaner's threads,
// cleanerpool.go) keeps at least the latest record of every key, as Kafka's LogCleaner:
//   - The cleanable part is the sealed segments from the log start up to the first that
//     is younger than min.compaction.lag.ms (its max timestamp), passes the last stable
//     offset or, in a tiered partition, is not in the bucket yet (the bucket keeps the full
//     history: a segment is uploaded before it is cleaned). The active segment never is.
//   - cleaner-checkpoint (text: "0", the first dirty offset, the earliest time a kept
//     tombstone may go, then "offset ms" horizon lines) says what was cleaned. A clean is
//     due when dirty / (clean + dirty) bytes reaches min.cleanable.dirty.ratio, when the
//     first dirty record is older than max.compaction.lag.ms (the active segment is rolled
//     for it), or when a kept tombstone's delete.retention.ms has passed.
//   - A pass puts the keys of the dirty part, from the first dirty offset, into a key map
//     of fixed size (offsetmap.go) until it is full at a batch boundary, then rewrites
//     every cleanable segment from the log start through what the map covers, in groups
//     of consecutive segments whose total size fits segment.bytes (each group becomes one
//     segment, swapped in atomically: segment/clean.go). More dirty keys than the map holds
//     take several passes.
//   - A record goes when the map holds a later offset for its key. A tombstone goes when
//     it is the latest of its key and delete.retention.ms passed since the clean that first
//     covered its offset (the horizons). Keyless records (written before the topic was
//     compacted) stay. Transactions follow Kafka's rules (cleantxn.go): aborted data is
//     not put in the map and goes, committed transactional records are compacted like any
//     other, a marker goes delete.retention.ms after the clean that found its transaction's
//     data gone (a delete horizon stamped in the batch, KIP-534), and the aborted index
//     entries of transactions without data are dropped.
//   - Batches keep their offsets, base offset, last offset delta, first timestamp and
//     producer fields (cleanbatch.go); a batch whose records all go is dropped, except the
//     last batch of each producer the idempotence state knows, kept empty, so that the state
//     rebuilt from the log after a restart still has its sequence (a batch left empty by an
//     earlier clean goes once its producer has written a later one).
//
// # Locking
//
// Partition.mu serialises every writer operation on the log (append, roll, retention, log
// start changes, producer snapshots); readers never take it (segment.Log supports reads
// concurrent with its writer, and the tier is safe for concurrent use). remoteMu guards the
// pending remote reads. clean.mu is held for a whole clean (one clean of a partition at a
// time; Close and Delete take it after marking the partition closed, which stops a clean at
// its next read). Lock order: clean.mu, then mu, then remoteMu. No lock is held during a
// bucket call except inside the tier.
//
// # Errors
//
// Errors are plain Go errors wrapping their cause: ErrClosed, ErrStorage, ErrRemote,
// ErrInvalidRecord, ErrTimeout, segment's batch errors and producer's sequence errors. The
// broker maps them to Kafka codes (broker/errors.go); this package imports no Kafka
// protocol package.
package partition
