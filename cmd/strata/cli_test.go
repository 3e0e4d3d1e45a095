package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The client commands are tested against franz-go's in-memory kfake broker: they speak
// the Kafka protocol only, so the same commands work against Strata (test/shell does that).

func newFake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// cli runs one strata command line with stdin and returns stdout and stderr.
func cli(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err := dispatch(ctx, streams{in: strings.NewReader(stdin), out: &out, err: &errOut}, args)
	return out.String(), errOut.String(), err
}

func mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, stdin, args...)
	if err != nil {
		t.Fatalf("strata %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	slices.Sort(lines)
	return lines
}

func TestTopicCommands(t *testing.T) {
	b := "--brokers=" + newFake(t)

	out := mustCLI(t, "", "topic", "create", "orders", b, "--partitions", "3", "--config", "retention.ms=60000")
	if want := "created topic \"orders\" with 3 partitions\n"; out != want {
		t.Fatalf("create: got %q, want %q", out, want)
	}
	mustCLI(t, "", "topic", "create", "audit", b)
	if _, _, err := cli(t, "", "topic", "create", "orders", b); err == nil {
		t.Fatal("creating an existing topic: want error")
	}
	if out := mustCLI(t, "", "topic", "create", "orders", b, "--if-not-exists"); !strings.Contains(out, "already exists") {
		t.Fatalf("--if-not-exists: %q", out)
	}

	if out := mustCLI(t, "", "topic", "list", b); out != "audit\norders\n" {
		t.Fatalf("list: %q", out)
	}
	if out := mustCLI(t, "", "topic", "list", b, "--partitions"); out != "audit\t1\norders\t3\n" {
		t.Fatalf("list --partitions: %q", out)
	}

	mustCLI(t, "a:1\nb:2\nc:3\n", "produce", "orders", b, "--partition", "1", "--key-separator", ":", "-q")
	out = mustCLI(t, "", "topic", "describe", "orders", b)
	for _, want := range []string{
		"Topic: orders\t",
		"PartitionCount: 3\tReplicationFactor: 1",
		"\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tHighWatermark: 0\n",
		"\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tHighWatermark: 3\n",
		"\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0\tLogStartOffset: 0\tHighWatermark: 0\n",
		"\tConfigs:\n\t\tretention.ms=60000\n",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe output lacks %q:\n%s", want, out)
		}
	}

	mustCLI(t, "", "topic", "alter-config", "orders", b, "--set", "retention.ms=120000", "--set", "segment.bytes=1048576")
	out = mustCLI(t, "", "topic", "describe", "orders", b)
	if !strings.Contains(out, "\t\tretention.ms=120000\n\t\tsegment.bytes=1048576\n") {
		t.Fatalf("after alter-config --set:\n%s", out)
	}
	mustCLI(t, "", "topic", "alter-config", "orders", b, "--delete", "segment.bytes")
	out = mustCLI(t, "", "topic", "describe", "orders", b)
	if strings.Contains(out, "segment.bytes") || !strings.Contains(out, "retention.ms=120000") {
		t.Fatalf("after alter-config --delete:\n%s", out)
	}
	if out := mustCLI(t, "", "topic", "describe", "orders", b, "--all-configs"); !strings.Contains(out, "retention.ms=120000\t(topic)") {
		t.Fatalf("describe --all-configs:\n%s", out)
	}
	if _, _, err := cli(t, "", "topic", "describe", "nope", b); err == nil {
		t.Fatal("describe of a missing topic: want error")
	}

	if out := mustCLI(t, "", "topic", "delete", "audit", b); out != "deleted topic \"audit\"\n" {
		t.Fatalf("delete: %q", out)
	}
	if out := mustCLI(t, "", "topic", "list", b); out != "orders\n" {
		t.Fatalf("list after delete: %q", out)
	}
	if _, _, err := cli(t, "", "topic", "delete", "audit", b); err == nil {
		t.Fatal("deleting a missing topic: want error")
	}
}

func TestProduceConsume(t *testing.T) {
	b := "--brokers=" + newFake(t)
	mustCLI(t, "", "topic", "create", "orders", b, "--partitions", "3")

	input := "k1:v1\nk2:v2\nk3:v3\nk1:v4\nnokey\nk2:with:colons\n"
	_, errOut, err := cli(t, input, "produce", "orders", b, "--key-separator", ":", "--header", "src=test", "--header", "n=1")
	if err != nil {
		t.Fatal(err, errOut)
	}
	if want := "produced 6 records to orders\n"; errOut != want {
		t.Fatalf("produce summary %q, want %q", errOut, want)
	}

	// Everything, sorted (partitions interleave), with key, value and headers.
	out := mustCLI(t, "", "consume", "orders", b, "--from-beginning", "-e", "--format", `%k=%v %h\n`)
	want := []string{"=nokey src=test,n=1", "k1=v1 src=test,n=1", "k1=v4 src=test,n=1", "k2=v2 src=test,n=1", "k2=with:colons src=test,n=1", "k3=v3 src=test,n=1"}
	if got := sortedLines(out); !slices.Equal(got, want) {
		t.Fatalf("consume all:\n got %q\nwant %q", got, want)
	}

	// Per partition: offsets count from 0, order is produce order, equal keys share a partition.
	byKey := map[string]string{}
	var values []string
	for p := range 3 {
		ps := itoa(int64(p))
		out := mustCLI(t, "", "consume", "orders", b, "--partition", ps, "--from-beginning", "-e", "--format", `%p|%o|%k|%v|%K|%T\n`)
		if out == "" {
			continue
		}
		for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			f := strings.Split(line, "|")
			if len(f) != 6 || f[0] != ps || f[1] != itoa(int64(i)) || f[5] != "orders" {
				t.Fatalf("partition %d line %d: %q", p, i, line)
			}
			if f[2] == "" {
				if f[4] != "-1" { // null key: %K prints -1
					t.Fatalf("null key length: %q", line)
				}
			} else {
				if prev, ok := byKey[f[2]]; ok && prev != ps {
					t.Fatalf("key %s in partitions %s and %s", f[2], prev, ps)
				}
				byKey[f[2]] = ps
			}
			values = append(values, f[3])
		}
	}
	// Values of one key appear in produce order within its partition.
	joined := strings.Join(values, ",")
	if !strings.Contains(joined, "v1") || strings.Index(joined, "v1") > strings.Index(joined, "v4") {
		t.Fatalf("per-partition order broken: %s", joined)
	}
	if len(values) != 6 {
		t.Fatalf("partitions hold %d records, want 6", len(values))
	}

	// -n stops early; --offset and --timestamp pick the start.
	if out := mustCLI(t, "", "consume", "orders", b, "--from-beginning", "-n", "2"); strings.Count(out, "\n") != 2 {
		t.Fatalf("-n 2 printed %q", out)
	}
	p := byKey["k1"]
	out = mustCLI(t, "", "consume", "orders", b, "--partition", p, "--offset", "1", "-e", "--format", `%v,`)
	if !strings.HasPrefix(out, "v4,") && !strings.Contains(out, "v4,") {
		t.Fatalf("--offset 1 on partition %s: %q", p, out)
	}
	if strings.Contains(out, "v1,") {
		t.Fatalf("--offset 1 printed offset 0: %q", out)
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	if out := mustCLI(t, "", "consume", "orders", b, "--timestamp", itoa(future), "-e"); out != "" {
		t.Fatalf("--timestamp in the future printed %q", out)
	}
	if out := mustCLI(t, "", "consume", "orders", b, "--timestamp", "0", "-e"); strings.Count(out, "\n") != 6 {
		t.Fatalf("--timestamp 0 printed %q", out)
	}
	// Without a start flag, consume begins at the end: with -e it prints nothing.
	if out := mustCLI(t, "", "consume", "orders", b, "-e"); out != "" {
		t.Fatalf("default start with -e printed %q", out)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestProduceOptions(t *testing.T) {
	b := "--brokers=" + newFake(t)
	mustCLI(t, "", "topic", "create", "t", b, "--partitions", "2")
	for _, c := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, acks := range []string{"all", "1"} {
			mustCLI(t, c+"-"+acks+"\n", "produce", "t", b, "--compression", c, "--acks", acks, "--partition", "1", "-q")
		}
	}
	out := mustCLI(t, "", "consume", "t", b, "--partition", "1", "--from-beginning", "-e")
	want := "none-all\nnone-1\ngzip-all\ngzip-1\nsnappy-all\nsnappy-1\nlz4-all\nlz4-1\nzstd-all\nzstd-1\n"
	if out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	f := func(args ...string) {
		t.Helper()
		if _, _, err := cli(t, "", args...); !errors.Is(err, errUsage) {
			t.Fatalf("strata %v: err %v, want usage error", args, err)
		}
	}
	f("produce", "t", b, "--acks", "2")
	f("produce", "t", b, "--compression", "brotli")
	f("produce", b)
	f("produce", "t", b, "--header", "nokv")
	f("consume", "t", b, "--from-beginning", "--offset", "3")
	f("consume", "t", b, "--format", "%z")
	f("topic", "create", b)
	f("topic", "frobnicate")
	f("nosuchcommand")
}

func TestRecordFormat(t *testing.T) {
	r := &kgo.Record{Topic: "tp", Partition: 2, Offset: 41, Key: []byte("k"), Value: []byte("v"),
		Timestamp: time.UnixMilli(1700000000123), Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}}}
	f := func(format, want string) {
		t.Helper()
		rf, err := parseRecordFormat(format)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		rf.write(w, r)
		w.Flush()
		if buf.String() != want {
			t.Fatalf("format %q: got %q, want %q", format, buf.String(), want)
		}
	}
	f(`%v\n`, "v\n")
	f(`%k %s`, "k v")
	f(`%T/%p@%o t=%t`, "tp/2@41 t=1700000000123")
	f(`%h|%K|%V|%%|\t|\\`, "a=1|1|1|%|\t|\\")
	f(`plain`, "plain")
	f(`\q`, `\q`)
	for _, bad := range []string{"%", "%x"} {
		if _, err := parseRecordFormat(bad); err == nil {
			t.Errorf("parseRecordFormat(%q): want error", bad)
		}
	}
}

func TestBenchAgainstKfake(t *testing.T) {
	b := "--brokers=" + newFake(t)
	// "strata" here is just a second kfake: the test checks the bench's mechanics, not numbers.
	out := mustCLI(t, "", "bench", b, "--mib", "0.25", "--record-size", "512", "--partitions", "2", "--compare-kfake", "--rounds", "2", "--compression", "lz4")
	var phases []string
	sc := bufio.NewScanner(strings.NewReader(out))
	table := ""
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			table += line + "\n"
			continue
		}
		var r benchResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if r.Records != 512 || r.Bytes != 512*512 || r.Seconds <= 0 || r.MBPerSec <= 0 {
			t.Fatalf("implausible result %+v", r)
		}
		if r.Phase == "produce" && (r.P99Ms < r.P50Ms || r.P50Ms <= 0) {
			t.Fatalf("latency percentiles %+v", r)
		}
		phases = append(phases, r.Target+"/"+r.Phase)
	}
	slices.Sort(phases)
	want := []string{"kfake/consume", "kfake/consume", "kfake/produce", "kfake/produce", "strata/consume", "strata/consume", "strata/produce", "strata/produce"}
	if !slices.Equal(phases, want) {
		t.Fatalf("phases %q", phases)
	}
	for _, want := range []string{"| metric | strata | kfake | strata/kfake |", "| produce MB/s |", "| consume MB/s |", "| produce p99 latency ms |"} {
		if !strings.Contains(table, want) {
			t.Fatalf("table lacks %q:\n%s", want, table)
		}
	}
	// Bench topics are deleted afterwards.
	if out := mustCLI(t, "", "topic", "list", b); out != "" {
		t.Fatalf("bench left topics: %q", out)
	}
}

func TestPercentileAndMedian(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(d, 0.5); p != 5 {
		t.Fatalf("p50 = %d", p)
	}
	if p := percentile(d, 0.99); p != 10 {
		t.Fatalf("p99 = %d", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Fatalf("empty p50 = %d", p)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatalf("median = %v", m)
	}
}

func TestProduceAutoCreatesTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(2))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := "--brokers=" + c.ListenAddrs()[0]
	mustCLI(t, "x\ny\n", "produce", "fresh", b, "-q")
	if out := mustCLI(t, "", "topic", "list", b, "--partitions"); out != "fresh\t2\n" {
		t.Fatalf("list: %q", out)
	}
	if got := sortedLines(mustCLI(t, "", "consume", "fresh", b, "--from-beginning", "-e")); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("consume: %q", got)
	}
}

// A partition whose last offset is a transaction marker still counts as consumed to its end.
func TestConsumeExitsAtEndAfterTransactionMarker(t *testing.T) {
	addr := newFake(t)
	b := "--brokers=" + addr
	mustCLI(t, "", "topic", "create", "tx", b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("strata-test"), kgo.DefaultProduceTopic("tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("a"), kgo.StringRecord("b")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	err = dispatch(cctx, streams{in: strings.NewReader(""), out: &out, err: &out},
		[]string{"consume", "tx", b, "--from-beginning", "-e", "--format", `%o:%v\n`})
	if err != nil || cctx.Err() != nil {
		t.Fatalf("consume -e did not finish by itself: err %v, ctx %v", err, cctx.Err())
	}
	if out.String() != "0:a\n1:b\n" {
		t.Fatalf("got %q", out.String())
	}
}
