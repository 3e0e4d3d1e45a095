package jvm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering/s3store"
)

// startTieredStrata starts an in-process broker whose topics are tiered by default
// (log.remote.storage.enable=true) into a bucket of a real MinIO, uploading closed segments
// every 200 ms: the internal topics Connect and Streams create (compacted) are tiered too.
func startTieredStrata(t *testing.T, props map[string]string) *strata {
	t.Helper()
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	store, err := s3store.New(t.Context(), s3store.Config{
		Bucket: bucket, Region: miniotest.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{
		"log.remote.storage.enable":                                   "true",
		"remote.log.upload.interval.ms":                               "200",
		"log.retention.check.interval.ms":                             "200",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
	}
	for k, v := range props {
		all[k] = v
	}
	return startStrata(t, all, func(c *broker.Config) { c.RemoteStore = store; c.RemotePrefix = "jvm" })
}

// worker is a Kafka Connect worker in distributed mode (ConnectDistributed) in a child JVM.
type worker struct {
	cmd    *exec.Cmd
	exited chan struct{}
	rest   string // http://127.0.0.1:port
	log    string // its log file
}

// startWorker starts a distributed Connect worker of bootstrap with the worker properties
// props (added to the test's own) and waits until its REST API answers.
func startWorker(t *testing.T, dir, bootstrap string, port int, props map[string]string) *worker {
	t.Helper()
	all := map[string]string{
		"bootstrap.servers":                 bootstrap,
		"group.id":                          "strata-connect",
		"key.converter":                     "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":                   "org.apache.kafka.connect.storage.StringConverter",
		"config.storage.topic":              "connect-configs",
		"offset.storage.topic":              "connect-offsets",
		"status.storage.topic":              "connect-status",
		"config.storage.replication.factor": "1",
		"offset.storage.replication.factor": "1",
		"status.storage.replication.factor": "1",
		"offset.storage.partitions":         "5",
		"status.storage.partitions":         "1",
		"offset.flush.interval.ms":          "500",
		"scheduled.rebalance.max.delay.ms":  "0",
		"listeners":                         fmt.Sprintf("http://127.0.0.1:%d", port),
		"plugin.discovery":                  "only_scan",
		"task.shutdown.graceful.timeout.ms": "10000",
		"exactly.once.source.support":       "disabled",
	}
	for k, v := range props {
		all[k] = v
	}
	var sb strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range all {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&sb, "%s=%s\n", k, all[k])
	}
	cfg := writeFile(t, dir, fmt.Sprintf("worker-%d.properties", time.Now().UnixNano()), sb.String())
	logf, err := os.CreateTemp(dir, "worker-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(javaDir(t), "kafka-run-class"), "org.apache.kafka.connect.cli.ConnectDistributed", cfg)
	cmd.Env = append(os.Environ(), "KAFKA_JVM_PERFORMANCE_OPTS="+toolJVMOpts, "KAFKA_HEAP_OPTS=-Xmx384M")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &worker{cmd: cmd, exited: make(chan struct{}), rest: fmt.Sprintf("http://127.0.0.1:%d", port), log: logf.Name()}
	go func() { cmd.Wait(); logf.Close(); close(w.exited) }()
	t.Cleanup(func() {
		w.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(w.log)
			t.Logf("connect worker log (tail):\n%s", tail(string(b)))
		}
	})
	w.await(t, "REST API", 120*time.Second, func() (bool, string) {
		code, body := w.call(t, "GET", "/connectors", "")
		return code == 200, fmt.Sprint(code, " ", body)
	})
	return w
}

// stop stops the worker gracefully (SIGTERM: tasks stop and commit their offsets) and waits.
func (w *worker) stop(t *testing.T) {
	select {
	case <-w.exited:
		return
	default:
	}
	w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.exited:
	case <-time.After(60 * time.Second):
		t.Errorf("connect worker did not stop within 60s of SIGINT")
		w.cmd.Process.Kill()
		<-w.exited
	}
}

// call sends a REST request and returns the status code and body (0 when it cannot connect).
func (w *worker) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, w.rest+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// must sends a REST request and fails t unless it answers with code.
func (w *worker) must(t *testing.T, method, path, body string, code int) string {
	t.Helper()
	got, resp := w.call(t, method, path, body)
	if got != code {
		t.Fatalf("%s %s: %d %s, want %d", method, path, got, resp, code)
	}
	return resp
}

// await polls cond (every 200 ms) until it holds, failing t after limit with cond's last word.
func (w *worker) await(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-w.exited:
			t.Fatalf("connect worker exited while waiting for %s (last: %s)", what, last)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v (last: %s)", what, limit, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// connectorState is the connector's state and its task's (GET /connectors/NAME/status).
func (w *worker) connectorState(t *testing.T, name string) string {
	t.Helper()
	code, body := w.call(t, "GET", "/connectors/"+name+"/status", "")
	if code != 200 {
		return fmt.Sprint(code, " ", body)
	}
	var st struct {
		Connector struct{ State string } `json:"connector"`
		Tasks     []struct {
			State string
			Trace string
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("status %s: %v", body, err)
	}
	s := st.Connector.State
	for _, task := range st.Tasks {
		s += " " + task.State
		if task.Trace != "" {
			s += " (" + task.Trace + ")"
		}
	}
	return s
}

// fileLines reads the lines of path (none when it does not exist yet).
func fileLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// appendLines appends lines from..to-1 of connectLine to path.
func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		fmt.Fprintln(f, connectLine(i))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func connectLine(i int) string { return fmt.Sprintf("line-%05d", i) }

// checkAtLeastOnce checks that got holds lines 0..n-1 of connectLine in order, each at least
// once, and nothing else: a line may come again after it was delivered (a replay), but no
// line may come before all earlier ones did (a loss). It returns the number of repeats.
func checkAtLeastOnce(t *testing.T, what string, got []string, n int) int {
	t.Helper()
	next, dups := 0, 0
	for i, l := range got {
		var k int
		if _, err := fmt.Sscanf(l, "line-%05d", &k); err != nil || k >= n || connectLine(k) != l {
			t.Fatalf("%s: line %d is %q, not one of the %d input lines", what, i, l, n)
		}
		switch {
		case k == next:
			next++
		case k < next:
			dups++ // a replay of a line already delivered
		default:
			t.Fatalf("%s: line %d is %q but %q was never written before it (a loss)", what, i, l, connectLine(next))
		}
	}
	if next < n {
		t.Fatalf("%s: only lines up to %q arrived, want %d", what, connectLine(next-1), n)
	}
	return dups
}

// topicValues reads the values of the n first records of a one-partition topic
// (read_committed).
func topicValues(t *testing.T, addr, topic string, n int) []string {
	t.Helper()
	cl := franz(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var vals []string
	for len(vals) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(vals), n, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	return vals
}

// runConnect is the Kafka Connect journey against bootstrap: a distributed worker whose
// internal topics it creates itself, a FileStreamSource connector reading a file into a
// topic and a FileStreamSink writing the topic out to a file, pause and resume through the
// REST API, a worker restart that resumes from the stored source offsets and sink group
// offsets, and the connectors' deletion. With eos the worker runs with
// exactly.once.source.support=enabled (KIP-618): the source writes in transactions, so the
// topic must hold every line exactly once.
func runConnect(t *testing.T, bootstrap string, eos bool) {
	dir := t.TempDir()
	port, err := miniotest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	if eos {
		props["exactly.once.source.support"] = "enabled"
	}
	const topic = "connect-lines"
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	appendLines(t, in, 0, 200)

	w := startWorker(t, dir, bootstrap, port, props)
	w.must(t, "POST", "/connectors", fmt.Sprintf(`{"name":"src","config":{"connector.class":"org.apache.kafka.connect.file.FileStreamSourceConnector","tasks.max":"1","file":%q,"topic":%q}}`, in, topic), 201)
	w.must(t, "POST", "/connectors", fmt.Sprintf(`{"name":"sink","config":{"connector.class":"org.apache.kafka.connect.file.FileStreamSinkConnector","tasks.max":"1","file":%q,"topics":%q}}`, out, topic), 201)
	w.must(t, "POST", "/connectors", `{"name":"src","config":{"connector.class":"org.apache.kafka.connect.file.FileStreamSourceConnector","topic":"x"}}`, 409)
	w.await(t, "running connectors", 90*time.Second, func() (bool, string) {
		a, b := w.connectorState(t, "src"), w.connectorState(t, "sink")
		return a == "RUNNING RUNNING" && b == "RUNNING RUNNING", a + "; " + b
	})
	w.await(t, "200 lines out", 90*time.Second, func() (bool, string) {
		n := len(fileLines(out))
		return n >= 200, fmt.Sprint(n, " lines")
	})

	// Pause the source: new lines stay in the file until it resumes.
	w.must(t, "PUT", "/connectors/src/pause", "", 202)
	w.await(t, "paused source", 60*time.Second, func() (bool, string) {
		s := w.connectorState(t, "src")
		return s == "PAUSED PAUSED", s
	})
	adm := kadm.NewClient(franz(t, bootstrap))
	endOffset := func() int64 {
		ends, err := adm.ListEndOffsets(t.Context(), topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := ends.Lookup(topic, 0)
		return o.Offset
	}
	before := endOffset()
	appendLines(t, in, 200, 250)
	time.Sleep(2 * time.Second) // the paused task must not read them (a bounded look, not a wait for an event)
	if after := endOffset(); after != before {
		t.Errorf("paused source wrote: end offset %d -> %d", before, after)
	}
	w.must(t, "PUT", "/connectors/src/resume", "", 202)
	w.await(t, "250 lines out after resume", 90*time.Second, func() (bool, string) {
		n := len(fileLines(out))
		return n >= 250 && w.connectorState(t, "src") == "RUNNING RUNNING", fmt.Sprint(n, " lines, src ", w.connectorState(t, "src"))
	})

	// Restart the worker: both connectors resume from their stored offsets.
	w.stop(t)
	appendLines(t, in, 250, 300)
	w = startWorker(t, dir, bootstrap, port, props)
	w.await(t, "300 lines out after the worker restart", 120*time.Second, func() (bool, string) {
		n := len(fileLines(out))
		return n >= 300, fmt.Sprint(n, " lines, src ", w.connectorState(t, "src"), ", sink ", w.connectorState(t, "sink"))
	})
	vals := topicValues(t, bootstrap, topic, 300)
	if eos {
		want := make([]string, 300)
		for i := range want {
			want[i] = connectLine(i)
		}
		if !slices.Equal(vals, want) {
			t.Errorf("exactly-once source: the topic's 300 first records are not lines 0-299 once each in order:\n%q", vals)
		}
		// KIP-618: the source task's producer is transactional, its id group-connector-task.
		txns, err := adm.ListTransactions(t.Context(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := txns["strata-connect-src-0"]; !ok {
			t.Errorf("exactly-once source: no transactional id strata-connect-src-0 among %v", slices.Sorted(func(yield func(string) bool) {
				for id := range txns {
					if !yield(id) {
						return
					}
				}
			}))
		}
	} else {
		t.Logf("source: %d repeated lines in the topic", checkAtLeastOnce(t, "topic", vals, 300))
	}
	t.Logf("sink: %d repeated lines in the output file", checkAtLeastOnce(t, "sink file", fileLines(out), 300))
	if end := endOffset(); !eos && end != 300 {
		t.Logf("topic end offset %d (at-least-once: %d replayed)", end, end-300)
	}

	// Delete the connectors.
	w.must(t, "DELETE", "/connectors/src", "", 204)
	w.must(t, "DELETE", "/connectors/sink", "", 204)
	w.await(t, "no connectors", 60*time.Second, func() (bool, string) {
		_, body := w.call(t, "GET", "/connectors", "")
		return body == "[]", body
	})
	w.must(t, "GET", "/connectors/src/status", "", 404)

	// The internal topics Connect created are compacted.
	cfgs, err := adm.DescribeTopicConfigs(t.Context(), "connect-configs", "connect-offsets", "connect-status")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfgs {
		if rc.Err != nil {
			t.Fatalf("describe %s: %v", rc.Name, rc.Err)
		}
		got := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				got[c.Key] = *c.Value
			}
		}
		if got["cleanup.policy"] != "compact" {
			t.Errorf("%s: cleanup.policy=%q, want compact", rc.Name, got["cleanup.policy"])
		}
		t.Logf("%s: cleanup.policy=%s remote.storage.enable=%s", rc.Name, got["cleanup.policy"], got["remote.storage.enable"])
	}
}

// TestKafkaConnect runs Kafka Connect in distributed mode against a tiered Strata, with
// exactly-once source support (KIP-618) on Strata's transactions. (The at-least-once
// worker of the default exactly.once.source.support=disabled writes the same topics without
// transactions; runConnect(..., false) checks it, with at most replays, when changed here.)
func TestKafkaConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two Connect worker JVMs")
	}
	t.Parallel()
	t.Logf("client: Apache Kafka %s Kafka Connect (distributed worker, FileStreamSource/Sink, REST API)", kafkaVersion)
	s := startTieredStrata(t, nil)
	runConnect(t, s.addr(), true)
	// Strata tiers the compacted internal topics like any other (a tiered default).
	cfgs, err := kadm.NewClient(franz(t, s.addr())).DescribeTopicConfigs(t.Context(), "connect-offsets")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := cfgs.On("connect-offsets", nil)
	for _, c := range rc.Configs {
		if c.Key == "remote.storage.enable" && (c.Value == nil || *c.Value != "true") {
			t.Errorf("connect-offsets: remote.storage.enable=%v, want true (the broker default)", c.MaybeValue())
		}
	}
}

// TestKafkaConnectReference runs the Connect journey against Apache Kafka (make compat-jvm).
func TestKafkaConnectReference(t *testing.T) {
	if !referenceWanted() {
		t.Skip("STRATA_KAFKA_REFERENCE=1 (make compat-jvm) runs Apache Kafka beside Strata")
	}
	t.Parallel()
	t.Logf("client: Apache Kafka %s Kafka Connect, against Apache Kafka %s itself", kafkaVersion, kafkaVersion)
	runConnect(t, startKafka(t, nil)["PLAINTEXT"], true)
}
