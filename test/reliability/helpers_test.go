// Package reliability runs the checker workload (test/checker) against an in-process broker
// under faults that need the broker's Go seams: bucket outages (a real MinIO process
// stopped and restarted, and a fault-injecting store), a local disk budget running out,
// corrupted segments and objects, and hostile or overloading clients. Every scenario is
// short under `go test` and long with STRATA_SOAK=1 (`make soak`); the package prints one
// table of every checker scenario it ran at the end.
package reliability

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/brokertest"
	"github.com/strata-io/strata/test/checker"
)

var (
	rowsMu sync.Mutex
	rows   []string
)

// TestMain prints the table of every checker scenario run (the soak report).
func TestMain(m *testing.M) {
	code := m.Run()
	rowsMu.Lock()
	if len(rows) > 0 {
		sort.Strings(rows)
		fmt.Printf("\nreliability scenarios (test/reliability)\n%s\n%s\n", checker.TableHeader, strings.Join(rows, "\n"))
	}
	rowsMu.Unlock()
	os.Exit(code)
}

func addRow(r checker.Report) {
	rowsMu.Lock()
	rows = append(rows, r.String())
	rowsMu.Unlock()
}

// soak reports whether the long variants run (STRATA_SOAK=1).
func soak() bool { return os.Getenv("STRATA_SOAK") == "1" }

// scale returns the workload duration and fault cycles: short by default, long under
// STRATA_SOAK=1; STRATA_SOAK_DURATION and STRATA_SOAK_CYCLES override either.
func scale(t *testing.T, short time.Duration, shortCycles int) (time.Duration, int) {
	t.Helper()
	dur, cycles := short, shortCycles
	if soak() {
		dur, cycles = 3*time.Minute, 12*shortCycles
	}
	if v := os.Getenv("STRATA_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("STRATA_SOAK_DURATION: %v", err)
		}
		dur = d
	}
	if v := os.Getenv("STRATA_SOAK_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("STRATA_SOAK_CYCLES: %v", err)
		}
		cycles = n
	}
	return dur, cycles
}

// testBroker is an in-process broker on 127.0.0.1:0 (test/brokertest); it embeds the running
// broker for the tests that read its health, disk and snapshot state.
type testBroker struct {
	*broker.Broker
	h    *brokertest.Broker
	addr string
}

// startBroker starts a broker whose log goes to a temporary file, kept when the test fails.
func startBroker(t testing.TB, dir string, props map[string]string, edit func(*broker.Config)) *testBroker {
	t.Helper()
	all := map[string]string{"group.initial.rebalance.delay.ms": "0"}
	for k, v := range props {
		all[k] = v
	}
	logf, err := os.CreateTemp("", "strata-reliability-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			t.Logf("broker log kept in %s", logf.Name())
		} else {
			os.Remove(logf.Name())
		}
	})
	h := brokertest.Start(t, brokertest.Config{Dir: dir, Props: all, Edit: func(c *broker.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		if edit != nil {
			edit(c)
		}
	}})
	return &testBroker{Broker: h.Broker(), h: h, addr: h.Addr()}
}

func (tb *testBroker) stop(t testing.TB) {
	t.Helper()
	tb.h.Stop(t)
	tb.Broker = nil
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(50 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t testing.TB, cl *kgo.Client, name string, partitions int32, configs map[string]string) {
	t.Helper()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s: %v", name, resp.Err)
	}
}

// waitFor polls cond every 50 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tieredTopic are the topic configs of the tiered scenarios: small segments, local
// retention of two segments, unlimited total retention, so the workload's replays and the
// final read cross the local/remote handover.
func tieredTopic() map[string]string {
	return map[string]string{
		"remote.storage.enable": "true",
		"segment.bytes":         "16384",
		"local.retention.bytes": "32768",
		"local.retention.ms":    "500",
		"retention.ms":          "-1",
		"retention.bytes":       "-1",
	}
}

// tieredBroker are the broker keys of the tiered scenarios: fast maintenance and uploads.
func tieredBroker() map[string]string {
	return map[string]string{
		"log.retention.check.interval.ms": "200",
		"remote.log.upload.interval.ms":   "100",
	}
}

// runChecked runs the checker workload, checks the history, adds the report to the
// package table and fails t on any anomaly. The report is returned for further asserts.
func runChecked(t *testing.T, cfg checker.Config, scenario string, cycles int, maxRecovery func() time.Duration) checker.Report {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	if cfg.FinalTimeout == 0 {
		cfg.FinalTimeout = 60 * time.Second
	}
	h, runErr := checker.Run(t.Context(), cfg)
	r := checker.Check(h)
	r.Scenario = scenario
	r.Cycles = cycles
	if maxRecovery != nil {
		r.MaxRecovery = maxRecovery()
	}
	addRow(r)
	t.Logf("\n%s", r.Details())
	if runErr != nil {
		t.Errorf("workload: %v", runErr)
	}
	if !r.OK() || r.Acked == 0 {
		if h != nil {
			keep, err := os.MkdirTemp("", "strata-reliability-")
			if err == nil {
				_ = h.SaveFile(keep + "/history.jsonl")
				t.Logf("history kept in %s", keep)
			}
		}
		if r.Acked == 0 {
			t.Errorf("no record was acknowledged")
		}
		if !r.OK() {
			t.Errorf("anomalies found")
		}
	}
	return r
}

// nemesisOp records a fault or heal in the history.
func nemesisOp(h *checker.History, what string) {
	h.Add(checker.Op{Process: "nemesis", Kind: checker.KindNemesis, Partition: -1, Offset: -1, Value: what})
}

// sleepCtx sleeps d or until ctx ends; it reports whether the whole d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
