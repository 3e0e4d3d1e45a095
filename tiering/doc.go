// Package tiering moves sealed segments of the local log to an object store and serves
// reads of any offset the bucket holds. It has the ObjectStore seam (objstore.go) and the
// RemotePartition a partition (package partition) composes with its local log, and behind
// them: the Manager and its uploader, partition manifests, remote reads through package cache, remote retention,
// orphan sweeping and restore-from-bucket. Backends live in subpackages.
//
// # Keys (never overwritten, except the two mutable manifests and the watermark)
//
//	<prefix>/_topics/<topic>-<topicID>                                      empty marker: the topic exists
//	<prefix>/<topic>-<topicID>/topic.json                                   topic manifest (mutable); every topic
//	                                                                        has one, "localOnly" marks a topic that is not tiered
//	<prefix>/_groups/groups.snapshot                                        consumer-group offsets and metadata (mutable; GroupsSnapshotKey)
//	<prefix>/_quotas/quotas.json                                            client quotas (mutable; QuotasKey)
//	<prefix>/_security/{scram-credentials,acls}.json                        users and ACLs (mutable; broker/secbucket.go)
//	<prefix>/<topic>-<topicID>/<partition>/manifest.json                    partition head (mutable, fenced)
//	<prefix>/<topic>-<topicID>/<partition>/manifest-<%020d firstBase>-<uuid>.json   spilled chunk
//	<prefix>/<topic>-<topicID>/<partition>/watermark.json                   log end and reserved offsets (mutable; watermark.go)
//	<prefix>/<topic>-<topicID>/<partition>/<%020d base>-<uuid>.log          segment data, as on disk
//	<prefix>/<topic>-<topicID>/<partition>/<%020d base>-<uuid>.index       remote offset index
//	<prefix>/<topic>-<topicID>/<partition>/<%020d base>-<uuid>.timeindex   remote time index
//	<prefix>/<topic>-<topicID>/<partition>/<%020d base>-<uuid>.snapshot    producer-state snapshot (optional)
//	<prefix>/<topic>-<topicID>/<partition>/<%020d base>-<uuid>.hashes      SHA-256 per hash block of the .log (when it has more than one)
//
// <topicID> is the Kafka topic ID as 32 lower-case hex digits; <prefix>/ is omitted when the
// prefix is empty. Every upload attempt draws a new UUID, so a retried or abandoned upload
// never overwrites bytes that a manifest names: it leaves orphans, which the sweep removes.
//
// # Order of truth
//
//  1. The uploader puts a segment's .log, .index and .timeindex, and the broker's
//     producer-state snapshot for the segment's end when the partition directory has one
//     (SegmentEntry.ProducerSnapshot; see prodsnap.go), concurrently; all must succeed.
//  2. Then it writes the partition head naming them. Only when that write returned nil does
//     the in-memory snapshot change, so Uploaded(seg) is never true for a segment whose
//     manifest entry is not durable in the bucket.
//  3. Only a segment for which Uploaded is true may be deleted locally (package partition
//     asks; the tier never deletes local files).
//  4. Retention and DeleteRecords write the head with the new log start first, and delete
//     the dropped objects afterwards; a failed delete leaves an orphan.
//  5. Objects under a partition prefix that the manifest in the bucket does not name, and
//     that are older than Config.OrphanGrace, are orphans and are deleted by SweepOrphans.
//     The grace period protects uploads in flight (objects put, head not yet written).
//
// A manifest write reported as failed may still have landed (a lost response). The retry
// then meets a precondition failure on a head whose "writer" is this Manager; that is not a
// fence: the manifest is reloaded from the bucket and the upload loop carries on.
//
// Failure: when the bucket is unreachable the uploader retries with exponential backoff
// (Config.RetryBackoff..RetryMaxBackoff) forever; nothing is dropped, nothing local is
// deleted (Uploaded stays false), and produce and local reads carry on. Remote reads return
// the store's error, never an empty answer; the broker maps it to a retriable code.
//
// # Partition manifest (JSON, version 2; version 1 is read, see "Tamper evidence")
//
// The head, manifest.json, holds at most Config.ManifestChunkEntries entries (the newest)
// plus a reference to the newest spilled chunk. Appending to a full head first writes its
// entries as an immutable chunk whose "prev" points at the previous chunk, then writes a
// head holding only the new entry. An update therefore writes at most one chunk and one
// head of bounded size, whatever the length of history: uploading segment 100,000 costs
// the same as uploading segment 10. Loading walks the chunk chain from the head backwards,
// stopping at a chunk whose lastOffset is below logStartOffset (the chunks are fetched up
// front with one List and parallel GETs; the chain alone decides which are live). Chunks
// are immutable, so the broker keeps a local copy of each in the partition directory and
// reads those at start-up instead of the bucket, with a local record of the chain
// (manifest-chain.idx) so that the copies are read concurrently (chunkcache.go). A broker
// attaches the tiers of partitions with local data after it starts serving (broker/tier.go).
//
//	{
//	 "version": 2, "kind": "strata.partition",
//	 "topic": "orders", "topicId": "<32 hex>", "partition": 0,
//	 "logStartOffset": 0,          // remote log start; entries wholly below it are dead
//	 "endOffset": 1234,            // last offset + 1 of everything ever uploaded (may be
//	                               // below logStartOffset after DeleteRecords into local data)
//	 "seq": 17,                    // incremented by every write
//	 "writer": "<uuid>",           // the Manager that wrote it
//	 "updated": "<RFC 3339>",
//	 "segments": [ <entry>... ],   // newest entries, oldest first
//	 "lastChunk": {"key": "...", "firstBase": 0, "lastOffset": 999, "count": 128, "bytes": 123},
//	 "chain": {"seq": 42, "hash": "<64 hex>"},   // the newest link of the hash chain
//	 "deletions": [ <deletion>... ]                // deletion links since the newest entry
//	}
//	<entry> = {
//	 "id": "<uuid>", "baseOffset": 0, "lastOffset": 99,
//	 "firstTimestamp": <ms>, "maxTimestamp": <ms>,
//	 "size": <bytes of .log>, "batches": <n>, "uploadTime": "<RFC 3339>",
//	 "log":       {"key": "...", "size": n, "crc32c": c, "sha256": "<64 hex>"}, // CRC-32C (Castagnoli)
//	 "index":     {"key": "...", "size": n, "crc32c": c, "sha256": "..."},      // and SHA-256 of the
//	 "timeIndex": {"key": "...", "size": n, "crc32c": c, "sha256": "..."},      // whole object
//	 "producerSnapshot": {"key": ..., "size": n, "crc32c": c, "sha256": "..."}, // optional
//	 "producerSnapshotOffset": 100,                        // the offset that snapshot describes
//	 "leaderEpochs": {"min": -1, "max": 0},                // range of the batches' partitionLeaderEpoch;
//	                                                       // absent in entries of older brokers
//	 "hashBlock": 1048576,                                 // bytes per hash block of the .log
//	 "hashes": {"key": "....hashes", "size": n, "crc32c": c, "sha256": "..."}, // absent: one block
//	 "chainSeq": 17, "chainPrev": "<64 hex>",              // the entry's chain link
//	 "deletions": [ <deletion>... ]                        // deletion links just before it
//	}
//	<deletion> = {"seq": 16, "prev": "<64 hex>", "time": <ms>, "reason": "retention"|"log-start",
//	 "fromOffset": 0, "logStartOffset": 100, "segments": 2, "bytes": 8192,
//	 "lastDroppedSeq": 15, "lastDroppedHash": "<64 hex>"}  // the newest dropped segment's link
//
// A chunk is {"version": 2, "kind": "strata.partition.chunk", "topic", "topicId",
// "partition", "segments": [...], "prev": <chunk ref or absent>}. Entries are sorted by
// baseOffset and never overlap, across chunks and head.
//
// topic.json is {"version": 1, "kind": "strata.topic", "topic", "topicId", "partitions",
// "configs": {Kafka topic config name: value}, "updated"}; it is rewritten when the
// partition count or configs change.
//
// Versioning: readers accept any version <= ManifestVersion and ignore unknown fields, so
// additive changes (new optional fields) keep version 1. A change that old readers would
// misread (a field changing meaning) bumps ManifestVersion; old brokers then refuse the
// manifest (ErrCorruptManifest) rather than misread it, and new brokers keep reading old
// versions and write the new one on the next update.
//
// # Tamper evidence (version 2)
//
// Hashes. Every object an entry names has its SHA-256 beside its CRC-32C. The .log is also
// hashed in blocks of "hashBlock" bytes (a quarter of the uploader's Config.ChunkBytes when
// that is at least 256 KiB, else ChunkBytes: 1 MiB with the default 4 MiB chunks); the
// .hashes object is the blocks' SHA-256s, 32 raw bytes each, in order (the last block may be
// shorter), and the entry holds that object's own SHA-256. A .log of one block has no
// .hashes object: its block hash is log.sha256. Per-block hashes in a side object rather than
// a Merkle tree: a ranged read needs the hashes of its blocks only, one small cached GET per
// segment, and the manifest entry stays small whatever the segment size.
//
// Chain. Each upload (an entry) and each move of the remote log start (a deletion: retention,
// DeleteRecords) is a link n (1, 2, ...) of the partition's chain:
//
//	link(n) = SHA-256("strata.link.v1" || uint64be(n) || link(n-1) raw (32 zero bytes for n=1) || body(n))
//	body    = SHA-256(canonical encoding of the entry or deletion)
//
// The canonical encoding (chain.go: entryBody, deletionBody) is a tag ("strata.segment.v1",
// "strata.deletion.v1"), the topic ID and partition, then the fields in a fixed order,
// integers as 8 bytes big-endian, strings as a 4-byte big-endian length and the bytes,
// optional fields after a presence byte; upload times as Unix nanoseconds. An entry's body
// covers every field but its own chainSeq/chainPrev and carried deletions. Entries store
// their link number and previous hash; deletions are links of their own, kept in the head
// until the next entry carries them ("deletions", in chain order before the entry). The
// head's "chain" names the newest link. Loading a manifest checks the chain over every
// entry loaded (chainLinked order: carried deletions, entry; then the head's deletions):
// numbers consecutive, each prev equal to the previous link's hash, the newest link equal to
// "chain", no unlinked entry after a linked one, and the first link's prev equal to what a
// deletion recorded as lastDroppedHash for it. A break leaves the segments on both sides of
// it unvouched for: reads of them fail (ErrCorrupt wrapping ErrChainBroken). What the chain
// held before retention dropped it is summarised by the deletion links (offsets, count,
// bytes, the newest dropped link's hash).
//
// Versions. Partition heads and chunks are written as version 2 (PartitionManifestVersion),
// so that brokers before the chain refuse them instead of dropping "chain" and appending
// unlinked entries. Version 1 manifests are read: their entries have no hashes (checked by
// CRC-32C only) and the chain starts with link 1 (prev "") at the first entry a version-2
// broker uploads. topic.json stays version 1.
//
// Rollback. The broker keeps the newest chain head it wrote in the partition directory
// (tier-chain-head.json). A manifest loaded later whose chain ends before that link, or
// holds another hash at its number, was put back or rewritten: every remote read of the
// partition fails, the partition stops writing (fenced) and the orphan sweep stops (the
// objects the old manifest does not name are evidence). Someone rewriting the whole bucket
// consistently is caught only against a chain head published elsewhere (`strata tier heads`,
// `strata tier verify --deep --heads`).
//
// Proofs. A Proof (chain.go) is an entry with its link and the body digests of every later
// link up to a head: a verifier recomputes the links and compares the last with a published
// head, without the bucket.
//
// Object Lock. With Config.ObjectLockMode and a store that is a RetainingPutter, the objects
// of a segment (not the manifests) are put under S3 Object Lock until min(max timestamp,
// upload time) + PartitionConfig.RetentionMs (objectlock.go). A delete the bucket refuses
// (ErrRetained) changes nothing in the order of truth: the manifest and the chain already
// dropped the segment, the objects are orphans the sweep retries.
//
// Encryption. The tier itself works on plaintext: it hashes, checks and parses the bytes the
// ObjectStore hands it. Client-side encryption is a decorator below it,
// storewrap.Encrypt (configured by strata.tier.encryption.key.file in cmd/strata): every
// object, manifests included, is stored as a header (the partition's data key wrapped by a
// key-encryption key, and its id) and AES-256-GCM blocks of 64 KiB, each with its own nonce
// and tag and bound to the object key, its position and the header, so a ranged GET of a
// chunk fetches only the blocks the chunk covers. Consequences here: the SHA-256s, block
// hashes and chain links cover the plaintext (the records as written, whatever key sealed
// them) and are checked after decryption exactly as without encryption; a block that fails
// its tag is segment.ErrCorrupt (refused like a hash mismatch); a missing or wrong key is an
// error from the store, never bytes; ETags (PutIf fencing) are the stored objects', so
// conditional manifest writes work unchanged; Stat and List sizes are plaintext sizes.
//
// Fencing: the head is written with ConditionalPutter.PutIf when the store has it, with the
// ETag of the head this writer last read or wrote (or "" = must not exist). A writer that
// loses (another broker took over the partition) gets ErrFenced, stops uploading and
// deleting for that partition (RemotePartition.Fenced), and must be reopened.
//
// # Remote indexes (Strata's, rebuilt while uploading; not copies of the local files)
//
// While uploading, the .log is scanned batch by batch (framing checked: length, magic 2,
// offsets contiguous from the segment's base offset, no batch past the end) and the CRC-32C
// of the whole object computed.
// The batches are grouped in blocks: a block starts at the first batch and at the first
// batch at least Config.IndexIntervalBytes after the previous block's start.
//
//	.index      per block, 8 bytes big-endian: relative offset uint32 (baseOffset of the
//	            block's first batch - segment base), position uint32 (byte offset in .log)
//	.timeindex  per block, 12 bytes big-endian: max timestamp int64 of all batches in the
//	            block, relative offset uint32; entry i covers the same block as .index entry i
//
// The bucket is not trusted. Every batch a read returns has its CRC-32C checked, and first
// its header against the manifest entry (checkFrame), because the CRC does not cover bytes
// 0-20 (layout: segment.BatchHeader): the first batch of a segment starts at the entry's BaseOffset (a read from an index
// block at the block's offset), each next batch at the previous last offset + 1, only the
// last batch ends at the entry's LastOffset, and every batch lies within the object leaving
// room for another header or nothing. So bit rot in the bucket reaches the consumer as a
// segment.ErrCorrupt error (a ReadError naming the object, position and offset, logged per
// partition with a rate limit) rather than as bad records or moved offsets; the checked
// batches before the damaged one are still returned. The partition leader epoch (bytes
// 12-15) is the producer's value: a read checks it against the range the entry recorded at
// upload ("leaderEpochs"; entries of older brokers have none and only VerifyEntry catches
// it). VerifyEntry checks whole objects against the manifest's CRC-32C and SHA-256 and the
// .log's blocks against its hash list (for `strata tier verify`). On top of the batch checks,
// every chunk is checked against its SHA-256 block hashes as it arrives (hashcheck.go;
// see "Tamper evidence"), so a chunk whose bytes changed is refused whole, even where the
// attacker fixed the batch CRCs.
//
// A read of offset o finds the last block with relative offset <= o - base and scans batch
// headers from there; a timestamp lookup finds the first block whose max timestamp >= ts.
// Both objects are small, fetched whole, checked against their manifest CRC-32C and cached.
// Segments are limited to 4 GiB (positions are uint32, as in Kafka).
//
// # Reads
//
// Read(offset): binary search of the snapshot's entries by offset -> index (cached) ->
// position -> chunks of Config.ChunkBytes aligned in the object, each fetched with one
// ranged GET through package cache (singleflight, byte budget) -> whole batches from the
// requested offset up to maxBytes, from one segment. Everything loaded before a reader asks
// for it is decided in one place, readahead.go, by one policy: a sequential reader (one
// asking for the offset where the previous read ended) has the chunks of its read loaded in
// parallel and enough chunks past it to cover its next two reads of the same size loaded in
// aligned runs (one GET of up to Config.ReadAheadRunChunks chunks each, several in flight),
// crossing into the next segments up to ReadOptions.Until; the read-ahead of all
// partitions shares a quarter of the chunk cache budget (in equal shares once it does not
// cover every reader). Chunks stay the unit of caching;
// only the requests are larger, which costs the broker and the bucket less CPU per byte
// (TestTierColdReadCPU in test/).
//
// ReadRecords (records.go) is Read without the copy: the batches are returned as slices of
// the cached chunks that hold them (tiering.Records), which the broker writes to the
// consumer's socket with writev. That is safe because a cached chunk is never modified or
// recycled: eviction only drops the cache's reference, and the garbage collector frees the
// chunk when the last response referring to it is gone. The CRC-32C of every batch is
// checked over the slices. Read is ReadRecords plus one copy, for callers that keep bytes.
// ReadOptions are explicit: Uncounted leaves the remote fetch metrics to the caller's
// CountFetch (a fetch may stop waiting for the partition's read), ReadyOnly returns the
// batches already cached once there is one instead of waiting for the rest's GETs, Until
// bounds the read-ahead.
//
// # Upload interval (remote.log.upload.interval.ms)
//
// The tier never writes the local log (package partition is its single writer): it neither
// rolls it, nor moves its start, nor deletes segments. The partition's maintenance calls
// RemotePartition.RollDue(now), which is true once the active segment holds data older than
// PartitionConfig.UploadInterval; the partition then rolls and calls OnSealed, which wakes
// the uploader. Likewise ApplyRetention and SetLogStartOffset move the remote start only,
// and Uploaded answers which local segments may go: the partition applies both to its log.
//
// # Restore
//
// Restore(ctx, store, prefix) lists the _topics/ markers (one small listing, however many
// segment objects the bucket holds) and reads the topic.json each names; a bucket without
// markers is scanned in full. WriteTopicManifest puts topic.json, then the marker;
// DeleteTopic deletes the marker first. The broker recreates the topics
// and opens their partitions on empty local logs; once its tier is open, the partition
// restarts an empty local log at the remote end offset (Bounds), so new produces continue
// after the bucket's data while reads below it come from the bucket, and a brand-new one
// further, after the partition's watermark (OpenedWatermark; watermark.go), so that offsets
// acknowledged but never uploaded are not handed out again.
package tiering
