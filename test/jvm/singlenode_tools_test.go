package jvm

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
)

var (
	logDirsRe    = regexp.MustCompile(`"log_dirs":\["[^"]*"\]`)
	epochRe      = regexp.MustCompile(`Epoch: [0-9]+`)
	quorumReplRe = regexp.MustCompile(`(?m)^0 \S+ (-?[0-9]+) 0 [0-9]+ [0-9]+ Leader$`)
	nonNegRe     = regexp.MustCompile(`(?m)^(0 DIR )[0-9]+( 0 T T Leader)$`)
)

// firstLine keeps the first line, table-normalised, with the topic id masked.
func firstLine(s string) string {
	l, _, _ := strings.Cut(normTable(topicIDRe.ReplaceAllString(s, "TopicId: ID")), "\n")
	return l + "\n"
}

// singleNodeJourney (issue 19) runs the tools that call the APIs a single-node Kafka
// answers although it has nothing to move or elect (ElectLeaders, partition
// reassignments, DescribeQuorum, features) and the ones that show the internal topic
// __consumer_offsets.
func singleNodeJourney() []step {
	bs := []string{"--bootstrap-server", "{bs}"}
	with := func(a ...string) []string { return append(slices.Clone(bs), a...) }
	return []step{
		{name: "topics-create", tool: "kafka-topics", args: with("--create", "--topic", "sn", "--partitions", "2", "--replication-factor", "1"),
			want: "Created topic sn.\n"},
		{name: "leader-election-preferred", tool: "kafka-leader-election", args: with("--election-type", "preferred", "--topic", "sn", "--partition", "0"),
			want: "Valid replica already elected for partitions sn-0\n"},
		{name: "leader-election-unclean-all", tool: "kafka-leader-election", args: with("--election-type", "unclean", "--all-topic-partitions"),
			want: ""},
		{name: "leader-election-unknown", tool: "kafka-leader-election", args: with("--election-type", "preferred", "--topic", "sn", "--partition", "9"),
			want: "Error completing leader election (PREFERRED) for partition: sn-9: org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such partition as sn-9\n", code: 1,
			errHas: "1 replica(s) could not be elected"},
		{name: "reassign-list", tool: "kafka-reassign-partitions", args: with("--list"),
			want: "No partition reassignments found.\n"},
		{name: "reassign-same", tool: "kafka-reassign-partitions", args: with("--execute", "--reassignment-json-file", "{dir}/same.json"),
			files: map[string]string{"same.json": `{"version":1,"partitions":[{"topic":"sn","partition":0,"replicas":[0]}]}`},
			norm:  func(s string) string { return logDirsRe.ReplaceAllString(s, `"log_dirs":["DIR"]`) },
			want: "Current partition replica assignment\n\n" +
				`{"version":1,"partitions":[{"topic":"sn","partition":0,"replicas":[0],"log_dirs":["DIR"]}]}` + "\n\n" +
				"Save this to use as the --reassignment-json-file option during rollback\nSuccessfully started partition reassignment for sn-0\n"},
		{name: "reassign-other-broker", tool: "kafka-reassign-partitions", args: with("--execute", "--reassignment-json-file", "{dir}/other.json"),
			files: map[string]string{"other.json": `{"version":1,"partitions":[{"topic":"sn","partition":1,"replicas":[5]}]}`},
			norm:  onlyLines("Unknown broker id"), // the tool prints its stack trace on standard output
			want:  "Error: Unknown broker id 5\norg.apache.kafka.tools.AdminCommandFailedException: Unknown broker id 5\n", code: 1},
		{name: "features-describe", tool: "kafka-features", args: with("describe"), norm: func(s string) string {
			return epochRe.ReplaceAllString(normTable(onlyLines("metadata.version")(s)), "Epoch: N")
		},
			want: "Feature: metadata.version SupportedMinVersion: 3.3-IV3 SupportedMaxVersion: 4.3-IV0 FinalizedVersionLevel: 4.3-IV0 Epoch: N\n",
			strata: &difference{want: "Feature: metadata.version SupportedMinVersion: 3.3-IV3 SupportedMaxVersion: 4.0-IV3 FinalizedVersionLevel: 4.0-IV3 Epoch: N\n",
				why: "Strata supports and finalizes metadata.version up to 4.0-IV3 (level 25), the level whose client-visible behaviour it implements (broker/features.go); Kafka 4.3.1 finalizes its own newest level"}},
		{name: "metadata-quorum-replication", tool: "kafka-metadata-quorum", args: with("describe", "--replication"), norm: func(s string) string {
			return nonNegRe.ReplaceAllString(quorumReplRe.ReplaceAllString(normTable(s), "0 DIR $1 0 T T Leader"), "${1}N$2")
		},
			want: "NodeId DirectoryId LogEndOffset Lag LastFetchTimestamp LastCaughtUpTimestamp Status\n0 DIR N 0 T T Leader\n",
			strata: &difference{want: "NodeId DirectoryId LogEndOffset Lag LastFetchTimestamp LastCaughtUpTimestamp Status\n0 DIR -1 0 T T Leader\n",
				why: "Strata keeps cluster metadata in its data dir, not in a Raft log, so the single voter has no log end offset: -1, Kafka's value for an unknown offset (broker/55_describe_quorum.go)"}},
		// Kafka creates __consumer_offsets when a group coordinator is first looked up.
		{name: "groups-describe-missing", tool: "kafka-consumer-groups", args: with("--describe", "--group", "sn-none"),
			want: "\nError: Executing consumer group command failed due to org.apache.kafka.common.errors.GroupIdNotFoundException: Group sn-none not found.\n"},
		{name: "topics-list-internal", tool: "kafka-topics", args: with("--list"), norm: onlyLines("__consumer_offsets"), retry: true,
			want: "__consumer_offsets\n"},
		{name: "topics-list-exclude-internal", tool: "kafka-topics", args: with("--list", "--exclude-internal"), norm: onlyLines("__consumer_offsets"),
			want: "\n"},
		{name: "topics-describe-internal", tool: "kafka-topics", args: with("--describe", "--topic", "__consumer_offsets"), norm: firstLine,
			want: "Topic: __consumer_offsets TopicId: ID PartitionCount: 50 ReplicationFactor: 1 Configs: compression.type=producer,min.insync.replicas=1,cleanup.policy=compact,segment.bytes=104857600\n",
			strata: &difference{want: "Topic: __consumer_offsets TopicId: ID PartitionCount: 50 ReplicationFactor: 1 Configs: compression.type=producer,cleanup.policy=compact,segment.bytes=104857600\n",
				why: "Kafka 4 stores min.insync.replicas on every new topic (KIP-966), the internal ones too; Strata has one replica and no such topic config (as for topics-describe)"}},
	}
}

// TestKafkaToolsSingleNode runs singleNodeJourney against Strata.
func TestKafkaToolsSingleNode(t *testing.T) {
	t.Parallel()
	s := startStrata(t, nil, nil)
	runJourney(t, s.addr(), singleNodeJourney(), false)
}

// TestKafkaToolsSingleNodeReference runs it against Apache Kafka (make compat-jvm).
func TestKafkaToolsSingleNodeReference(t *testing.T) {
	if !referenceWanted() {
		t.Skip("STRATA_KAFKA_REFERENCE=1 (make compat-jvm) runs Apache Kafka beside Strata")
	}
	t.Parallel()
	if addr := os.Getenv("STRATA_KAFKA_ADDR"); addr != "" {
		runJourney(t, addr, singleNodeJourney(), true)
		return
	}
	runJourney(t, startKafka(t, nil)["PLAINTEXT"], singleNodeJourney(), true)
}

// TestJavaConsumerFetchSessions (issue 19): Kafka's Java consumer (kafka-console-consumer)
// uses fetch sessions (KIP-227): against Strata it reads every record of a 4-partition
// topic, and its fetches after the first are incremental, with no session errors.
func TestJavaConsumerFetchSessions(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := startStrata(t, nil, func(c *broker.Config) { c.Registerer = reg })
	createTopic(t, s.addr(), "sess", 4, nil)
	cl := franz(t, s.addr())
	var want []string
	for i := range 40 {
		v := fmt.Sprintf("v%02d", i)
		want = append(want, v)
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: "sess", Partition: int32(i % 4), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// --timeout-ms keeps it polling (incrementally) for a while after the last record.
	r := runTool(t, 120*time.Second, "", "kafka-console-consumer", "--bootstrap-server", s.addr(), "--topic", "sess",
		"--from-beginning", "--max-messages", "40", "--timeout-ms", "20000")
	if r.code != 0 {
		t.Fatalf("console consumer: exit %d\n%s", r.code, r.stderr)
	}
	if got := sortLines(r.stdout); got != strings.Join(want, "\n")+"\n" {
		t.Fatalf("console consumer read:\n%s", got)
	}
	kinds := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "strata_fetch_requests_by_session_total" {
			for _, m := range mf.GetMetric() {
				kinds[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	t.Logf("fetches by session use: %v", kinds)
	if kinds["full"] < 1 || kinds["incremental"] < 1 || kinds["error"] != 0 {
		t.Fatalf("fetches by session use: %v, want full and incremental ones and no errors", kinds)
	}
}
