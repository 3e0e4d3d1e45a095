// Package group is Strata's classic consumer-group coordinator (the protocol of
// JoinGroup/SyncGroup/Heartbeat/LeaveGroup and committed offsets). A single node is the
// coordinator of every group, so FindCoordinator always answers with the broker itself.
// KIP-848 (ConsumerGroupHeartbeat) is not implemented and must not be advertised; clients
// then use the classic protocol.
//
// # Wiring (broker)
//
//	store, err := group.OpenFileStore(group.FileConfig{Dir: filepath.Join(dataDir, "meta", "groups"), Logger: logger})
//	groups, err := group.New(group.Config{
//		InitialRebalanceDelay: <group.initial.rebalance.delay.ms>, // 0 = Kafka's 3s; tests want a few ms or <0 for none
//		TopicExists:           func(t string) bool { return b.lookupTopic(t) != nil },
//		Metrics:               group.NewMetrics(cfg.Registerer), // optional
//	}, store, logger)
//	go groups.Run(ctx)       // offset retention; stops timers when ctx ends
//	defer store.Close()      // after the connections are gone
//
// ApiVersions: add group.SupportedVersions() (key -> {min, max}); InitProducerId comes from
// producer.SupportedVersions(). Handlers are one line each, from the connection's request
// goroutine (JoinGroup and SyncGroup block until the rebalance step completes or ctx ends,
// so ctx must end when the connection closes):
//
//	FindCoordinator: groups.FindCoordinator(ctx, req, group.Node{NodeID: id, Host: advertisedHost, Port: advertisedPort})
//	JoinGroup:       groups.JoinGroup(ctx, req, group.Client{ID: header client.id, Host: remote host})
//	SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups,
//	DescribeGroups, DeleteGroups, OffsetDelete: groups.X(ctx, req)
//
// or route every key of SupportedVersions through one handler with
// groups.Handle(ctx, req, client, self).
//
// Handlers never return a Go error: every failure is a Kafka error code in the response.
// The store is fsynced before OffsetCommit answers; a store failure answers
// COORDINATOR_NOT_AVAILABLE (retriable). After DeleteTopics call groups.TopicDeleted(name). Describe(name) returns members,
// assignments and committed offsets for lag reporting.
//
// # Semantics (Kafka's GroupCoordinator)
//
// States Empty, PreparingRebalance, CompletingRebalance, Stable, Dead. A v4+ JoinGroup
// without member id gets MEMBER_ID_REQUIRED and an id to rejoin with (KIP-394). The first
// rebalance of an empty group waits group.initial.rebalance.delay.ms, extended while
// members keep arriving, up to the rebalance timeout (KIP-134); later rebalances complete
// when every member has rejoined or after the largest rebalance.timeout.ms, dropping
// members that did not rejoin. The protocol is the one every member supports with the
// most first-choice votes; the leader keeps its role while it stays. SyncGroup from the
// leader stores the assignment and makes the group Stable; members that do not sync
// within the rebalance timeout are removed. Members that neither heartbeat nor wait in
// JoinGroup/SyncGroup for session.timeout.ms are removed and the group rebalances.
// Static members (group.instance.id, KIP-345) that rejoin without a member id replace
// their old id — which is then FENCED_INSTANCE_ID — without a rebalance when the group is
// Stable and their metadata is unchanged (a v9+ leader is told to skip assignment; an
// older leader triggers a rebalance). Commits with generation -1 to an Empty group are
// offsets-only commits; otherwise member and generation must match, and commits are
// refused with REBALANCE_IN_PROGRESS only in CompletingRebalance. Offsets of Empty groups
// expire offsets.retention.minutes after the later of their commit and the group becoming
// empty; an Empty group without offsets is deleted.
//
// # On-disk format (<data>/meta/groups)
//
// Two files, both a header followed by frames. All integers are big-endian.
//
//	frame   = length uint32 | crc uint32 (CRC-32C Castagnoli of payload) | payload
//	payload = kind uint8 | seq uint64 | group str | body
//	str     = uvarint length | bytes
//	body    = kind 1 offset:        topic str | partition int32 | offset int64 | leaderEpoch int32 | metadata str | commitTimeMs int64
//	          kind 2 offset delete: topic str | partition int32
//	          kind 3 group:         protocolType str | protocol str | generation int32 | leader str | stateTimeMs int64 |
//	                                members uvarint | members x (memberID str | instanceID str | clientID str | clientHost str |
//	                                sessionTimeoutMs int32 | rebalanceTimeoutMs int32 | metadata str | assignment str)
//	          kind 4 group delete:  (empty; removes the group's metadata and offsets)
//
//	groups.log       "SGLG" | version uint16 (1) | frames...       appended; one fsync per batch of concurrent appends
//	groups.snapshot  "SGSN" | version uint16 (1) | lastSeq uint64 | count uint64 | frames (seq 0)...
//
// Every appended record gets the next sequence number. The snapshot holds the compacted
// state (last value per key) as of lastSeq; recovery loads it and applies the log records
// with seq > lastSeq, in order. When the log outgrows max(FileConfig.CompactBytes, the
// snapshot), the snapshot is rewritten (groups.snapshot.tmp, fsync, rename, directory
// fsync) and the log replaced by an empty one the same way. A crash between the two
// leaves the new snapshot and the old log, whose records are then skipped by sequence
// number, so restart time depends on the live state, not on the number of commits ever
// made. A log frame that is short, fails its CRC or does not decode ends the log: the
// file is copied to groups.log.broken and truncated there (a torn tail; acknowledged
// commits were fsynced before their response, so only unacknowledged ones are lost). A
// damaged snapshot is never guessed at: OpenFileStore fails with ErrCorrupt. A new
// format version gets a new version number; readers reject versions they do not know.
//
// # Copies outside the data dir (snapshot.go)
//
// FileStore.Snapshot returns the durable state as a whole groups.snapshot file and the
// sequence number it covers (DurableSeq); the broker puts it in the bucket. On a data dir
// being restored, InstallSnapshot checks such a file as recovery would and writes it as the
// local groups.snapshot, so OpenFileStore loads it and numbers new records after it.
package group
