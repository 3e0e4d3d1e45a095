package jvm

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestKafkaPerfTools: smoke runs of kafka-producer-perf-test and kafka-consumer-perf-test
// against Strata (real measurements belong to `make bench`). The producer's records must
// all be in the log, and the consumer must read exactly that many.
func TestKafkaPerfTools(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s kafka-producer-perf-test and kafka-consumer-perf-test (smoke run)", kafkaVersion)
	s := startStrata(t, nil, nil)
	const n = 50000
	createTopic(t, s.addr(), "perf", 3, nil)
	r := runTool(t, 3*time.Minute, "", "kafka-producer-perf-test", "--topic", "perf", "--num-records", strconv.Itoa(n),
		"--record-size", "200", "--throughput", "-1", "--producer-props", "bootstrap.servers="+s.addr(), "acks=all", "compression.type=lz4")
	last := lastLine(r.stdout)
	if r.code != 0 || !strings.HasPrefix(last, strconv.Itoa(n)+" records sent,") {
		t.Fatalf("producer perf test: exit %d, last line %q\n%s\n%s", r.code, last, r.stdout, r.stderr)
	}
	t.Logf("kafka-producer-perf-test: %s", last)
	ends, err := kadm.NewClient(franz(t, s.addr())).ListEndOffsets(t.Context(), "perf")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n {
		t.Fatalf("log holds %d records, the perf test sent %d", total, n)
	}

	r = runTool(t, 3*time.Minute, "", "kafka-consumer-perf-test", "--bootstrap-server", s.addr(), "--topic", "perf",
		"--num-records", strconv.Itoa(n), "--timeout", "60000")
	// start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
	fields := strings.Split(lastLine(r.stdout), ", ")
	if r.code != 0 || len(fields) < 6 || fields[4] != strconv.Itoa(n) {
		t.Fatalf("consumer perf test: exit %d, want %d records in column 5\n%s\n%s", r.code, n, r.stdout, r.stderr)
	}
	t.Logf("kafka-consumer-perf-test: %s", lastLine(r.stdout))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
