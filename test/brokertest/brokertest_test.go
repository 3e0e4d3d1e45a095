package brokertest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering/memstore"
)

// TestRestartKeepsAddressAndData produces a record, restarts the broker and reads the record
// back from the same address.
func TestRestartKeepsAddressAndData(t *testing.T) {
	tb := Start(t, Config{})
	addr, dir := tb.Addr(), tb.Dir()
	if tb.Broker() == nil {
		t.Fatal("Broker() is nil while running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	tb.Restart(t)
	if tb.Addr() != addr || tb.Dir() != dir {
		t.Fatalf("after restart addr %q dir %q, want %q %q", tb.Addr(), tb.Dir(), addr, dir)
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("record not read back after restart: %v", err)
		}
		var got []string
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if len(got) > 0 {
			if len(got) != 1 || got[0] != "v" {
				t.Fatalf("read %q after restart, want [v]", got)
			}
			break
		}
	}

	tb.Stop(t)
	if tb.Broker() != nil {
		t.Fatal("Broker() not nil after Stop")
	}
	tb.Stop(t) // a no-op
}

// TestStoreSetBeforeEdit: Config.Store becomes the broker's RemoteStore before Edit runs, on
// the first start and on a restart.
func TestStoreSetBeforeEdit(t *testing.T) {
	store := memstore.New()
	edits := 0
	tb := Start(t, Config{Store: store, Edit: func(c *broker.Config) {
		edits++
		if c.RemoteStore != store {
			t.Errorf("edit %d: RemoteStore is %v, want the Config.Store", edits, c.RemoteStore)
		}
	}})
	tb.Restart(t)
	if edits != 2 {
		t.Fatalf("Edit ran %d times over a start and a restart, want 2", edits)
	}
}

// Config.Listeners adds listeners on ports of their own, kept across Restart, and each
// accepts connections.
func TestMoreListenersKeepTheirAddresses(t *testing.T) {
	tb := Start(t, Config{Listeners: []string{"SASL_PLAINTEXT"}})
	sasl := tb.ListenerAddr("SASL_PLAINTEXT")
	if sasl == "" || sasl == tb.Addr() || strings.HasSuffix(sasl, ":0") {
		t.Fatalf("SASL_PLAINTEXT listener at %q (PLAINTEXT at %q)", sasl, tb.Addr())
	}
	tb.Restart(t)
	if got := tb.ListenerAddr("SASL_PLAINTEXT"); got != sasl {
		t.Fatalf("SASL_PLAINTEXT listener at %q after restart, was %q", got, sasl)
	}
	c, err := net.DialTimeout("tcp", sasl, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
