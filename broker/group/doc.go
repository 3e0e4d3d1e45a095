// Package group is Strata's consumer-group coordinator: the classic protocol
// (JoinGroup/SyncGroup/Heartbeat/LeaveGroup), the KIP-848 consumer protocol
// (ConsumerGroupHeartbeat, ConsumerGroupDescribe) and committed offsets. A single node is
// the coordinator of every group, so FindCoordinator always answers with the broker itself.
//
// # Wiring (broker)
//
//	store, err := group.OpenFileStore(group.FileConfig{Dir: filepath.Join(dataDir, "meta", "groups"), Logger: logger})
//	groups, err := group.New(group.Config{
//		InitialRebalanceDelay: <group.initial.rebalance.delay.ms>, // 0 = Kafka's 3s; tests want a few ms or <0 for none
//		TopicExists:           func(t string) bool { return b.lookupTopic(t) != nil },
//		Metrics:               group.NewMetrics(cfg.Registerer), // optional
//		Topics:                func() []group.TopicInfo { ... },   // name, id, partitions: KIP-848 assignment
//		ConsumerSessionTimeout, ConsumerHeartbeatInterval, ConsumerAssignors, ConsumerMaxSize: group.consumer.*
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
//	ConsumerGroupHeartbeat: groups.ConsumerGroupHeartbeat(ctx, req, group.Client{...})
//	SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups,
//	DescribeGroups, DeleteGroups, OffsetDelete, ConsumerGroupDescribe: groups.X(ctx, req)
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
// # KIP-848 consumer groups (consumer.go, consumer_assign.go)
//
// ConsumerGroupHeartbeat v0-v1 and ConsumerGroupDescribe v0-v1, the versions Kafka 4.x
// serves. A group is classic or consumer; ListGroups v5 reports the type ("classic",
// "consumer") and filters on it, DescribeGroups answers a consumer group as Kafka does
// (Dead before v6, GROUP_ID_NOT_FOUND "Group X is not a classic group." from v6).
//
//   - Members join with epoch 0 and their own member id (v1; v0 members get one), and
//     subscribe by names or by a regex (SubscribedTopicRegex, RE2 as Kafka's RE2/J, matched
//     against the whole topic name; internal topics never match, nor, with an authorizer,
//     topics the member's principal may not DESCRIBE; an invalid one is
//     INVALID_REGULAR_EXPRESSION). Null fields mean "unchanged".
//   - The group epoch moves when a member joins or leaves, a subscription or the server
//     assignor changes, or a subscribed topic appears, disappears or grows (subscriptions
//     are resolved against the topics on membership changes and otherwise at most once a
//     second, so a new topic is noticed at the first heartbeat a second later). Then the target
//     assignment is recomputed by the assignor most members ask for (ServerAssignor, one of
//     group.consumer.assignors, else the first of them; others are UNSUPPORTED_ASSIGNOR):
//     "uniform" balances all partitions over the subscribers and moves as few as it can;
//     "range" gives each topic's subscribers consecutive ranges (sorted by instance id or
//     member id). Rack awareness is not implemented.
//   - Reconciliation is incremental: a member is first told to give up partitions its target
//     lacks (its epoch stays) and gets the new epoch only when a heartbeat shows it owns none
//     of them; a partition still held (assigned or being revoked) by another member is
//     withheld until released. So no partition is ever owned by two members. A member that
//     does not revoke within its rebalance timeout, or does not heartbeat within
//     group.consumer.session.timeout.ms, is removed and its partitions reassigned. Members
//     are told group.consumer.heartbeat.interval.ms.
//   - Epochs: a heartbeat with an epoch above the member's, or below it unless it is the
//     previous epoch and the reported partitions are a subset of the assignment (a lost
//     response), is FENCED_MEMBER_EPOCH; an unknown member id is UNKNOWN_MEMBER_ID; a known
//     member joining again at epoch 0 keeps its state and is sent its assignment.
//   - Static members (InstanceID): another member id with the instance id of an active
//     member is UNRELEASED_INSTANCE_ID; a leave with epoch -2 keeps the member and its
//     partitions (nobody else gets them) until it rejoins with the instance id and a new
//     member id — which takes over the old member's assignment and epoch without an epoch
//     bump — or its session expires; epoch -1 leaves for good. A member id that is not the
//     instance's is FENCED_INSTANCE_ID.
//   - Offsets: OffsetCommit to a consumer group needs v9+ (else UNSUPPORTED_VERSION) and a
//     member of the group (UNKNOWN_MEMBER_ID) at its current epoch; as in Kafka 4.3
//     (KIP-1251) an older epoch is accepted for each partition the member has owned since
//     that epoch or earlier, and refused per partition with STALE_MEMBER_EPOCH otherwise (a
//     newer epoch: all of them). The epoch at which a partition became the member's is not
//     persisted: after a restart it is the member's current epoch (refusing more, never
//     less). Epoch -1 commits only to a group without members. OffsetFetch v9+ with a
//     member id or epoch >= 0 needs the member and its current epoch.
//   - Upgrade and downgrade, as group.consumer.migration.policy allows (Config.MigrationPolicy:
//     bidirectional, Kafka 4.x's default; upgrade; downgrade; disabled) (consumer_classic.go). Offline,
//     under any policy: a heartbeat at epoch 0 to an
//     empty classic group turns it into a consumer group (offsets kept, epoch continues from
//     the generation); a classic JoinGroup to an empty consumer group turns it back. Online
//     (rolling restarts): a KIP-848 join of a Stable classic group whose members all use
//     the consumer protocol type upgrades it in place: the classic members become members
//     of the consumer group at epoch = generation with their assignments, and are served
//     through the classic APIs: JoinGroup updates their subscription and reconciles them at
//     once (owned partitions as their subscription metadata reports; never the leader, the
//     coordinator assigns), SyncGroup returns what they may own now, Heartbeat answers
//     REBALANCE_IN_PROGRESS while they are behind the target, LeaveGroup and the session
//     timeout remove them, OffsetCommit checks their generation against their epoch
//     (ILLEGAL_GENERATION). New classic members may join such a group the same way. When
//     the last KIP-848 member leaves and classic members remain, the group becomes classic
//     again at the members' generation and rebalances. A classic group that is not Stable
//     or has other protocol types is not upgraded: the KIP-848 join gets GROUP_ID_NOT_FOUND
//     (Kafka's answer when it cannot upgrade). Under "upgrade" or "disabled" a consumer
//     group left with classic members only stays a consumer group. Not implemented: a
//     classic member's static replacement by a KIP-848 member of the same instance id
//     (UNRELEASED_INSTANCE_ID), MEMBER_ID_REQUIRED for classic members joining a consumer
//     group (they get their id at once).
//   - Durable: every change of a consumer group (epochs, members, subscriptions, current,
//     revoking and target assignments) is written as one KindConsumerGroup record, so after
//     a restart members resume at their epochs with their partitions; session timers start
//     again.
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
//	          kind 16 consumer group (KIP-848; replaces kind 3 of the group, and kind 3 replaces it):
//	                                epoch int32 | assignmentEpoch int32 | stateTimeMs int64 | subscriptionKey uint64 |
//	                                members uvarint | members x (memberID str | instanceID str | rackID str | clientID str |
//	                                clientHost str | memberEpoch int32 | previousEpoch int32 | state uint8 |
//	                                rebalanceTimeoutMs int32 | serverAssignor str | regex str | topics uvarint x str |
//	                                assigned parts | revoking parts | target parts |
//	                                classic uint8 (1: a classic member) [ sessionTimeoutMs int32 | protocol str |
//	                                protocols uvarint x (name str | metadata str) ])
//	          parts = count uvarint | count x (topicID [16]byte | n uvarint | n x partition int32, ascending)
//
// Kind 16 was added without a version bump: a reader that predates it stops at the first
// such frame as at a torn tail (the log is truncated there), so downgrading the binary
// with consumer groups in the log loses the records after it; do not downgrade.
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
