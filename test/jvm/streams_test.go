package jvm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/checker"
)

// eosLine is Scenarios.eosLine: the words of input line i.
func eosLine(i int) string {
	return "w" + itoa(i%13) + " w" + itoa((i*7+3)%13)
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// TestKafkaStreamsEOS runs a Kafka Streams word count with exactly_once_v2 against the
// strata binary, SIGKILLs the broker while it counts and restarts it; the Streams
// scenario's read_committed checker requires every word's final count to be exact (a
// record counted twice, or lost, fails).
func TestKafkaStreamsEOS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the strata binary and a JVM")
	}
	t.Parallel()
	t.Logf("client: Apache Kafka %s Kafka Streams, exactly_once_v2 word count, broker SIGKILLed", kafkaVersion)
	dir := javaDir(t)
	bctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	bin, err := checker.BuildStrata(bctx, t.TempDir())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	port, err := checker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "strata.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("strata log (tail):\n%s", tail(string(b)))
		}
	})
	srv := &checker.Strata{Bin: bin, DataDir: t.TempDir(), Port: port, Log: logf, Args: []string{
		"--set", "group.initial.rebalance.delay.ms=0",
		"--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
	}}
	start := func() {
		t.Helper()
		if err := srv.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			cl, err := kgo.NewClient(kgo.SeedBrokers(srv.Addr()))
			if err == nil {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				_, err = kadm.NewClient(cl).ListTopics(ctx)
				cancel()
				cl.Close()
			}
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker not ready: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	start()
	t.Cleanup(func() { srv.Kill() })
	addr := srv.Addr()
	createTopic(t, addr, "eos-lines", 3, nil)
	createTopic(t, addr, "eos-counts", 3, nil)
	const n = 3000
	produce := func(from, to int) {
		cl := franz(t, addr)
		defer cl.Close()
		for i := from; i < to; i++ {
			cl.Produce(t.Context(), &kgo.Record{Topic: "eos-lines", Key: []byte(itoa(i)), Value: []byte(eosLine(i))}, nil)
		}
		if err := cl.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, n/2)

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "kafka-run-class"), "io.strata.jvmtests.Scenarios",
		"streams-eos", addr, "eos-lines", "eos-counts", "eos-app", t.TempDir(), itoa(n))
	cmd.Env = append(os.Environ(), "KAFKA_JVM_PERFORMANCE_OPTS="+toolJVMOpts, "STRATA_STREAMS_LOG=info")
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Kill the broker once the application has committed some counts.
	adm := kadm.NewClient(franz(t, addr))
	deadline := time.Now().Add(3 * time.Minute)
	var lastErr error
	total := int64(0)
	for {
		ends, err := adm.ListEndOffsets(t.Context(), "eos-counts")
		total = 0
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		}
		lastErr = err
		if total > 0 { // the first commit (word counts are cached and emitted at commits)
			break
		}
		select {
		case err := <-done:
			t.Fatalf("streams scenario ended early: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), tail(errb.String()))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no counts after 3 minutes (end offsets sum %d, error %v)\nstderr:\n%s", total, lastErr, tail(errb.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	adm.Close()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	start()
	produce(n/2, n)
	if err := <-done; err != nil {
		t.Fatalf("streams scenario: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), tail(errb.String()))
	}
	t.Logf("%s", bytes.TrimSpace(out.Bytes()))
}

func tail(s string) string {
	if len(s) > 6000 {
		return "..." + s[len(s)-6000:]
	}
	return s
}

// TestKafkaStreamsTable runs a Kafka Streams (exactly_once_v2) app keeping a KTable of sums
// per key in a persistent state store, whose changelog is a compacted topic Streams creates,
// on a Strata tiering every topic: the store's contents must be exact, then again after the
// app restarts on an empty state directory with more input (rebuilt from the changelog).
func TestKafkaStreamsTable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two Kafka Streams JVMs")
	}
	t.Parallel()
	t.Logf("client: Apache Kafka %s Kafka Streams, KTable with a persistent store restored from its compacted changelog", kafkaVersion)
	s := startTieredStrata(t, nil)
	addr := s.addr()
	createTopic(t, addr, "table-in", 2, nil)
	produce := func(from, to int) {
		cl := franz(t, addr)
		defer cl.Close()
		for i := from; i < to; i++ {
			cl.Produce(t.Context(), &kgo.Record{Topic: "table-in", Key: []byte("k" + itoa(i%7)), Value: []byte(itoa(i))}, nil)
		}
		if err := cl.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, 500)
	scenario(t, nil, "streams-table", addr, "table-in", "table-app", t.TempDir(), "500", "false")
	produce(500, 800)
	lines := scenario(t, nil, "streams-table", addr, "table-in", "table-app", t.TempDir(), "800", "true")
	t.Logf("after the restart: %v", lines)
	cfgs, err := kadm.NewClient(franz(t, addr)).DescribeTopicConfigs(t.Context(), "table-app-sums-changelog")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("table-app-sums-changelog", nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rc.Configs {
		got[c.Key] = c.MaybeValue()
	}
	if got["cleanup.policy"] != "compact" || got["remote.storage.enable"] != "true" {
		t.Errorf("changelog: cleanup.policy=%q remote.storage.enable=%q, want compact and true", got["cleanup.policy"], got["remote.storage.enable"])
	}
}
