// Package cluster is Strata's metadata quorum (the role of Kafka's KRaft controllers) on
// github.com/hashicorp/raft, and the contract the rest of replication (issue 20) builds on.
//
// # What it is
//
// The voters of controller.quorum.voters run a Node each. Raft replicates a log of entries;
// every node applies them in order to an Image (fsm.go): brokers, topics and topic ids,
// partitions (replicas, ISR, leader, leader epoch, partition epoch), topic configs,
// producer-id blocks, ACLs and SCRAM credentials (opaque payloads). The Raft leader is the
// active controller: it alone decides (controller.go) and writes; its decisions are
// committed by a majority before they are answered, so a failover loses no answered change.
//
// A node's directory (metadata.log.dir, default <data-dir>/__cluster_metadata) holds:
//
//	raft.db             bolt store (raft-boltdb/v2): the log, current term, vote
//	snapshots/<id>/     raft's file snapshots: meta.json + state.bin (format below)
//
// A restart restores the newest snapshot and replays only the entries after it; raft
// takes a snapshot every SnapshotThreshold entries and keeps TrailingLogs for followers.
//
// # Formats (part of the on-disk format; change only by bumping the version byte)
//
// Entry: byte 0 is EntryVersion (1); bytes 1.. are a JSON array of {"t": RecordType,
// "r": record}. The records of one entry apply atomically, all or none. Every record that
// changes existing state carries its precondition (partition epoch = current + 1, broker
// epoch = the registration's, producer-id block start = the next id), so replaying or
// duplicating an entry changes nothing, and an entry whose precondition fails is skipped
// identically on every replica. A broker's epoch is the Raft index of its registration.
// A node that cannot decode an entry (a newer version) skips it and logs an error; mixed
// versions must therefore be gated by a feature level before new record types are
// written (not built yet).
//
// Snapshot (state.bin): the line "strata-metadata-snapshot 1\n", then one JSON Image.
// ReadSnapshot checks every topic and partition as a record would be checked.
//
// # Controller decisions
//
//   - A broker registers (fenced), is unfenced by its first heartbeat, and is fenced when
//     no heartbeat arrived for broker.session.timeout.ms (heartbeat times live only on the
//     active controller; a new controller grants every broker a full session), when it
//     asks (WantFence) or on controlled shutdown (WantShutDown: ShouldShutDown once it
//     leads nothing). A re-registration with a new incarnation id is a restart: its old
//     leaderships are moved first.
//   - Fencing takes the broker out of every ISR except where it is the last member, and
//     moves each leadership to the first live ISR member in replica order with leader
//     epoch + 1; with none, the partition is offline (leader -1) until an ISR member
//     returns, or, with unclean.leader.election.enable (topic config over the node's
//     default, false), a live out-of-sync replica leads with ISR = [itself].
//   - CreateTopics places replicas round-robin over unfenced brokers ordered rack by rack
//     (broker.rack), so a partition's replicas span min(RF, racks) racks when racks are
//     balanced; the first replica is the preferred leader; ISR = the unfenced replicas.
//   - AlterPartition (the leader's ISR change) checks, in Kafka's order: broker epoch
//     (STALE_BROKER_EPOCH), leader (NOT_LEADER_OR_FOLLOWER), leader epoch
//     (FENCED_LEADER_EPOCH), partition epoch (INVALID_UPDATE_VERSION), ISR ⊆ replicas and
//     holding the leader (INVALID_REQUEST), added members unfenced (INELIGIBLE_REPLICA).
//   - ElectLeaders: preferred (the first replica, if a live ISR member) or unclean (for a
//     partition without a leader: a live ISR member, else any live replica with ISR =
//     [itself]); the answers are Kafka's ELECTION_NOT_NEEDED,
//     PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE.
//   - CreatePartitions places the new partitions like CreateTopics; AlterTopicConfigs
//     writes all of a request's config changes in one entry.
//   - AllocateProducerIDs hands out blocks of 1000 that never overlap (a retry after a
//     lost answer may skip a block).
//   - The first active controller names the cluster (ClusterIDRecord, once).
//
// # How the broker will use it (contract for the rest of issue 20)
//
//   - Reaching the controller. A broker calls a Controller: the local Node or, from any
//     process, a Client, which speaks the controller RPC (rpc.go: length-prefixed JSON
//     frames on the controller listener, told apart from Raft's connections by their
//     first byte) and follows NOT_CONTROLLER to the leader. All writes are conditional,
//     so the Client's retries after a lost answer are safe. Kafka's own
//     BrokerRegistration 62 / BrokerHeartbeat 63 / AlterPartition 56 /
//     AllocateProducerIds 67 can later be served on the same port behind the same
//     interface, for Kafka's tools.
//   - Metadata image. Each broker follows the image with Watch (a voter reads its own
//     node; others long-poll a controller, receiving the whole image per change, which
//     is fine to ~10^4 partitions; beyond that, deltas or a Raft non-voter). Metadata,
//     DescribeCluster, DescribeTopicPartitions and FindCoordinator answer from the
//     newest image the broker has applied: brokers = unfenced brokers' listeners of the
//     connection's listener name; per partition leader, leader epoch, replicas, ISR;
//     offline partitions LEADER_NOT_AVAILABLE. The cluster id is the image's (written
//     once by the first active controller, from cluster.id or random); brokers must
//     adopt it instead of the id they make for themselves in <data-dir>/meta (not yet).
//   - Today (cmd/strata serve, cluster.go): with process.roles naming a quorum of more
//     than this node, serve opens the Node (controller role) and runs the broker's
//     registration and heartbeat loop with a controlled shutdown on stop (a
//     controller-only node runs no broker). The broker follows the image
//     (cmd/strata/cluster_follow.go through the broker.ClusterState seam,
//     broker/clusterview.go): Metadata, FindCoordinator (rendezvous hashing over the
//     unfenced brokers, not yet the __consumer_offsets leader), CreateTopics, DeleteTopics
//     and auto-creation go through the image and the controller, replicas open their
//     partitions under the image's topic id, and Produce/Fetch/ListOffsets/
//     OffsetForLeaderEpoch check leadership and leader epochs. Data is not replicated
//     yet (no follower fetch, HW = the leader's log end, acks=all waits for the local
//     fsync only), which serve says in a warning at start.
//   - Becoming leader or follower. The broker runs Follow: on each new image it gets
//     Changes, its partitions whose state changed, each with its role (leader with the
//     image's leader epoch, follower of Leader, or none: stop, the replica moved or the
//     topic went away). Produce, ListOffsets, OffsetForLeaderEpoch and
//     consumer Fetch on a non-leader get NOT_LEADER_OR_FOLLOWER; a request naming an
//     older leader epoch gets FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
//   - Leader epochs with the log. The partition directory gets Kafka's
//     leader-epoch-checkpoint (version line, count, "epoch startOffset" lines, written
//     with the atomic-file helper): a leader appends (epoch, log end) when it takes over,
//     a follower copies the leader's entries as it fetches batches of a new epoch. Batches
//     are stamped with the leader epoch (bytes 12-15) on append.
//   - Follower fetch. A follower fetches from the leader with Kafka's Fetch and ReplicaID
//     (v<15) or ReplicaState (v15+) set to its node id and its broker epoch; the leader
//     refuses a replica id that is not a replica or whose epoch is stale. Before fetching
//     after a leader change the follower sends OffsetForLeaderEpoch for its last epoch and
//     truncates its log to the returned end offset (never below its high watermark
//     unless the leader's log is shorter, exactly as Kafka's ReplicaFetcherThread).
//   - High watermark. The leader keeps, per ISR member, the fetch offset and time of its
//     last fetch; HW = min(log end offsets of the ISR), never moving back; followers get
//     it in the fetch response. Consumers read only below the HW (read_committed: below
//     the LSO). acks=all waits until HW passes the batch; fewer than min.insync.replicas
//     in the ISR: NOT_ENOUGH_REPLICAS before append, NOT_ENOUGH_REPLICAS_AFTER_APPEND if
//     the ISR shrank while waiting.
//   - ISR. The leader shrinks the ISR (AlterPartition) for a follower that has not
//     caught up to the log end within replica.lag.time.max.ms (30s), and expands it when
//     a follower reaches the HW in the leader's current epoch. A pending AlterPartition
//     blocks further ones for that partition; the leader acts on the returned state,
//     and INVALID_UPDATE_VERSION / FENCED_LEADER_EPOCH mean "wait for the next image".
//   - Tiering. Only the leader uploads. The manifest head records the leader epoch of
//     its writer; a writer refuses to overwrite a head with a higher epoch, and the ETag
//     conditional put (tiering.ConditionalPutter) makes a deposed leader's write fail
//     (ErrFenced) instead of overwriting its successor's. A new leader reopens the
//     manifest and continues from it; objects named by no manifest are swept. Followers
//     delete a local segment once the manifest names it and local retention allows; any
//     replica serves remote reads.
//   - Coordinators. The group coordinator of a group is the leader of
//     __consumer_offsets partition hash(group) % partitions (transactions: the same for
//     __transaction_state), so FindCoordinator answers from the image and coordination
//     moves with partition leadership; the new leader loads the partition's state
//     before answering (COORDINATOR_LOAD_IN_PROGRESS until then). This needs group state
//     to live in those replicated partitions rather than in the broker's local files.
//   - Producer ids. InitProducerId takes ids from a block obtained with
//     AllocateProducerIDs, fetching the next block before the current one runs out.
//
// # Failover time
//
// With raft's default timings (1s heartbeat and election timeouts) a stopped controller
// is replaced in 1.5-2.2 s on loopback (TestQuorumLeaderFailover logs it). A killed
// broker loses its leaderships only when its session expires (broker.session.timeout.ms,
// Kafka's default 9 s), so issue 20's "median under 2 s from leader kill -9 to the next
// acks=all produce" needs faster death detection than the session: e.g. a follower that
// loses its fetch connection to the leader and cannot reconnect reports it in its
// heartbeat, and the controller fences the leader after a shorter confirmation window.
//
// # Security
//
// The controller listener has no TLS or authentication yet: anyone who reaches it can
// register brokers, create topics and change ACLs through the RPC, and join Raft. It must
// be bound to a private network until it takes the broker's listener security.
//
// # Fault layer for the cluster tests
//
// Process signals plus a fault-injecting TCP proxy (test/faultproxy), not network
// namespaces: namespaces need root (CAP_NET_ADMIN) and `ip`, which neither CI nor
// developer laptops can be assumed to have. Every node-to-node link gets its own Proxy
// per direction of connection (links[from][to]), which can stall either direction (a
// partition: bytes wait and flow again on Heal, as TCP retransmission would deliver
// them) or reset its connections. Isolating a node stalls every link that touches it;
// a one-way partition stalls one direction. Raft's configuration must name the same
// address for a voter on every node, so links are chosen at dial time: in-process
// quorums rewrite each Raft dial to its link's proxy (partition_test.go); broker
// processes need the same rewrite from a test-only setting (not built yet), and their
// follower fetches likewise. Stop, kill -9 and pause are SIGTERM, SIGKILL and
// SIGSTOP/SIGCONT to the process (cmd/strata's TestServeClusterProcesses kills the
// controller's process).
package cluster
