// Package txn is the transaction coordinator of a single-node broker (KIP-98, KIP-447,
// the KIP-890 part 1 verification; transaction version 1). It owns the transactional ids:
// their producer id and epoch, the transaction's state, its partitions, its consumer
// groups and the offsets committed in it, and drives each transaction to its end.
//
// # States (Kafka's names)
//
//	Empty ── AddPartitions/AddOffsets ──▶ Ongoing ── End(commit) ──▶ PrepareCommit ──▶ CompleteCommit
//	                                         │      End(abort), timeout,                 │
//	                                         │      re-initialisation                     │
//	                                         └───────────────────────▶ PrepareAbort ──▶ CompleteAbort
//	Empty/Complete* ── idle for IDExpiration ──▶ Dead (forgotten)
//
// A prepared transaction is completed by writing its offsets (commit) through the
// OffsetCommitter and a COMMIT/ABORT marker to each of its partitions through the
// MarkerWriter (durably), then recording it Complete*. End answers once the Prepare* record
// is durable; it also completes the transaction before answering unless a partition fails,
// in which case Run retries every CheckInterval and requests for the id meanwhile get
// CONCURRENT_TRANSACTIONS. A timed-out transaction is aborted with the epoch bumped, so the
// producer that holds the old epoch is fenced; InitProducerId for an id with an ongoing
// transaction aborts it the same way (zombie fencing). A producer fenced by a timeout may
// re-initialise with its old epoch (KIP-360: LastEpoch).
//
// # Log (<Dir>/txnlog)
//
// Every state change appends the whole new state of the id as one record,
//
//	4 payload length, 4 CRC-32C (Castagnoli) of the payload, payload (JSON of Txn)
//
// and fsyncs before the request is answered. At open the records are replayed (the last
// one of an id wins; state Dead removes it) up to the first torn or corrupt record, where
// the file is cut. When it holds at least 1000 records and four times the live ids, the
// log is rewritten with one record per id (segment.WriteFileAtomic: temporary file,
// fsync, rename, directory fsync), all on the segment.FS seam. Transactions found
// prepared at open are completed by Run's first pass.
//
// # Errors (as Kafka's TransactionCoordinator answers them)
//
//   - unknown transactional id or another producer id: INVALID_PRODUCER_ID_MAPPING;
//   - another epoch: PRODUCER_FENCED (INVALID_PRODUCER_EPOCH for EndTxn,
//     AddPartitionsToTxn and AddOffsetsToTxn below v2, TxnOffsetCommit below v3,
//     InitProducerId below v4);
//   - a transaction being completed: CONCURRENT_TRANSACTIONS;
//   - EndTxn with nothing begun, or the opposite outcome of a completed one:
//     INVALID_TXN_STATE; a TxnOffsetCommit for a group not added: INVALID_TXN_STATE;
//   - a timeout <= 0 or above MaxTimeout: INVALID_TRANSACTION_TIMEOUT;
//   - a transactional produce to a partition not in the ongoing transaction (Verify):
//     INVALID_TXN_STATE, or INVALID_PRODUCER_EPOCH for an older epoch.
package txn
