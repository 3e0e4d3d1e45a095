package main

// Apache Kafka as a peer (issue 21): the broker of the Kafka jars test/java/pom.xml pins
// (Maven Central, `make jvm-tools`), started as bin/kafka-server-start.sh starts it: a
// single combined KRaft node (broker and controller) on storage formatted with
// kafka-storage, through test/java/kafka-run-class (the distribution's kafka-run-class.sh
// JVM options) with the heap of -kafka-heap (default -Xmx1G -Xms1G, what
// kafka-server-start.sh sets when KAFKA_HEAP_OPTS is unset). Its configuration is Kafka's
// defaults but for what a single node needs (replication factors 1) and no group join
// delay, as for Strata: in particular Kafka does not fsync per request (flush.messages
// defaults to unbounded; its durability comes from replication), where Strata does.
//
// Kafka's own kafka-producer-perf-test and kafka-consumer-perf-test also run, against
// Kafka and against Strata in the same round (perfTests).

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/miniotest"
)

type kafkaPeer struct {
	addr   string
	cmd    *exec.Cmd
	dir    string
	exited chan struct{}
}

// kafkaTools reports whether the Kafka jars and java are there (and why not).
func kafkaTools(javaDir string) error {
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("no java in PATH")
	}
	if jars, _ := filepath.Glob(filepath.Join(javaDir, "lib", "kafka_*.jar")); len(jars) == 0 {
		return fmt.Errorf("no Kafka broker jar in %s/lib (make jvm-tools)", javaDir)
	}
	return nil
}

// runKafkaTool runs test/java/kafka-run-class with args and returns its output.
func runKafkaTool(ctx context.Context, javaDir string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(javaDir, "kafka-run-class"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(args[:min(2, len(args))], " "), err, out)
	}
	return string(out), nil
}

func startKafkaPeer(ctx context.Context, javaDir, parent, heap string) (*kafkaPeer, error) {
	dir, err := tempDirIn(parent, "kafka-")
	if err != nil {
		return nil, err
	}
	var ports [2]int
	for i := range ports {
		if ports[i], err = miniotest.FreePort(); err != nil {
			return nil, err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	props := map[string]string{
		"process.roles":                       "broker,controller",
		"node.id":                             "1",
		"controller.quorum.bootstrap.servers": fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"listeners":                           fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://127.0.0.1:%d", addr, ports[1]),
		"advertised.listeners":                "PLAINTEXT://" + addr,
		"controller.listener.names":           "CONTROLLER",
		"listener.security.protocol.map":      "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"log.dirs":                            filepath.Join(dir, "data"),
		"offsets.topic.replication.factor":    "1",
		"share.coordinator.state.topic.replication.factor": "1",
		"transaction.state.log.replication.factor":         "1",
		"transaction.state.log.min.isr":                    "1",
		"group.initial.rebalance.delay.ms":                 "0",
	}
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&sb, "%s=%s\n", k, props[k])
	}
	cfg := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(cfg, []byte(sb.String()), 0o644); err != nil {
		return nil, err
	}
	if _, err := runKafkaTool(ctx, javaDir, 2*time.Minute, "kafka-storage", "format", "-t", "q1Sh-9_ISia_zwGINzRvyQ", "-c", cfg, "--standalone"); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "kafka.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(javaDir, "kafka-run-class"), "kafka-server-start", cfg)
	// kafka-run-class execs java: the process started is the broker's JVM.
	cmd.Env = append(os.Environ(), "KAFKA_SERVER_HEAP_OPTS="+heap)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	k := &kafkaPeer{addr: addr, cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(k.exited) }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case <-k.exited:
			b, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("apache kafka exited during start-up:\n%s", tail(b, 4000))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			if cl, err := kgo.NewClient(kgo.SeedBrokers(addr)); err == nil {
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err = cl.Ping(pctx)
				cancel()
				cl.Close()
				if err == nil {
					return k, nil
				}
			}
		}
		if time.Now().After(deadline) {
			k.Stop()
			b, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("apache kafka did not answer on %s within 3 minutes:\n%s", addr, tail(b, 4000))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (k *kafkaPeer) Pid() int { return k.cmd.Process.Pid }

// Stop stops the broker as kafka-server-stop.sh does (SIGTERM), killing it after 60s.
func (k *kafkaPeer) Stop() {
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(60 * time.Second):
		k.cmd.Process.Kill()
		<-k.exited
	}
}

// kafka runs the Kafka workloads against Apache Kafka, then the perf tools.
func (b *bench) kafka(ctx context.Context, round int) error {
	if round == 1 {
		// Idle RSS of the freshly started broker (Strata's is measured on each fresh child).
		_, rss := procStatus(b.kafkaPeer.Pid())
		b.rep.add(round, "kafka", "idle RSS after start", "MiB", float64(rss)/1024)
	}
	prof := b.measured(round, "kafka", b.kafkaPeer.Pid, nil)
	if err := b.kafkaPhases(ctx, round, "kafka", b.kafkaPeer.addr, prof); err != nil {
		return err
	}
	return b.perfTests(ctx, round, "kafka", b.kafkaPeer.addr, prof)
}

// measured wraps each phase of target's broker (process pid) in inner (nil: none) and
// reports the broker's CPU seconds and peak RSS (VmHWM, reset before the phase with
// clear_refs) of the phase. b.lastCPU holds the CPU seconds of the last phase.
func (b *bench) measured(round int, target string, pidOf func() int, inner func(string, func() error) error) func(string, func() error) error {
	return func(phase string, f func() error) error {
		pid := pidOf()
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
		c0 := procCPU(pid)
		var err error
		if inner != nil {
			err = inner(phase, f)
		} else {
			err = f()
		}
		cpu := (procCPU(pid) - c0).Seconds()
		hwm, _ := procStatus(pid)
		b.lastCPU = cpu
		if err == nil {
			b.rep.add(round, target, phase+": broker CPU", "s", cpu)
			b.rep.add(round, target, phase+": broker RSS peak (VmHWM)", "MiB", float64(hwm)/1024)
		}
		return err
	}
}

// perfTests runs kafka-producer-perf-test (acks=all, -mib of -record-size records, as fast
// as it goes) and then kafka-consumer-perf-test (the same records, from a new group)
// against the broker at addr, a topic of 8 partitions, and reports their own figures.
func (b *bench) perfTests(ctx context.Context, round int, target, addr string, prof func(string, func() error) error) error {
	if b.kafkaJava == "" || !b.o.phase("perftest") {
		return nil
	}
	topic := fmt.Sprintf("perftest-r%d", round)
	if err := createTopic(ctx, addr, topic, 8, nil); err != nil {
		return err
	}
	defer deleteTopic(ctx, addr, topic)
	n := strconv.Itoa(b.records(b.o.mib))
	var out string
	err := prof("perf-test-producer", func() (err error) {
		out, err = runKafkaTool(ctx, b.kafkaJava, 10*time.Minute, "kafka-producer-perf-test",
			"--topic", topic, "--num-records", n, "--record-size", strconv.Itoa(b.o.recordSize), "--throughput", "-1",
			"--producer-props", "bootstrap.servers="+addr, "acks=all")
		return err
	})
	if err != nil {
		return err
	}
	p, err := parseProducerPerf(out)
	if err != nil {
		return err
	}
	b.rep.add(round, target, "kafka-producer-perf-test 8p acks=all", "MiB/s", p[0])
	b.rep.add(round, target, "kafka-producer-perf-test 8p acks=all: avg latency", "ms", p[1])
	b.rep.add(round, target, "kafka-producer-perf-test 8p acks=all: p99 latency", "ms", p[2])
	err = prof("perf-test-consumer", func() (err error) {
		out, err = runKafkaTool(ctx, b.kafkaJava, 10*time.Minute, "kafka-consumer-perf-test",
			"--bootstrap-server", addr, "--topic", topic, "--messages", n, "--timeout", "60000",
			"--group", fmt.Sprintf("perftest-%s-r%d", target, round))
		return err
	})
	if err != nil {
		return err
	}
	c, err := parseConsumerPerf(out)
	if err != nil {
		return err
	}
	b.rep.add(round, target, "kafka-consumer-perf-test 8p", "MiB/s", c[0])
	b.rep.add(round, target, "kafka-consumer-perf-test 8p: fetch MiB/s (without the group join)", "MiB/s", c[1])
	return nil
}

var producerPerfRE = regexp.MustCompile(`records sent, [0-9.]+ records/sec \(([0-9.]+) MB/sec\), ([0-9.]+) ms avg latency, [0-9.]+ ms max latency, [0-9.]+ ms 50th, [0-9.]+ ms 95th, ([0-9.]+) ms 99th`)

// parseProducerPerf returns MB/sec (the tool's MB is MiB), avg and p99 latency (ms) of the
// tool's final summary line.
func parseProducerPerf(out string) ([3]float64, error) {
	ms := producerPerfRE.FindAllStringSubmatch(out, -1)
	if len(ms) == 0 {
		return [3]float64{}, fmt.Errorf("kafka-producer-perf-test: no summary in its output:\n%s", out)
	}
	m := ms[len(ms)-1]
	var r [3]float64
	for i := range r {
		r[i], _ = strconv.ParseFloat(m[i+1], 64)
	}
	return r, nil
}

// parseConsumerPerf returns MB.sec and fetch.MB.sec of the tool's CSV line (after its
// header "start.time, end.time, data.consumed.in.MB, MB.sec, ...").
func parseConsumerPerf(out string) ([2]float64, error) {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "start.time") || i+1 >= len(lines) {
			continue
		}
		head := strings.Split(l, ",")
		vals := strings.Split(lines[i+1], ",")
		col := func(name string) (float64, bool) {
			for j, h := range head {
				if strings.TrimSpace(h) == name && j < len(vals) {
					v, err := strconv.ParseFloat(strings.TrimSpace(vals[j]), 64)
					return v, err == nil
				}
			}
			return 0, false
		}
		a, ok1 := col("MB.sec")
		f, ok2 := col("fetch.MB.sec")
		if ok1 && ok2 {
			return [2]float64{a, f}, nil
		}
	}
	return [2]float64{}, fmt.Errorf("kafka-consumer-perf-test: no result line in its output:\n%s", out)
}
