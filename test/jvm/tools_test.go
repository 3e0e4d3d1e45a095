package jvm

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// step is one tool run of a journey. In args, {bs} is the bootstrap address and {dir} a
// directory for files the step writes. want is the step's standard output after norm and
// code its exit status, both as Apache Kafka gives them; strata, when set, is what Strata
// gives instead (errHas then does not apply), a deliberate difference that README.md lists
// (why says why).
type step struct {
	name   string
	tool   string
	args   []string
	stdin  string
	files  map[string]string // written to {dir} before the run
	want   string
	code   int
	norm   func(string) string
	strata *difference
	errHas string // a line (or part of one) standard error must contain
	// retry repeats the step (up to 30 s) until it matches: for state that settles
	// asynchronously in Kafka (a group's members leaving, a deleted topic).
	retry bool
}

// difference is a deliberate difference of Strata's output from Kafka's.
type difference struct {
	want string
	code int
	why  string
}

var (
	topicIDRe = regexp.MustCompile(`TopicId: [A-Za-z0-9_-]{22}`)
	spacesRe  = regexp.MustCompile(`[ \t]+`)
	logDirRe  = regexp.MustCompile(`"logDir":"[^"]*"`)
	sizeRe    = regexp.MustCompile(`"size":[1-9][0-9]*`)
	quorumRe  = regexp.MustCompile(`(?m)^(ClusterId:|LeaderEpoch:|HighWatermark:|CurrentVoters:) .*$`)
)

// normTable squeezes the column padding of a table (it depends on the longest value) and
// the trailing blanks, and drops empty lines.
func normTable(s string) string {
	var lines []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(spacesRe.ReplaceAllString(l, " "))
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// sortLines sorts the lines (records of several partitions arrive in any interleaving).
func sortLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}

// onlyLines keeps the lines containing sub (a --list of a broker with other topics).
func onlyLines(sub string) func(string) string {
	return func(s string) string {
		var keep []string
		for l := range strings.SplitSeq(s, "\n") {
			if strings.Contains(l, sub) {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n") + "\n"
	}
}

// journey is the CLI journey of Kafka's quickstart and operations docs on one topic.
func journey() []step {
	bs := []string{"--bootstrap-server", "{bs}"}
	topics := func(a ...string) []string { return append(slices.Clone(bs), a...) }
	return []step{
		{name: "topics-create", tool: "kafka-topics", args: topics("--create", "--topic", "journey", "--partitions", "2", "--replication-factor", "1"),
			want: "Created topic journey.\n"},
		{name: "topics-create-existing", tool: "kafka-topics", args: topics("--create", "--topic", "journey", "--partitions", "2"),
			want: "Error while executing topic command : Topic 'journey' already exists.\n", code: 1},
		{name: "topics-create-rf-above-brokers", tool: "kafka-topics", args: topics("--create", "--topic", "journey-rf3", "--replication-factor", "3"),
			want: "Error while executing topic command : Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered or some brokers have all their log directories cordoned.\n", code: 1,
			strata: &difference{want: "Error while executing topic command : Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered.\n", code: 1,
				why: "Strata has no log directory cordoning (KIP-1066), so its message stops before that clause"}},
		{name: "topics-create-invalid-config", tool: "kafka-topics", args: topics("--create", "--topic", "journey-bad", "--config", "retention.ms=soon"),
			want: "Error while executing topic command : Invalid value soon for configuration retention.ms: Not a number of type LONG\n", code: 1},
		{name: "topics-list", tool: "kafka-topics", args: topics("--list"), norm: onlyLines("journey"),
			want: "journey\n"},
		{name: "topics-alter-partitions", tool: "kafka-topics", args: topics("--alter", "--topic", "journey", "--partitions", "3"),
			want: ""},
		{name: "topics-alter-partitions-decrease", tool: "kafka-topics", args: topics("--alter", "--topic", "journey", "--partitions", "1"),
			want: "Error while executing topic command : The topic journey currently has 3 partition(s); 1 would not be an increase.\n", code: 1},
		{name: "topics-alter-partitions-same", tool: "kafka-topics", args: topics("--alter", "--topic", "journey", "--partitions", "3"),
			want: "Error while executing topic command : Topic already has 3 partition(s).\n", code: 1},
		{name: "topics-describe", tool: "kafka-topics", args: topics("--describe", "--topic", "journey"),
			norm: func(s string) string { return normTable(topicIDRe.ReplaceAllString(s, "TopicId: ID")) },
			want: "Topic: journey TopicId: ID PartitionCount: 3 ReplicationFactor: 1 Configs: min.insync.replicas=1\n" +
				"Topic: journey Partition: 0 Leader: 0 Replicas: 0 Isr: 0 Elr: LastKnownElr:\n" +
				"Topic: journey Partition: 1 Leader: 0 Replicas: 0 Isr: 0 Elr: LastKnownElr:\n" +
				"Topic: journey Partition: 2 Leader: 0 Replicas: 0 Isr: 0 Elr: LastKnownElr:\n",
			strata: &difference{want: "Topic: journey TopicId: ID PartitionCount: 3 ReplicationFactor: 1 Configs:\n" +
				"Topic: journey Partition: 0 Leader: 0 Replicas: 0 Isr: 0 Elr: LastKnownElr:\n" +
				"Topic: journey Partition: 1 Leader: 0 Replicas: 0 Isr: 0 Elr: LastKnownElr:\n" +
				"Topic: journey Partition: 2 Leader: 0 Replicas: 0 Isr: 0 Elr: LastKnownElr:\n",
				why: "Kafka 4 stores min.insync.replicas on every new topic (for eligible leader replicas, KIP-966), so kafka-topics --describe lists it among the topic's configs; Strata has one replica and no such topic config"}},
		{name: "topics-describe-missing", tool: "kafka-topics", args: topics("--describe", "--topic", "nosuch"),
			want: "Error while executing topic command : Topic 'nosuch' does not exist as expected\n", code: 1},
		{name: "console-producer-keys", tool: "kafka-console-producer", args: append(slices.Clone(bs), "--topic", "journey",
			"--reader-property", "parse.key=true", "--reader-property", "key.separator=:"),
			stdin: "apple:red\nbanana:yellow\ncherry:dark red\napple:green\ndate:brown\nbanana:green\n", want: ""},
		{name: "console-consumer-group", tool: "kafka-console-consumer", args: append(slices.Clone(bs), "--topic", "journey",
			"--from-beginning", "--group", "journey-g", "--max-messages", "6", "--timeout-ms", "30000",
			"--formatter-property", "print.key=true", "--formatter-property", "key.separator=:"),
			norm: sortLines,
			want: "apple:green\napple:red\nbanana:green\nbanana:yellow\ncherry:dark red\ndate:brown\n"},
		{name: "groups-list", tool: "kafka-consumer-groups", args: append(slices.Clone(bs), "--list"), norm: onlyLines("journey"),
			want: "journey-g\n"},
		{name: "groups-describe", tool: "kafka-consumer-groups", args: append(slices.Clone(bs), "--describe", "--group", "journey-g"),
			norm: normTable, retry: true,
			errHas: "Consumer group 'journey-g' has no active members.",
			want: "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\n" +
				"journey-g journey 0 0 0 0 - - -\n" +
				"journey-g journey 1 5 5 0 - - -\n" +
				"journey-g journey 2 1 1 0 - - -\n"},
		{name: "groups-describe-missing", tool: "kafka-consumer-groups", args: append(slices.Clone(bs), "--describe", "--group", "nosuch-g"),
			norm: normTable, want: "Error: Executing consumer group command failed due to org.apache.kafka.common.errors.GroupIdNotFoundException: Group nosuch-g not found.\n"},
		{name: "groups-reset-earliest", tool: "kafka-consumer-groups", args: append(slices.Clone(bs), "--reset-offsets", "--group", "journey-g",
			"--topic", "journey", "--to-earliest", "--execute"),
			norm: normTable,
			want: "GROUP TOPIC PARTITION NEW-OFFSET\n" +
				"journey-g journey 1 0\n" +
				"journey-g journey 0 0\n" +
				"journey-g journey 2 0\n"},
		{name: "groups-describe-after-reset", tool: "kafka-consumer-groups", args: append(slices.Clone(bs), "--describe", "--group", "journey-g"),
			norm:   normTable,
			errHas: "Consumer group 'journey-g' has no active members.",
			want: "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\n" +
				"journey-g journey 0 0 0 0 - - -\n" +
				"journey-g journey 1 0 5 5 - - -\n" +
				"journey-g journey 2 0 1 1 - - -\n"},
		{name: "configs-alter", tool: "kafka-configs", args: append(slices.Clone(bs), "--alter", "--entity-type", "topics", "--entity-name", "journey",
			"--add-config", "retention.ms=86400000,local.retention.ms=3600000"),
			want: "Completed updating config for topic journey.\n"},
		{name: "configs-alter-invalid", tool: "kafka-configs", args: append(slices.Clone(bs), "--alter", "--entity-type", "topics", "--entity-name", "journey",
			"--add-config", "retention.ms=soon"),
			want: "", code: 1, errHas: "InvalidConfigurationException: Invalid value soon for configuration retention.ms: Not a number of type LONG\n"},
		{name: "configs-describe", tool: "kafka-configs", args: append(slices.Clone(bs), "--describe", "--entity-type", "topics", "--entity-name", "journey"),
			want: "Dynamic configs for topic journey are:\n" +
				"  local.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:local.retention.ms=3600000, DEFAULT_CONFIG:log.local.retention.ms=-2}\n" +
				"  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000}\n",
			strata: &difference{want: "Dynamic configs for topic journey are:\n" +
				"  local.retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:local.retention.ms=3600000, DEFAULT_CONFIG:log.local.retention.ms=-2}\n" +
				"  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000, DEFAULT_CONFIG:log.retention.ms=604800000}\n",
				why: "Strata's broker setting for retention is log.retention.ms with a default of 604800000 (Kafka's log.retention.ms has none; its default is log.retention.hours=168, which Kafka does not list), so Strata lists it as the default synonym"}},
		{name: "configs-quota-alter", tool: "kafka-configs", args: append(slices.Clone(bs), "--alter", "--entity-type", "clients", "--entity-name", "journey-slow",
			"--add-config", "producer_byte_rate=1048576,consumer_byte_rate=2097152"),
			want: "Completed updating config for client journey-slow.\n"},
		{name: "configs-quota-alter-user-default", tool: "kafka-configs", args: append(slices.Clone(bs), "--alter", "--entity-type", "users", "--entity-default",
			"--add-config", "request_percentage=200"),
			want: "Completed updating default config for users in the cluster.\n"},
		{name: "configs-quota-describe", tool: "kafka-configs", args: append(slices.Clone(bs), "--describe", "--entity-type", "clients", "--entity-name", "journey-slow"),
			norm: sortQuotaValues,
			want: "Quota configs for client-id 'journey-slow' are consumer_byte_rate=2097152.0, producer_byte_rate=1048576.0\n"},
		{name: "get-offsets", tool: "kafka-get-offsets", args: append(slices.Clone(bs), "--topic", "journey"), norm: sortLines,
			want: "journey:0:0\njourney:1:5\njourney:2:1\n"},
		{name: "delete-records", tool: "kafka-delete-records", args: append(slices.Clone(bs), "--offset-json-file", "{dir}/delete.json"),
			files: map[string]string{"delete.json": `{"version":1,"partitions":[{"topic":"journey","partition":1,"offset":2}]}`},
			norm:  normTable,
			want:  "Executing records delete operation\nRecords delete operation completed:\npartition: journey-1 low_watermark: 2\n"},
		{name: "get-offsets-earliest", tool: "kafka-get-offsets", args: append(slices.Clone(bs), "--topic", "journey", "--time", "-2"), norm: sortLines,
			want: "journey:0:0\njourney:1:2\njourney:2:0\n"},
		{name: "log-dirs-describe", tool: "kafka-log-dirs", args: append(slices.Clone(bs), "--describe", "--topic-list", "journey"),
			// Sizes depend on how the console producer batched the records: non-zero is N.
			norm: func(s string) string {
				return sizeRe.ReplaceAllString(logDirRe.ReplaceAllString(s, `"logDir":"DIR"`), `"size":N`)
			},
			want: "Querying brokers for log directories information\nReceived log directory information from brokers 0\n" +
				`{"brokers":[{"broker":0,"logDirs":[{"partitions":[{"partition":"journey-1","size":N,"offsetLag":0,"isFuture":false},` +
				`{"partition":"journey-0","size":0,"offsetLag":0,"isFuture":false},{"partition":"journey-2","size":N,"offsetLag":0,"isFuture":false}],` +
				`"error":null,"logDir":"DIR"}]}],"version":1}` + "\n"},
		{name: "metadata-quorum-status", tool: "kafka-metadata-quorum", args: append(slices.Clone(bs), "describe", "--status"),
			norm: func(s string) string { return quorumRe.ReplaceAllString(normTable(s), "$1 X") },
			want: "ClusterId: X\nLeaderId: 0\nLeaderEpoch: X\nHighWatermark: X\nMaxFollowerLag: 0\nMaxFollowerLagTimeMs: 0\nCurrentVoters: X\nCurrentObservers: []\n"},
		{name: "groups-delete", tool: "kafka-consumer-groups", args: append(slices.Clone(bs), "--delete", "--group", "journey-g"),
			want: "Deletion of requested consumer groups ('journey-g') was successful.\n"},
		{name: "groups-delete-missing", tool: "kafka-consumer-groups", args: append(slices.Clone(bs), "--delete", "--group", "journey-g"),
			want: "\nError: Deletion of some consumer groups failed:\n* Group 'journey-g' could not be deleted due to: org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist.\n"},
		{name: "topics-delete", tool: "kafka-topics", args: topics("--delete", "--topic", "journey"),
			want: ""},
		{name: "topics-list-after-delete", tool: "kafka-topics", args: topics("--list"), norm: onlyLines("journey"), retry: true,
			want: "\n"},
	}
}

// runJourney runs steps against bootstrap; reference says the broker is Apache Kafka (the
// strata overrides do not apply). With STRATA_JVM_DUMP=1 it prints what it got instead of
// checking (to write expectations from a reference run).
func runJourney(t *testing.T, bootstrap string, steps []step, reference bool) {
	runJourneyVars(t, map[string]string{"{bs}": bootstrap}, steps, reference)
}

// runJourneyVars is runJourney with more placeholders ({sasl}: another listener).
func runJourneyVars(t *testing.T, vars map[string]string, steps []step, reference bool) {
	dump := os.Getenv("STRATA_JVM_DUMP") == "1"
	dir := t.TempDir()
	var pairs []string
	for k, v := range vars {
		pairs = append(pairs, k, v)
	}
	pairs = append(pairs, "{dir}", dir)
	repl := strings.NewReplacer(pairs...)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			for name, content := range st.files {
				writeFile(t, dir, name, repl.Replace(content))
			}
			args := make([]string, len(st.args))
			for i, a := range st.args {
				args[i] = repl.Replace(a)
			}
			want, code, errHas := st.want, st.code, st.errHas
			if st.strata != nil && !reference {
				want, code, errHas = st.strata.want, st.strata.code, ""
				t.Logf("difference: %s %s: %s", st.tool, st.name, st.strata.why)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				r := runTool(t, 90*time.Second, st.stdin, st.tool, args...)
				got := r.stdout
				if st.norm != nil {
					got = st.norm(got)
				}
				if dump {
					fmt.Printf("=== %s exit %d\n%s--- stderr\n%s", st.name, r.code, got, r.stderr)
					return
				}
				if got == want && r.code == code && strings.Contains(r.stderr, errHas) {
					return
				}
				if st.retry && time.Now().Before(deadline) {
					time.Sleep(time.Second)
					continue
				}
				t.Errorf("%s %s\n got exit %d, stdout:\n%s\nwant exit %d, stdout:\n%s\nstderr (want it to contain %q):\n%s",
					st.tool, strings.Join(args, " "), r.code, got, code, want, errHas, r.stderr)
				return
			}
		})
	}
}

// TestKafkaTools runs the CLI journey with Kafka's own tools against Strata.
func TestKafkaTools(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s command-line tools (kafka-topics, console producer/consumer, kafka-consumer-groups, kafka-configs, kafka-get-offsets, kafka-delete-records, kafka-log-dirs, kafka-metadata-quorum)", kafkaVersion)
	s := startStrata(t, nil, nil)
	runJourney(t, s.addr(), journey(), false)
}

// TestKafkaToolsReference runs the same journey against Apache Kafka: the expectations are
// Kafka's own (make compat-jvm).
func TestKafkaToolsReference(t *testing.T) {
	if !referenceWanted() {
		t.Skip("STRATA_KAFKA_REFERENCE=1 (make compat-jvm) runs Apache Kafka beside Strata")
	}
	t.Parallel()
	if addr := os.Getenv("STRATA_KAFKA_ADDR"); addr != "" { // a Kafka already running
		runJourney(t, addr, journey(), true)
		return
	}
	t.Logf("client: Apache Kafka %s command-line tools, against Apache Kafka %s itself (KRaft, the expected outputs' reference)", kafkaVersion, kafkaVersion)
	runJourney(t, startKafka(t, nil)["PLAINTEXT"], journey(), true)
}

// sortQuotaValues sorts the "k=v, k=v" list of kafka-configs' quota description lines
// (the tool prints them in the broker's order, which Kafka does not define).
func sortQuotaValues(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if head, vals, ok := strings.Cut(l, " are "); ok && strings.HasPrefix(l, "Quota configs for ") {
			vs := strings.Split(vals, ", ")
			slices.Sort(vs)
			lines[i] = head + " are " + strings.Join(vs, ", ")
		}
	}
	return strings.Join(lines, "\n")
}
