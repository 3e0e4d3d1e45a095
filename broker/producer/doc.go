// Package producer holds the idempotent-producer state of the broker: producer id
// allocation (InitProducerId) and, per partition, the sequence/epoch bookkeeping that lets
// the broker drop retried batches instead of writing them twice.
//
// # Wiring (broker)
//
//	ids, err := producer.NewManager(producer.Config{Dir: filepath.Join(dataDir, "meta", "producer")})
//	// ApiVersions: InitProducerId (key 22) versions producer.SupportedVersions().
//	// handler:     return ids.InitProducerID(ctx, req), nil
//
// Per partition, one *State (producer.NewState(producer.StateConfig{IDExpiration: ...})).
// On Produce, for each batch with ProducerID >= 0, under the partition's append lock:
//
//	last := producer.LastSeq(baseSeq, numRecords)
//	dup, err := st.Check(pid, epoch, baseSeq, last)
//	switch {
//	case err != nil:  // partition error: errors.As(err, &kerrErr) gives the Kafka code
//	case dup != nil:  // success, BaseOffset = dup.FirstOffset, write nothing
//	default:          // append, then
//	    st.Update(producer.BatchMeta{ProducerID: pid, ProducerEpoch: epoch, FirstSeq: baseSeq,
//	        LastSeq: last, FirstOffset: info.BaseOffset, LastOffset: info.LastOffset,
//	        MaxTimestamp: info.MaxTimestamp}, now)
//	}
//
// When a segment rolls, st.Save(partitionDir, newSegmentBaseOffset). On open, after the
// segment log recovered: off, found, err := st.LoadLatest(partitionDir, logEndOffset)
// (found=false: off = log start), then for every batch from off to the log end
// st.ApplyBatch(meta) (headers only). On log-start changes st.TruncateBefore(logStart) and
// producer.DeleteSnapshots(dir, oldestSegmentBase, logEnd); periodically st.Expire().
//
// # Rules (Check), following Kafka's ProducerStateManager
//
//   - A batch equal (first and last sequence) to one of the producer's last 5 batches of
//     the same epoch is a duplicate: the original offsets are returned.
//   - An epoch older than the producer's current one: INVALID_PRODUCER_EPOCH.
//   - A newer epoch must start at sequence 0, else OUT_OF_ORDER_SEQUENCE_NUMBER.
//   - The same epoch must continue at lastSeq+1 (MaxInt32 wraps to 0), else
//     OUT_OF_ORDER_SEQUENCE_NUMBER.
//   - A producer the partition has never seen must start at 0, else UNKNOWN_PRODUCER_ID;
//     a producer whose state was removed by retention (TruncateBefore) or expiry (Expire,
//     producer.id.expiration.ms) may continue at any sequence, as Kafka allows since KIP-360;
//     so may every unknown producer once the broker called MarkIncomplete (state rebuilt
//     from part of the history only, e.g. a partition restored from the bucket).
//
// # Snapshot format (%020d.snapshot beside the segments; all integers big-endian)
//
//	0   4  magic "SPSN"
//	4   2  version (2; version 1, without the transaction part, is still read)
//	6   4  producer count N
//	10     N entries, ascending producer id:
//	         8 producer id, 2 epoch, 8 last seen (unix ms), 1 batch count B (<= 5),
//	         B x (4 first seq, 4 last seq, 8 first offset, 8 last offset, 8 max timestamp),
//	         (v2) 1 open transaction (0/1), 8 first offset of the open transaction (txn.go)
//	end-4  4  CRC-32C (Castagnoli) of all preceding bytes
//
// The file name's offset is the log end offset at the time of the snapshot: the state
// covers every batch below it. A snapshot is written to <name>.tmp, fsynced, renamed and
// the directory fsynced, so a crash leaves the old set of snapshots or the new one. A
// snapshot that fails any check is skipped by LoadLatest (an older one is used and more
// batches replayed). A new version gets a new version number; readers reject unknown
// versions (and fall back to replay).
//
// # Producer id block file (<Dir>/producer_id_block)
//
// 8 bytes: first producer id not yet reserved; 4 bytes CRC-32C of those 8. Ids are
// handed out from a block of Config.BlockSize reserved by rewriting this file atomically
// before the first id of the block is used, so no id is ever reused after a crash.
package producer
