package compat

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// event is one line a client prints (JSON), or the Go equivalent from Sarama.
type event struct {
	Ev         string  `json:"ev"`         // "assigned", "record", "produced", "version"
	Partitions []int32 `json:"partitions"` // assigned: the member's whole assignment
	P          int32   `json:"p"`
	O          int64   `json:"o"`
	K          string  `json:"k"`
	V          string  `json:"v"`
	N          int     `json:"n"`
	Version    string  `json:"version"`
}

// client is one client library driven through the common scenario.
type client interface {
	// codecs the client can produce with ("none" included).
	codecs() []string
	// idempotent reports whether the client has an idempotent producer.
	idempotent() bool
	createTopic(t *testing.T, addr, topic string, partitions int)
	// produce sends n records keyed key(i) with value value(topic, i) and waits for acks.
	produce(t *testing.T, addr, topic, codec string, n int, idempotent bool)
	// consume reads n records of topic from the beginning (no group commits). With
	// small, the client's fetch limits are far below one batch (256 bytes per partition,
	// about 1 KiB per request), so every response carries one oversized batch per
	// partition, as Kafka returns it.
	consume(t *testing.T, addr, topic string, n int, small bool) []event
	// member starts one group member that commits each record before reporting it.
	member(t *testing.T, addr, topic, group string) member
	// autocommit runs a group member with the client's default automatic commits that
	// reads n records and closes.
	autocommit(t *testing.T, addr, topic, group string, n int) []event
	// admin runs the admin calls of adminStep (suite_test.go) and reports the results.
	admin(t *testing.T, addr, topic, group, deleteTopic string) []event
}

// member is a running group member: assignments and records arrive on events, in order.
type member interface {
	events() <-chan event
	// stop asks the member to leave the group cleanly, waits for it, and returns the
	// events it reported after the request (records it read and committed meanwhile).
	stop(t *testing.T) []event
}

// scriptClient runs a script (python or node) that implements the subcommands
// create|produce|consume|group; see py/*.py and js/kafkajs_client.js.
type scriptClient struct {
	name       string
	argv       []string // interpreter and script
	dir        string   // working directory
	codecList  []string
	idempotOK  bool
	cmdTimeout time.Duration
	groupArgs  []string // extra arguments of the group subcommand (an assignor)
}

func (c *scriptClient) codecs() []string { return c.codecList }
func (c *scriptClient) idempotent() bool { return c.idempotOK }

func (c *scriptClient) run(t *testing.T, addr string, args ...string) []event {
	t.Helper()
	timeout := c.cmdTimeout
	if timeout == 0 {
		timeout = 45 * time.Second
	}
	cmd := exec.Command(c.argv[0], append(append(c.argv[1:], addr), args...)...)
	cmd.Dir = c.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s %v: %v", c.name, args, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", c.name, args, err, tail(stdout.String()), tail(stderr.String()))
		}
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v: no exit after %v\nstdout:\n%s\nstderr:\n%s", c.name, args, timeout, tail(stdout.String()), tail(stderr.String()))
	}
	evs, err := parseEvents(&stdout)
	if err != nil {
		t.Fatalf("%s %v: %v\nstderr:\n%s", c.name, args, err, tail(stderr.String()))
	}
	return evs
}

func (c *scriptClient) createTopic(t *testing.T, addr, topic string, partitions int) {
	t.Helper()
	c.run(t, addr, "create", topic, itoa(partitions))
}

func (c *scriptClient) produce(t *testing.T, addr, topic, codec string, n int, idempotent bool) {
	t.Helper()
	idem := "0"
	if idempotent {
		idem = "1"
	}
	evs := c.run(t, addr, "produce", topic, codec, itoa(n), idem)
	if len(evs) == 0 || evs[len(evs)-1].Ev != "produced" || evs[len(evs)-1].N != n {
		t.Fatalf("%s produce: want a final {ev: produced, n: %d}, got %+v", c.name, n, evs)
	}
}

func (c *scriptClient) consume(t *testing.T, addr, topic string, n int, small bool) []event {
	t.Helper()
	args := []string{"consume", topic, itoa(n)}
	if small {
		args = append(args, "small")
	}
	var recs []event
	for _, e := range c.run(t, addr, args...) {
		if e.Ev == "record" {
			recs = append(recs, e)
		}
	}
	return recs
}

func (c *scriptClient) autocommit(t *testing.T, addr, topic, group string, n int) []event {
	t.Helper()
	return c.run(t, addr, "autocommit", topic, group, itoa(n))
}

func (c *scriptClient) admin(t *testing.T, addr, topic, group, deleteTopic string) []event {
	t.Helper()
	return c.run(t, addr, "admin", topic, group, deleteTopic)
}

func (c *scriptClient) version(t *testing.T) string {
	t.Helper()
	evs := c.run(t, "-", "version")
	if len(evs) != 1 {
		t.Fatalf("%s version: %+v", c.name, evs)
	}
	return evs[0].Version
}

func parseEvents(r io.Reader) ([]event, error) {
	var evs []event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] != '{' {
			continue // library chatter on stdout
		}
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// scriptMember is a `group` subcommand process; closing its stdin asks it to stop.
type scriptMember struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ch     chan event
	stderr *syncBuffer
	waited chan error
}

func (c *scriptClient) member(t *testing.T, addr, topic, group string) member {
	t.Helper()
	return c.startMember(t, addr, append([]string{"group", topic, group}, c.groupArgs...)...)
}

// startMember runs a long-lived subcommand (group, autostore) that reports events until
// its stdin is closed.
func (c *scriptClient) startMember(t *testing.T, addr string, args ...string) *scriptMember {
	t.Helper()
	cmd := exec.Command(c.argv[0], append(append(c.argv[1:], addr), args...)...)
	cmd.Dir = c.dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m := &scriptMember{name: c.name, cmd: cmd, stdin: stdin, ch: make(chan event, 1024), stderr: &syncBuffer{}, waited: make(chan error, 1)}
	cmd.Stderr = m.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(m.ch)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] != '{' {
				continue
			}
			var e event
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				m.stderr.Write([]byte("bad event line: " + line + "\n"))
				continue
			}
			m.ch <- e
		}
	}()
	go func() {
		<-readDone
		m.waited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return m
}

func (m *scriptMember) events() <-chan event { return m.ch }

func (m *scriptMember) stop(t *testing.T) []event {
	t.Helper()
	m.stdin.Close()
	var late []event
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-m.ch:
			if ok {
				late = append(late, e)
				continue
			}
			if err := <-m.waited; err != nil {
				t.Fatalf("%s group member exited with %v\nstderr:\n%s", m.name, err, tail(m.stderr.String()))
			}
			return late
		case <-timeout:
			m.cmd.Process.Kill()
			t.Fatalf("%s group member did not stop within 30s\nstderr:\n%s", m.name, tail(m.stderr.String()))
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tail keeps the last 60 lines of a client's output for a failure message.
func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 60 {
		lines = append([]string{"..."}, lines[len(lines)-60:]...)
	}
	return strings.Join(lines, "\n")
}

// kill ends the member with SIGKILL (no LeaveGroup, no final commit) and returns the events
// it had printed before it died.
func (m *scriptMember) kill(t *testing.T) []event {
	t.Helper()
	m.cmd.Process.Kill()
	var late []event
	for e := range m.ch {
		late = append(late, e)
	}
	<-m.waited
	return late
}

// goneMember stands in for a killed member: it never reports anything.
type goneMember struct{}

func (goneMember) events() <-chan event      { return nil }
func (goneMember) stop(t *testing.T) []event { return nil }
