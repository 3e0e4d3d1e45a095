package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/checker"
)

// reliabilityScale returns the duration and kill cycles of one scenario: short for
// `go test`, long when STRATA_SOAK=1 (`make soak`). STRATA_SOAK_DURATION (a Go duration)
// and STRATA_SOAK_CYCLES override either.
func reliabilityScale(t *testing.T) (time.Duration, int) {
	dur, cycles := 15*time.Second, 3
	if os.Getenv("STRATA_SOAK") == "1" {
		dur, cycles = 5*time.Minute, 40
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

// TestReliabilityKillRestart runs the strata binary as a child process and SIGKILLs and
// restarts it (or, in the pause scenario, freezes it with SIGSTOP) at random moments while
// idempotent producers, replaying consumers and a consumer group run; then it reads every
// partition in full and fails on any anomaly the checker finds: an acknowledged record
// lost, an offset with two values, a record read twice, reads out of order or with gaps,
// committed offsets going backwards, or an end offset below an acknowledged record. The
// history (history.jsonl) and the broker's log (strata.log) of each scenario go to the
// test's artifact directory (go test -artifacts), and to a kept temporary directory when
// the scenario fails; `go run ./test/checker/checkhistory` re-checks a history.
func TestReliabilityKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the strata binary")
	}
	ctx := t.Context()
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	bin, err := checker.BuildStrata(bctx, t.TempDir())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	dur, cycles := reliabilityScale(t)

	scenarios := []struct {
		name  string
		args  []string          // extra `strata serve` arguments
		topic map[string]string // topic configs
		pause time.Duration     // freeze (SIGSTOP) this long instead of SIGKILL
	}{
		{
			name: "local",
			args: []string{"--set", "strata.tier.store=none"},
		},
		{
			// Small segments and tiny local retention: sealed segments go to the fs
			// bucket and are deleted locally, so replays and the final read cross into
			// remote storage while the broker is being killed mid-upload.
			name: "tiered",
			args: []string{"--set", "log.retention.check.interval.ms=500", "--set", "remote.log.upload.interval.ms=200"},
			topic: map[string]string{
				"remote.storage.enable": "true",
				"segment.bytes":         "16384",
				"local.retention.bytes": "32768",
				"local.retention.ms":    "1000",
				"retention.ms":          "-1",
				"retention.bytes":       "-1",
			},
		},
		{
			// SIGSTOP for longer than the clients' request timeouts: requests time out
			// and are retried on new connections while the frozen broker still holds the
			// originals, which it processes once thawed. Idempotence must dedupe them.
			name:  "pause",
			args:  []string{"--set", "strata.tier.store=none"},
			pause: 4 * time.Second,
		},
	}
	var rows []string
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := runKillRestart(t, bin, sc.name, sc.args, sc.topic, sc.pause, dur, cycles)
			rows = append(rows, r.String())
		})
	}
	t.Logf("\n%s\n%s", checker.TableHeader, strings.Join(rows, "\n"))
}

func runKillRestart(t *testing.T, bin, name string, args []string, topicConfigs map[string]string, pause, dur time.Duration, cycles int) checker.Report {
	t.Helper()
	ctx := t.Context()
	art := t.ArtifactDir()
	port, err := checker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(art, "strata.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	s := &checker.Strata{Bin: bin, DataDir: t.TempDir(), Port: port, Args: args, Log: logFile}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = checker.WaitReady(rctx, s.Addr(), "")
	cancel()
	if err != nil {
		t.Fatalf("strata did not start: %v\n%s", err, checker.Tail(logPath, 40))
	}

	topic := "reliability-" + name
	nem := &checker.KillRestart{Target: s, Cycles: cycles, Duration: dur, Topic: topic, Pause: pause,
		// Fault only once the group has committed, so that offsets committed before a
		// crash are checked after it (a group takes seconds to form after a restart).
		Warmup: func(h *checker.History) bool { return h.Count(checker.KindCommit) > 0 }}
	var clientOpts []kgo.Opt
	if pause > 0 {
		clientOpts = append(clientOpts, kgo.RequestTimeoutOverhead(time.Second), kgo.ProduceRequestTimeout(time.Second))
	}
	h, runErr := checker.Run(ctx, checker.Config{
		Brokers:      []string{s.Addr()},
		Topic:        topic,
		Partitions:   3,
		TopicConfigs: topicConfigs,
		Duration:     dur,
		Nemesis:      nem.Run,
		FinalTimeout: 90 * time.Second,
		ClientOpts:   clientOpts,
		Logf:         t.Logf,
	})
	r := checker.Check(h)
	r.Scenario = fmt.Sprintf("kill -9 (%s)", name)
	if pause > 0 {
		r.Scenario = fmt.Sprintf("SIGSTOP %s (%s)", pause, name)
	}
	r.Cycles = len(nem.Recoveries())
	r.MaxRecovery = nem.MaxRecovery()

	if topicConfigs["remote.storage.enable"] == "true" {
		// Say whether the scenario really crossed into the bucket (the fs store's default
		// directory is <log.dirs>/tier).
		n := 0
		_ = filepath.WalkDir(filepath.Join(s.DataDir, "tier"), func(_ string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		t.Logf("objects in the fs tier store: %d", n)
		if n == 0 {
			t.Logf("WARNING: nothing was uploaded; the %s scenario did not exercise remote reads", name)
		}
	}

	histPath := filepath.Join(art, "history.jsonl")
	if err := h.SaveFile(histPath); err != nil {
		t.Error(err)
	}
	t.Logf("recoveries: %v\n%s", nem.Recoveries(), r.Details())
	failed := runErr != nil || !r.OK() || r.Acked == 0 || r.Commits == 0 || r.Cycles < cycles || s.Exited()
	if failed {
		// ArtifactDir is removed unless -artifacts was given: keep a copy for the post-mortem.
		keep, err := os.MkdirTemp("", "strata-reliability-"+name+"-")
		if err == nil {
			_ = h.SaveFile(filepath.Join(keep, "history.jsonl"))
			if b, err := os.ReadFile(logPath); err == nil {
				_ = os.WriteFile(filepath.Join(keep, "strata.log"), b, 0o644)
			}
			t.Logf("history and broker log kept in %s", keep)
		}
		t.Logf("broker log tail:\n%s", checker.Tail(logPath, 30))
	}
	if runErr != nil {
		t.Errorf("workload: %v", runErr)
	}
	if s.Exited() {
		t.Errorf("strata exited on its own (crash?); see the broker log")
	}
	if r.Cycles < cycles {
		t.Errorf("only %d of %d kill/restart cycles done", r.Cycles, cycles)
	}
	if r.Acked == 0 {
		t.Errorf("no record was acknowledged")
	}
	if r.Commits == 0 {
		t.Errorf("the group consumers committed nothing: the commit checks did not run")
	}
	if !r.OK() {
		t.Errorf("anomalies found:\n%s", r.Details())
	}
	return r
}
