package checker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kfakeTarget restarts an in-process kfake cluster on the same port and data directory.
// kfake cannot be SIGKILLed: Kill closes it, which is enough to exercise the nemesis, the
// clients' reconnects and the recovery measurement.
type kfakeTarget struct {
	mu   sync.Mutex
	dir  string
	port int
	c    *kfake.Cluster
	thaw chan struct{}
}

func (k *kfakeTarget) Addr() string { return fmt.Sprintf("127.0.0.1:%d", k.port) }

func (k *kfakeTarget) Start(context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(k.port), kfake.DataDir(k.dir), kfake.SyncWrites())
	k.c = c
	return err
}

// Pause stalls every request: a control function blocks kfake's request loop until
// Resume, the closest kfake gets to a SIGSTOPped process.
func (k *kfakeTarget) Pause() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	ch := make(chan struct{})
	k.thaw = ch
	c := k.c
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		<-ch
		return nil, nil, false
	})
	return nil
}

func (k *kfakeTarget) Resume() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.thaw != nil {
		close(k.thaw)
		k.thaw = nil
	}
	return nil
}

func (k *kfakeTarget) Kill() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
	return nil
}

func TestKillRestartKfake(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tg := &kfakeTarget{dir: t.TempDir(), port: port}
	if err := tg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer tg.Kill()
	if err := WaitReady(t.Context(), tg.Addr(), ""); err != nil {
		t.Fatal(err)
	}
	const dur = 6 * time.Second
	nem := &KillRestart{Target: tg, Cycles: 2, Duration: dur, Topic: "checker-nemesis"}
	h, err := Run(t.Context(), Config{
		Brokers:        []string{tg.Addr()},
		Topic:          "checker-nemesis",
		Duration:       dur,
		GroupConsumers: 1,
		Nemesis:        nem.Run,
		Logf:           t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := Check(h)
	r.Scenario, r.Cycles, r.MaxRecovery = "kfake close/reopen", len(nem.Recoveries()), nem.MaxRecovery()
	t.Logf("\n%s", r.Details())
	if r.Cycles != 2 || r.MaxRecovery <= 0 || r.MaxRecovery > 30*time.Second {
		t.Fatalf("cycles %d, max recovery %s", r.Cycles, r.MaxRecovery)
	}
	if r.Acked == 0 || r.Lost != 0 || r.Inconsistent != 0 || r.Unverified != 0 {
		t.Fatalf("kfake lost data across a close/reopen:\n%s", r.Details())
	}
}

// TestPauseKfake freezes kfake for longer than the clients' request timeouts: producers
// retry on new connections while kfake still holds the originals, and its idempotence
// must leave no duplicate. This guards the checker against false positives from the
// client's retry behaviour.
func TestPauseKfake(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tg := &kfakeTarget{dir: t.TempDir(), port: port}
	if err := tg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer tg.Kill()
	const dur = 6 * time.Second
	nem := &KillRestart{Target: tg, Cycles: 2, Duration: dur, Pause: 2500 * time.Millisecond}
	h, err := Run(t.Context(), Config{
		Brokers:        []string{tg.Addr()},
		Topic:          "checker-pause",
		Duration:       dur,
		GroupConsumers: 1,
		Nemesis:        nem.Run,
		ClientOpts:     []kgo.Opt{kgo.RequestTimeoutOverhead(time.Second), kgo.ProduceRequestTimeout(time.Second)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := Check(h)
	retries := 0
	for _, op := range h.Ops() {
		if op.Kind == KindInfo && op.Value == "produce request" {
			retries++
		}
	}
	t.Logf("failed produce requests (retried): %d\n%s", retries, r.Details())
	if retries == 0 {
		t.Errorf("the pause caused no produce request to fail: the scenario did not exercise retries")
	}
	if r.Cycles != 2 || !r.OK() || r.Acked == 0 {
		t.Fatalf("pause against kfake:\n%s", r.Details())
	}
}
