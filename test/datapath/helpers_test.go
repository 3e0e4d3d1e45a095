// Package datapath holds black-box tests of the broker's data path (Produce, Fetch,
// ListOffsets, DeleteRecords) driven by franz-go against an in-process broker on
// 127.0.0.1:0, plus a crash test that runs the broker in a child process.
package datapath

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/brokertest"
)

const childEnv = "STRATA_DATAPATH_CHILD_DIR"

// TestMain doubles as the crash-test child: with childEnv set, the test binary runs a
// broker on that data directory, prints its address and serves until it is killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		runChild(dir)
		return
	}
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		code = checkGoroutines(before)
	}
	os.Exit(code)
}

// checkGoroutines fails the run when goroutines started by the tests (brokers, clients,
// long polls, background remote reads) outlive them.
func checkGoroutines(before int) int {
	deadline := time.Now().Add(15 * time.Second) // a loaded machine is slow to wind down
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return 0
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines after the tests, %d before\n%s\n", n, before, buf)
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runChild(dir string) {
	cfg, err := broker.ParseConfig(map[string]string{
		"listeners": "PLAINTEXT://127.0.0.1:0",
		"log.dirs":  dir,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(2)
	}
	b, err := broker.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "new:", err)
		os.Exit(2)
	}
	fmt.Printf("ADDR %s\n", b.Addr())
	if err := b.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(2)
	}
}

// testBroker is an in-process broker on 127.0.0.1:0 (test/brokertest).
type testBroker struct {
	*brokertest.Broker
	addr string
}

func startBroker(t testing.TB, dir string, props map[string]string) *testBroker {
	t.Helper()
	return startBrokerWith(t, dir, props, nil)
}

// startBrokerWith lets the test set the non-string fields (RemoteStore ...) of the config.
func startBrokerWith(t testing.TB, dir string, props map[string]string, edit func(*broker.Config)) *testBroker {
	t.Helper()
	b := brokertest.Start(t, brokertest.Config{Dir: dir, Props: props, Edit: edit})
	return &testBroker{Broker: b, addr: b.Addr()}
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DisableIdempotentWrite(), // InitProducerID is wired separately
		kgo.RetryTimeout(10 * time.Second),
		kgo.MetadataMinAge(50 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// rawClient is a client for hand-built requests that name topics (not topic IDs): franz-go
// sends every request at the highest version both sides support, so Produce and Fetch are
// capped below v13.
func rawClient(t testing.TB, addr string) *kgo.Client {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(0, 12)
	vs.SetMaxKeyVersion(1, 12)
	return newClient(t, addr, kgo.MaxVersions(vs))
}

func createTopic(t testing.TB, cl *kgo.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := kadm.NewClient(cl).CreateTopic(t.Context(), partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// consumeAll reads n records of topic from the start.
func consumeAll(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(out), n, topic, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func strPtr(s string) *string { return &s }

// childBroker runs the broker in a child process (the test binary re-executed).
type childBroker struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir string) *childBroker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childBroker{cmd: cmd}
	t.Cleanup(func() { c.kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child broker did not start: %q %v", line, err)
	}
	c.addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	return c
}

func (c *childBroker) kill() {
	if c.cmd.Process != nil && c.cmd.ProcessState == nil {
		c.cmd.Process.Kill() // SIGKILL
		c.cmd.Wait()
	}
}
