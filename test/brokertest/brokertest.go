// Package brokertest starts in-process Strata brokers for tests: one way to run a broker on a
// loopback port, restart it on the same port and data directory, and stop it waiting for its
// Run loop to return (a Run that returns an error fails the test). Tests that must kill the
// broker (kill -9) run it in a child process instead and do not use this package.
//
// With STRATA_TEST_LOG set in the environment the brokers log at debug level to stderr.
package brokertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering"
)

// stopTimeout bounds how long Stop waits for Run to return after Close; generous because the
// test machines are shared and slow.
const stopTimeout = 20 * time.Second

// anyPort is the address of a broker that has not been started yet.
const anyPort = "127.0.0.1:0"

// Config says how to start a broker. The zero value starts a broker on 127.0.0.1:0 with a
// fresh temporary data directory, default properties and no object store.
type Config struct {
	// Dir is the data directory (log.dirs); t.TempDir() when empty.
	Dir string
	// Addr is the listen address (host:port) of the PLAINTEXT listener; 127.0.0.1:0 when
	// empty. A fixed address is for tests that put something in front of the broker (a
	// proxy named in advertised.listeners); starting on it is retried like a restart.
	Addr string
	// Listeners names more listeners besides PLAINTEXT, by security protocol (SSL,
	// SASL_PLAINTEXT, SASL_SSL), each on a loopback port of its own, kept across Restart
	// (ListenerAddr). Their security settings go in Props.
	Listeners []string
	// Props are broker properties; listeners and log.dirs are set by Start (see Addr and
	// Listeners) and must not be given here.
	Props map[string]string
	// Store, when not nil, is the broker's object store (Config.RemoteStore).
	Store tiering.ObjectStore
	// Edit, when not nil, sets the other non-string fields of the parsed config (Logger,
	// Registerer ...); it runs after Store is set and on every start.
	Edit func(*broker.Config)
}

// Broker is an in-process broker started by Start. Its methods are not safe for concurrent use.
type Broker struct {
	cfg  Config
	addr string            // host:port; fixed at the first start so that restarts keep it
	more map[string]string // Config.Listeners: name -> host:port, fixed like addr
	b    *broker.Broker
	done chan error
}

// Start starts a broker and registers Stop as a cleanup of t. It fails t when the config does
// not parse or the broker does not start.
func Start(t testing.TB, c Config) *Broker {
	t.Helper()
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	addr := c.Addr
	if addr == "" {
		addr = anyPort
	}
	tb := &Broker{cfg: c, addr: addr, more: map[string]string{}}
	for _, name := range c.Listeners {
		tb.more[name] = anyPort
	}
	tb.start(t)
	t.Cleanup(func() { tb.Stop(t) })
	return tb
}

// Addr is the broker's listen address (host:port). It does not change across Restart.
func (tb *Broker) Addr() string { return tb.addr }

// ListenerAddr is the address (host:port) of the listener named name: PLAINTEXT or one of
// Config.Listeners ("" for another name). It does not change across Restart.
func (tb *Broker) ListenerAddr(name string) string {
	if name == "PLAINTEXT" {
		return tb.addr
	}
	return tb.more[name]
}

// Dir is the broker's data directory.
func (tb *Broker) Dir() string { return tb.cfg.Dir }

// Broker is the running broker, nil after Stop.
func (tb *Broker) Broker() *broker.Broker { return tb.b }

// Restart stops the broker and starts it again on the same address and data directory.
func (tb *Broker) Restart(t testing.TB) {
	t.Helper()
	tb.Stop(t)
	tb.start(t)
}

// Stop closes the broker and waits up to 20 s for its Run loop to return. It reports a close
// error, an error returned by Run, or a Run loop that does not return as a test error.
// Stopping a stopped broker is a no-op.
func (tb *Broker) Stop(t testing.TB) {
	t.Helper()
	if tb.b == nil {
		return
	}
	if err := tb.b.Close(); err != nil {
		t.Errorf("cannot close broker %q: %v", tb.addr, err)
	}
	select {
	case err := <-tb.done:
		if err != nil {
			t.Errorf("broker %q: Run: %v", tb.addr, err)
		}
	case <-time.After(stopTimeout):
		t.Errorf("broker %q: Run did not return %v after Close", tb.addr, stopTimeout)
	}
	tb.b = nil
}

func (tb *Broker) start(t testing.TB) {
	t.Helper()
	listeners := "PLAINTEXT://" + tb.addr
	for _, name := range tb.cfg.Listeners {
		listeners += "," + name + "://" + tb.more[name]
	}
	all := map[string]string{"listeners": listeners, "log.dirs": tb.cfg.Dir}
	for k, v := range tb.cfg.Props {
		all[k] = v
	}
	cfg, err := broker.ParseConfig(all)
	if err != nil {
		t.Fatalf("cannot parse broker config: %v", err)
	}
	if tb.cfg.Store != nil {
		cfg.RemoteStore = tb.cfg.Store
	}
	if os.Getenv("STRATA_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if tb.cfg.Edit != nil {
		tb.cfg.Edit(&cfg)
	}
	var b *broker.Broker
	deadline := time.Now().Add(10 * time.Second)
	// On a restart the old listener's port may take a moment to be free again: retry for up
	// to 10 s (any error, so a broken data dir also takes 10 s to be reported).
	for {
		b, err = broker.New(cfg)
		if err == nil || tb.addr == anyPort || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("cannot start broker on %q: %v", tb.addr, err)
	}
	if tb.addr == anyPort {
		tb.addr = b.Addr().String()
	}
	for name, a := range tb.more {
		if a == anyPort {
			tb.more[name] = b.ListenerAddr(name).String()
		}
	}
	tb.b, tb.done = b, make(chan error, 1)
	go func() { tb.done <- b.Run(context.Background()) }()
	// Start returns once Run serves (answers ApiVersions), so that a Stop right after it
	// does not close the broker before Run began, which Run reports as an error.
	if err := waitServing(tb.addr, tb.done); err != nil {
		t.Fatalf("broker %q does not serve: %v", tb.addr, err)
	}
}

// waitServing sends ApiVersions to addr until it is answered, for up to 10 s, or until Run
// returns (done).
func waitServing(addr string, done chan error) error {
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("brokertest")).AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write(frame); err != nil {
				return err
			}
			var size [4]byte
			_, err = io.ReadFull(c, size[:])
			return err
		}()
		if err == nil {
			return nil
		}
		select {
		case rerr := <-done:
			done <- rerr // for Stop
			return fmt.Errorf("Run returned %v", rerr)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
