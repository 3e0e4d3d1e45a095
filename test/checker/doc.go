// Package checker drives a Kafka workload against a broker, records everything the clients
// saw as a History, and checks the history for the anomalies a log must never show.
//
// The workload follows the shape of Jepsen's Kafka workload: producers send unique values
// ("p<producer>-<n>") with the idempotent producer and acks=-1 and record each
// acknowledgement with the (partition, offset) the broker returned, or the failure (an
// unknown outcome: the value may or may not be in the log); assigned consumers replay
// partitions from chosen offsets; group consumers poll, commit and get rebalanced; a probe
// lists log start/end offsets and the group's committed offsets; and after the workload a
// final reader reads every partition from its log start to its end offset.
//
// Check then looks for:
//   - lost: acknowledged at (p, o) but a complete final read of p never saw the value;
//   - duplicate: the same value read at two different offsets;
//   - inconsistent: one (p, o) observed with two different values (reads and acks both
//     count as observations of an offset);
//   - phantom: a value read that no producer ever sent;
//   - out of order: offsets not strictly increasing within one consumer stream (a stream
//     starts at an explicit assign/seek op and ends at a revoke);
//   - gap: offsets skipped between consecutive reads of one stream (or between a seek to o
//     and the first read) that are not below a known log start offset; with idempotent,
//     non-transactional producers every offset holds exactly one record;
//   - commit regression: a group's committed offset for a partition observed going
//     backwards, or observed below a commit acknowledged before the observation started;
//   - short read: an end offset (high watermark) reported by a request that started after
//     an acknowledgement of an offset at or beyond it.
//
// Every anomaly comes with a few ops of the history around it (and the faults just
// before it).
//
// # Faults
//
// KillRestart is the nemesis: it SIGKILLs a Target (Strata runs the strata binary as a
// child process on a fixed port and data directory) at random moments and restarts it,
// or freezes it with SIGSTOP for longer than the clients' timeouts, and measures the time
// until the broker answers Metadata again. The reliability tests in test/ drive it.
//
// # History file
//
// A history is JSON lines, one Op per line in Seq order, e.g.
//
//	{"seq":12,"time":"2026-11-22T00:52:58.45Z","process":"p1","kind":"ack","partition":2,"offset":784,"value":"p1-1192"}
//
// Fields: seq (order of recording), time (RFC 3339; for probe and final ops the time the
// request started), process (p<n> producer, c<n> replay consumer, g<n> group member,
// probe, final, nemesis), kind (see Kind), partition, offset (-1 when none), value,
// log_start, group, complete, err. Unknown fields are ignored, so the format can grow.
// go run ./test/checker/checkhistory FILE re-checks a saved history.
package checker
