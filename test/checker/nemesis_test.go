package checker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// kfakeTarget restarts an in-process kfake cluster on the same port and data directory.
// kfake cannot be SIGKILLed: Kill closes it, which is enough to exercise the nemesis, the
// clients' reconnects and the recovery measurement.
type kfakeTarget struct {
	mu   sync.Mutex
	dir  string
	port int
	c    *kfake.Cluster
}

func (k *kfakeTarget) Addr() string { return fmt.Sprintf("127.0.0.1:%d", k.port) }

func (k *kfakeTarget) Start(context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(k.port), kfake.DataDir(k.dir), kfake.SyncWrites())
	k.c = c
	return err
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
