package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 14's new user, the friction part: each test does what the user did.

// embedded starts a Strata broker in-process and returns its --brokers flag.
func embedded(t *testing.T) string {
	t.Helper()
	addr, stop, err := startEmbeddedBroker(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return "--brokers=" + addr
}

// oneLine fails unless err is a single line containing every want and none of the
// internals a user should not see.
func oneLine(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Fatalf("%s: error is not one line: %q", what, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Fatalf("%s: error %q does not say %q", what, msg, w)
		}
	}
	for _, bad := range []string{"strconv.", "INVALID_", "TOPIC_ALREADY", "context canceled", "EC2", "IMDS"} {
		if strings.Contains(msg, bad) {
			t.Fatalf("%s: error %q leaks %q", what, msg, bad)
		}
	}
}

// Item 5: produce with no broker listening used to hang for 15 minutes; every client
// command now ends within its --timeout with one line and a non-zero exit.
func TestClientCommandsWithoutBroker(t *testing.T) {
	const addr = "127.0.0.1:1" // tcpmux: nothing listens there (a freed ephemeral port could be taken again)
	b := "--brokers=" + addr
	for _, args := range [][]string{
		{"produce", "orders", b},
		{"consume", "orders", b},
		{"topic", "list", b},
		{"topic", "create", "orders", b},
		{"group", "list", b},
	} {
		start := time.Now()
		_, errOut, err := cli(t, "hello\n", append(args, "--timeout=5s")...)
		oneLine(t, strings.Join(args, " "), err, "cannot reach a broker at "+addr, "connection refused", "--brokers")
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("%s took %s", args[0], d)
		}
		if errOut != "" {
			t.Fatalf("%s: also printed %q", args[0], errOut)
		}
	}
}

// Item 6: errors of topic commands are printed once (by main), in the broker's words.
func TestTopicErrorsOnceInUsersWords(t *testing.T) {
	b := embedded(t)
	if out := mustCLI(t, "", "topic", "create", "orders", b); out != "created topic \"orders\" with 1 partition\n" {
		t.Fatalf("create: %q", out)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"topic", "create", "x", "--partitions", "0"}, []string{`cannot create topic "x": number of partitions must be larger than 0`}},
		{[]string{"topic", "create", "orders"}, []string{`cannot create topic "orders": Topic 'orders' already exists.`}},
		{[]string{"topic", "create", "bad name"}, []string{`cannot create topic "bad name": topic name "bad name" contains`}},
		{[]string{"topic", "create", "y", "--config", "retention.ms=abc"}, []string{`Invalid value abc for configuration retention.ms: Not a number of type LONG`}},
		{[]string{"topic", "create", "y", "--config", "retenton.ms=1"}, []string{`unknown topic config name: retenton.ms (did you mean "retention.ms"?)`}},
		{[]string{"topic", "alter-config", "orders", "--set", "retention.ms=abc"}, []string{`cannot alter configs of topic "orders"`, "Not a number of type LONG"}},
		{[]string{"topic", "delete", "nope"}, []string{`cannot delete topic "nope": no such topic`}},
	} {
		out, errOut, err := cli(t, "", append(tc.args, b)...)
		oneLine(t, strings.Join(tc.args, " "), err, tc.want...)
		if out != "" || errOut != "" {
			t.Fatalf("%s: printed more than the error: stdout %q stderr %q", strings.Join(tc.args, " "), out, errOut)
		}
	}
	// topic describe of a topic without overrides says so instead of an empty section.
	out := mustCLI(t, "", "topic", "describe", "orders", b)
	if !strings.Contains(out, "\tConfigs: none set on the topic") || strings.HasSuffix(out, "Configs:\n") {
		t.Fatalf("describe:\n%s", out)
	}
}

// Item 6: serve's configuration mistakes are one line, before any log line, in words,
// with the nearest key for a typo.
func TestServeConfigErrors(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "log.retention.ms=abc"}, `invalid value "abc" for log.retention.ms: want a whole number`},
		{[]string{"--set", "log.retenton.ms=1"}, `unknown config key "log.retenton.ms" (did you mean "log.retention.ms"?)`},
		{[]string{"--set", "strata.tier.s3.bucker=b"}, `(did you mean "strata.tier.s3.bucket"?)`},
		{[]string{"--set", "auto.create.topics.enable=yes"}, `want true or false`},
	} {
		_, errOut, err := cli(t, "", append([]string{"serve", "--log-dirs", data, "--admin-addr", "127.0.0.1:0"}, tc.args...)...)
		oneLine(t, strings.Join(tc.args, " "), err, tc.want)
		if errOut != "" {
			t.Fatalf("%v: logged before the error:\n%s", tc.args, errOut)
		}
	}
}

// Item 7: a record near 1 MB to a topic whose max.message.bytes allows 5 MB; the limit of
// the producer follows the topic, --max-message-bytes overrides it, and a record over the
// producer's limit is reported as the producer's, not the server's.
func TestProduceLargeRecords(t *testing.T) {
	b := embedded(t)
	mustCLI(t, "", "topic", "create", "big", b, "--config", "max.message.bytes=5000000")
	mustCLI(t, "", "topic", "create", "small", b)
	line := strings.Repeat("x", 1_200_000) + "\n"
	if _, errOut, err := cli(t, line, "produce", "big", b); err != nil {
		t.Fatalf("1.2 MB record to a 5 MB topic: %v %s", err, errOut)
	}
	_, _, err := cli(t, line, "produce", "small", b)
	oneLine(t, "1.2 MB record to a default topic", err, "a record of 1200000 bytes does not fit",
		"1048588 bytes allowed by topic small's max.message.bytes", "--max-message-bytes")
	_, _, err = cli(t, line, "produce", "big", b, "--max-message-bytes", "1000000")
	oneLine(t, "--max-message-bytes below the record", err, "allowed by --max-message-bytes")
	out := mustCLI(t, "", "consume", "big", b, "--from-beginning", "-e", "--format", "%V\n")
	if out != "1200000\n" {
		t.Fatalf("consumed %q", out)
	}
}

// Item 9: an empty group printed "protocol consumer/"; "1 partitions".
func TestGroupProtocolWords(t *testing.T) {
	for _, tc := range []struct{ typ, proto, want string }{
		{"consumer", "range", "consumer/range"},
		{"consumer", "", "consumer"},
		{"", "", "none"},
	} {
		if got := groupProtocol(tc.typ, tc.proto); got != tc.want {
			t.Errorf("groupProtocol(%q, %q) = %q, want %q", tc.typ, tc.proto, got, tc.want)
		}
	}
	b := embedded(t)
	mustCLI(t, "", "topic", "create", "t", b)
	mustCLI(t, "a\n", "produce", "t", b, "-q")
	mustCLI(t, "", "group", "seek", "g", b, "--topic", "t", "--to", "earliest")
	out := mustCLI(t, "", "group", "describe", "g", b)
	if !strings.Contains(out, "state Empty, protocol ") || strings.Contains(out, "protocol consumer/,") || !strings.Contains(out, "0 members") {
		t.Fatalf("describe of an empty group:\n%s", out)
	}
}

// Item 8: `make run` could not change its port or data dir. PORT, DATA and ADMIN on the make
// command line do; without them the command is what it always was, whatever the
// environment holds.
func TestMakeRunVariables(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: this test reads the commands `make run` would run (make test always has make)")
	}
	run := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-n", "--no-print-directory", "-C", "../..", "run"}, args...)...)
		for _, kv := range os.Environ() { // not a parent make's flags and variables (make test)
			if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make -n run %v: %v", args, err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return strings.TrimSpace(lines[len(lines)-1])
	}
	const def = "./bin/strata serve --listeners PLAINTEXT://127.0.0.1:9092 --log-dirs ./data --set strata.tier.store=fs"
	if got := run(nil); got != def {
		t.Fatalf("make run: %q", got)
	}
	if got := run([]string{"PORT=1234", "DATA=/elsewhere"}); got != def {
		t.Fatalf("make run with PORT/DATA in the environment: %q", got)
	}
	want := "./bin/strata serve --listeners PLAINTEXT://127.0.0.1:9093 --log-dirs ./data2 --set strata.tier.store=fs --admin-addr 127.0.0.1:9645"
	if got := run(nil, "PORT=9093", "DATA=./data2", "ADMIN=127.0.0.1:9645"); got != want {
		t.Fatalf("make run PORT=9093 DATA=./data2 ADMIN=...: %q", got)
	}
	// Every such command line is one strata serve accepts.
	args := strings.Fields(want)[2:]
	if _, errOut, err := cli(t, "", append([]string{"serve", "--print-config"}, args...)...); err != nil {
		t.Fatalf("serve %v: %v %s", args, err, errOut)
	}
}

// Item 1: a second strata serve on a data dir in use exits at once with one line naming
// the holder's pid, before it logs anything (no admin-port warning first).
func TestServeDataDirInUse(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s, err := startServe(t, "--log-dirs", data)
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, err := cli(t, "", "serve", "--log-dirs", data, "--listeners", "PLAINTEXT://127.0.0.1:0")
	oneLine(t, "second serve", err, "data directory in use", fmt.Sprintf("(pid %d)", os.Getpid()), "log.dirs")
	if errOut != "" {
		t.Fatalf("second serve logged before refusing:\n%s", errOut)
	}
	s.stop(t)
	// Once the first stopped, the directory is free again.
	s, err = startServe(t, "--log-dirs", data)
	if err != nil {
		t.Fatalf("restart after a clean stop: %v", err)
	}
	s.stop(t)
}
