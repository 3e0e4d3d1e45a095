package faultproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestStallHealReset(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip := func(msg string, within time.Duration) (string, error) {
		c.SetDeadline(time.Now().Add(within))
		if _, err := io.WriteString(c, msg+"\n"); err != nil {
			return "", err
		}
		return r.ReadString('\n')
	}
	if got, err := roundTrip("one", 10*time.Second); err != nil || got != "one\n" {
		t.Fatalf("pass: %q %v", got, err)
	}
	// Stalled: nothing comes back, and nothing is lost.
	p.Stall(Backward)
	if got, err := roundTrip("two", 200*time.Millisecond); err == nil {
		t.Fatalf("stalled backward direction answered %q", got)
	}
	p.Heal()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "two\n" {
		t.Fatalf("after heal: %q %v", got, err)
	}
	p.Partition()
	if got, err := roundTrip("three", 200*time.Millisecond); err == nil {
		t.Fatalf("partitioned proxy answered %q", got)
	}
	// Reset ends the connection even while it is stalled.
	p.Reset()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection survived Reset")
	}
	p.Heal()
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c2, "four\n")
	if got, err := bufio.NewReader(c2).ReadString('\n'); err != nil || got != "four\n" {
		t.Fatalf("new connection after reset: %q %v", got, err)
	}
}
