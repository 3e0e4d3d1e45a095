// Package jvm runs Apache Kafka's own command-line tools and its Java client against Strata:
// the jars pinned in test/java/pom.xml (Maven Central, cached in the git-ignored
// test/java/lib by `make jvm-tools`), run through test/java/kafka-run-class the way the
// distribution's bin/*.sh wrappers run them.
//
// The expected outputs of the tool journey (tools_test.go) are Apache Kafka's own: with
// STRATA_KAFKA_REFERENCE=1 (`make compat-jvm`) the same steps also run against a
// single-node KRaft Apache Kafka started from the same jars, and every expectation that is
// not marked as a deliberate Strata difference must hold there too.
//
// A missing jar directory is a test failure, not a skip: CI must prove compatibility.
package jvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/brokertest"
	"github.com/strata-io/strata/test/miniotest"
)

// kafkaVersion is the version pinned in test/java/pom.xml (checked by javaDir).
const kafkaVersion = "4.3.1"

// javaDir returns test/java with its jars present.
func javaDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../java")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"lib/kafka-clients-" + kafkaVersion + ".jar", "lib/kafka-tools-" + kafkaVersion + ".jar", "target/strata-jvm-tests.jar"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s missing: run `make jvm-tools` (mvn package in test/java): %v", f, err)
		}
	}
	return dir
}

// toolJVMOpts replaces kafka-run-class's KAFKA_JVM_PERFORMANCE_OPTS for the tools the tests run.
const toolJVMOpts = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true"

// result is what one tool run printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// runTool runs a Kafka tool (a bin/*.sh name without .sh, or a main class) through
// kafka-run-class with stdin, and waits at most timeout for it.
func runTool(t *testing.T, timeout time.Duration, stdin string, tool string, args ...string) result {
	t.Helper()
	return runToolEnv(t, timeout, nil, stdin, tool, args...)
}

// runToolEnv is runTool with variables (KEY=value) added to the environment.
func runToolEnv(t *testing.T, timeout time.Duration, env []string, stdin string, tool string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(javaDir(t), "kafka-run-class"), append([]string{tool}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	// Short-lived tool JVMs: the C1 compiler alone and the serial collector start faster
	// and burn less CPU than kafka-run-class's server defaults (the machine is shared).
	cmd.Env = append(append(os.Environ(), "KAFKA_JVM_PERFORMANCE_OPTS="+toolJVMOpts), env...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: no exit within %v\nstdout:\n%s\nstderr:\n%s", tool, strings.Join(args, " "), timeout, r.stdout, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", tool, err)
	}
	t.Logf("%s %s: exit %d in %v", tool, strings.Join(args, " "), r.code, r.took.Round(time.Millisecond))
	return r
}

// writeFile writes content to a new file in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// --- Strata ------------------------------------------------------------------------------

// strata is an in-process broker (test/brokertest); listeners maps a listener name to its
// address.
type strata struct {
	*brokertest.Broker
	dir       string
	listeners map[string]string
}

// startStrata starts an in-process broker on free loopback ports, one listener for each
// name of listenerNames (a security protocol: PLAINTEXT alone is the default, and is always
// one of them); props are added to the config and edit, if not nil, sets its other fields
// (RemoteStore).
func startStrata(t *testing.T, props map[string]string, edit func(*broker.Config), listenerNames ...string) *strata {
	t.Helper()
	var more []string
	for _, name := range listenerNames {
		if name != "PLAINTEXT" {
			more = append(more, name)
		}
	}
	all := map[string]string{"group.initial.rebalance.delay.ms": "0"}
	maps.Copy(all, props)
	tb := brokertest.Start(t, brokertest.Config{Props: all, Edit: edit, Listeners: more})
	s := &strata{Broker: tb, dir: tb.Dir(), listeners: map[string]string{"PLAINTEXT": tb.Addr()}}
	for _, name := range more {
		s.listeners[name] = tb.ListenerAddr(name)
	}
	return s
}

// addr is the PLAINTEXT listener's address.
func (s *strata) addr() string { return s.listeners["PLAINTEXT"] }

// franz returns a franz-go client of addr, closed with the test.
func franz(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(20 * time.Second),
		kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// --- Apache Kafka, for reference ---------------------------------------------------------

// referenceWanted reports whether the tests also run Apache Kafka itself (make compat-jvm).
func referenceWanted() bool { return os.Getenv("STRATA_KAFKA_REFERENCE") == "1" }

// startKafka formats and starts a single-node KRaft Apache Kafka (broker and controller)
// from test/java/lib in a child JVM, and returns the addresses of its PLAINTEXT and
// SASL_PLAINTEXT (SCRAM-SHA-256 and -512) listeners once it answers.
func startKafka(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	jd := javaDir(t)
	dir := t.TempDir()
	ports := make([]int, 3)
	for i := range ports {
		p, err := miniotest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	saslAddr := fmt.Sprintf("127.0.0.1:%d", ports[2])
	jaas := "org.apache.kafka.common.security.scram.ScramLoginModule required;"
	props := map[string]string{
		"process.roles":                       "broker,controller",
		"node.id":                             "0",
		"controller.quorum.bootstrap.servers": fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"listeners":                           fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://127.0.0.1:%d,SASL_PLAINTEXT://%s", addr, ports[1], saslAddr),
		"advertised.listeners":                "PLAINTEXT://" + addr + ",SASL_PLAINTEXT://" + saslAddr,
		"controller.listener.names":           "CONTROLLER",
		"listener.security.protocol.map":      "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
		"sasl.enabled.mechanisms":             "SCRAM-SHA-256,SCRAM-SHA-512",
		"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": jaas,
		"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": jaas,
		"log.dirs":                                 filepath.Join(dir, "data"),
		"offsets.topic.replication.factor":         "1",
		"transaction.state.log.replication.factor": "1",
		"transaction.state.log.min.isr":            "1",
		"group.initial.rebalance.delay.ms":         "0",
	}
	maps.Copy(props, extra)
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&sb, "%s=%s\n", k, props[k])
	}
	cfgFile := writeFile(t, dir, "server.properties", sb.String())
	r := runTool(t, 90*time.Second, "", "kafka-storage", "format", "-t", "q1Sh-9_ISia_zwGINzRvyQ", "-c", cfgFile, "--standalone")
	if r.code != 0 {
		t.Fatalf("kafka-storage format: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	logFile, err := os.Create(filepath.Join(dir, "kafka.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(jd, "kafka-run-class"), "kafka-server-start", cfgFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	})
	// Ready when a Metadata request lists the broker.
	deadline := time.Now().Add(120 * time.Second)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("Apache Kafka exited during start-up:\n%s", b)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			cl := franz(t, addr)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			err := cl.Ping(ctx)
			cancel()
			if err == nil {
				return map[string]string{"PLAINTEXT": addr, "SASL_PLAINTEXT": saslAddr}
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("Apache Kafka did not answer on %s within 120s:\n%s", addr, b)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
