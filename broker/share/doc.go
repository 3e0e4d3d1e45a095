// Package share is Strata's share-group coordinator (KIP-932, "queues for Kafka"): share-
// group membership, the share-partition state of every (group, partition), share
// sessions, and the durable copy of that state. The broker's handlers for
// ShareGroupHeartbeat (76), ShareGroupDescribe (77), ShareFetch (78), ShareAcknowledge
// (79), DescribeShareGroupOffsets (90), AlterShareGroupOffsets (91) and
// DeleteShareGroupOffsets (92) are adapters onto it; reading the log stays in the broker
// (the partition's normal read path, local or tiered).
//
// # Membership (coordinator.go)
//
// Members choose their id (v1) and join at epoch 0 with the topics they subscribe to;
// every join, leave and assignment change bumps the group epoch and the member gets the
// new epoch. A heartbeat at another epoch is FENCED_MEMBER_EPOCH, an unknown member at an
// epoch > 0 UNKNOWN_MEMBER_ID; epoch -1 leaves. A member that does not heartbeat within
// group.share.session.timeout.ms is removed. Assignment: every member is assigned every
// partition of the topics it subscribes to. Share partitions are consumed by many members
// at once and records are spread by acquisition, so there is no revocation step and no
// partition is starved; Kafka's "simple" assignor spreads partitions over members instead,
// which matters for fetch fan-out on large clusters, not for delivery semantics. A group
// name used by a classic or consumer group is GROUP_ID_NOT_FOUND.
//
// # Share-partition state (partition.go)
//
// Per (group, partition): the start offset (SPSO; every offset below is done), the end
// offset (SPEO; the next offset never acquired) and the state of every offset between:
// Available, Acquired (by one member, until its lock of group.share.record.lock.duration.ms
// ends), Acknowledged or Archived. A fetch acquires available in-flight records first,
// then new records from the end, at most MaxRecords, and never lets end - start pass
// group.share.partition.max.record.locks. Each acquisition increments the record's
// delivery count. Accept makes a record Acknowledged; reject (and gap) Archived; release,
// an expired lock, a closed session and a member leaving make it Available again, or
// Archived once it has been delivered group.share.delivery.count.limit times. Control
// batches and offsets missing from the log are Archived as they are passed. An
// acknowledgement of a record the member does not hold (not acquired, another member's,
// lock expired, already acknowledged) is INVALID_RECORD_STATE, and a batch is applied all
// or nothing. The start offset follows the log start when retention removes records. A
// partition's state is created at its first assignment or fetch, at the high watermark
// (share.auto.offset.reset=latest, the default) or the log start (earliest; a GROUP config
// set with IncrementalAlterConfigs).
//
// # Share sessions (session.go)
//
// ShareFetch at epoch 0 opens a session on the connection (acknowledgements there are
// INVALID_REQUEST), epoch n > 0 must be the session's next epoch
// (INVALID_SHARE_SESSION_EPOCH; no session: SHARE_SESSION_NOT_FOUND) and adds or forgets
// partitions, epoch -1 acknowledges and closes. ShareAcknowledge cannot open a session.
// Closing a session, or the connection it was opened on, releases the member's records.
// The number of sessions is not limited (Kafka's group.share.max.share.sessions).
//
// # Durable state (store.go)
//
// One JSON file per group, <data>/meta/share/<hex(group id)>.json, replaced whole with
// segment.WriteFileAtomic on the segment.FS seam: version, group epoch,
// share.auto.offset.reset, and per partition the start and end offsets and the state and
// delivery count of every in-flight record that is not plain Available. Writes are
// batched by one writer goroutine; acknowledgements, offset changes and config changes
// are answered only after the write that covers them (Sync). After a restart acquired
// records are Available with their delivery counts; members and sessions are not kept
// (clients rejoin at epoch 0). The state is not uploaded to the bucket: a restore from the
// bucket starts share groups afresh.
package share
