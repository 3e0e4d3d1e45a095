package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/cluster"
)

func TestParseClusterConfig(t *testing.T) {
	// No process.roles: today's single broker, whatever else is set.
	c, err := parseClusterConfig(map[string]string{"controller.quorum.voters": "1@h:1"}, map[string]string{}, "/d")
	if err != nil || c.Quorum.Clustered() || c.MetadataDir != "/d/__cluster_metadata" || c.SessionTimeout != 9*time.Second || c.HeartbeatInterval != 2*time.Second {
		t.Fatalf("%+v %v", c, err)
	}
	c, err = parseClusterConfig(map[string]string{"process.roles": "broker,controller", "node.id": "2",
		"controller.quorum.voters": "1@h1:9093,2@h2:9093,3@h3:9093", "controller.listener.names": "CONTROLLER",
		"listeners": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093", "advertised.listeners": "PLAINTEXT://h2:9092"},
		map[string]string{"broker.rack": "r1", "metadata.log.dir": "/m", "unclean.leader.election.enable": "true",
			"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500"}, "/d")
	if err != nil || !c.Quorum.Clustered() || c.Quorum.BindAddr != "0.0.0.0:9093" || c.Rack != "r1" || c.MetadataDir != "/m" || !c.Unclean ||
		c.SessionTimeout != 3*time.Second || c.HeartbeatInterval != 500*time.Millisecond ||
		!slices.Equal(c.Listeners, []cluster.Listener{{Name: "PLAINTEXT", Host: "h2", Port: 9092, SecurityProtocol: "PLAINTEXT"}}) {
		t.Fatalf("%+v %v", c, err)
	}
	bad := func(cl map[string]string, want string) {
		t.Helper()
		if _, err := parseClusterConfig(map[string]string{}, cl, "/d"); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: %v, want %q", cl, err, want)
		}
	}
	bad(map[string]string{"broker.session.timeout.ms": "x"}, "broker.session.timeout.ms")
	bad(map[string]string{"broker.heartbeat.interval.ms": "0"}, "broker.heartbeat.interval.ms")
	bad(map[string]string{"broker.heartbeat.interval.ms": "9000"}, "must be below")
	bad(map[string]string{"unclean.leader.election.enable": "maybe"}, "unclean")
	if !knownConfigKey("broker.rack") || !knownConfigKey("metadata.log.dir") {
		t.Fatal("cluster keys are not known to serve")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServeClusterProcesses runs three `strata serve` processes as a combined
// broker+controller cluster: they elect a controller and register; the controller's
// process is killed with SIGKILL, another takes over and fences the dead broker; the
// killed node restarts from its data dir and rejoins; SIGTERM stops a node with a
// controlled shutdown.
func TestServeClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary and starts three processes")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := t.TempDir()
	var voters, addrs []string
	ports := []int{freePort(t), freePort(t), freePort(t)}
	for i, p := range ports {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, addrs[i]))
	}
	type proc struct {
		cmd  *exec.Cmd
		logs *syncBuffer
		done chan error
	}
	procs := make([]*proc, 3)
	start := func(i int) {
		t.Helper()
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "serve", "--log-dirs", filepath.Join(base, fmt.Sprint("n", i+1)), "--admin-addr", "off",
			"--listeners", "PLAINTEXT://127.0.0.1:0,CONTROLLER://"+addrs[i],
			"--set", "process.roles=broker,controller", "--set", fmt.Sprint("node.id=", i+1),
			"--set", "controller.quorum.voters="+strings.Join(voters, ","), "--set", "controller.listener.names=CONTROLLER",
			"--set", "broker.session.timeout.ms=4000", "--set", "broker.heartbeat.interval.ms=250")
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, logs: logs, done: make(chan error, 1)}
		go func() { p.done <- cmd.Wait() }()
		procs[i] = p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p != nil {
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() || testing.Verbose() {
			for i, p := range procs {
				if p != nil {
					t.Logf("node %d log:\n%s", i+1, p.logs)
				}
			}
		}
	})
	for i := range 3 {
		start(i)
	}
	cl := cluster.NewClient(addrs)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	// waitImage checks the newest image the client has seen, never an older one: a
	// lagging follower may answer a watch with an image from before the last check.
	waitImage := func(what string, ok func(im *cluster.Image) bool) *cluster.Image {
		t.Helper()
		for {
			if im := cl.Image(); ok(im) {
				return im
			}
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
			cl.Watch(wctx, cl.Image().Version)
			wcancel()
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s (last image %+v)", what, cl.Image())
			}
		}
	}
	unfenced := func(ids ...int32) func(im *cluster.Image) bool {
		return func(im *cluster.Image) bool {
			for _, id := range ids {
				if b, ok := im.Brokers[id]; !ok || b.Fenced || b.Listeners[0].Port == 0 {
					return false
				}
			}
			return true
		}
	}
	im := waitImage("three unfenced brokers", unfenced(1, 2, 3))
	old1 := im.Brokers[1].Epoch
	if im.ClusterID == "" {
		t.Fatal("the quorum has no cluster id")
	}

	leader, _, err := cl.Leader(ctx)
	for err == nil && leader < 0 {
		time.Sleep(50 * time.Millisecond)
		leader, _, err = cl.Leader(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	k := int(leader - 1)
	procs[k].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[k].done
	procs[k] = nil
	waitImage(fmt.Sprintf("broker %d fenced by the next controller", leader), func(im *cluster.Image) bool {
		b := im.Brokers[leader]
		return b.Fenced
	})
	if id, _, err := cl.Leader(ctx); err != nil || id == leader {
		t.Fatalf("leader after kill: %d %v", id, err)
	}
	res, err := cl.CreateTopics(ctx, []cluster.TopicSpec{{Name: "rf2", NumPartitions: 4, ReplicationFactor: 2}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("CreateTopics after failover: %+v %v", res, err)
	}
	im = waitImage("topic rf2", func(im *cluster.Image) bool { return im.Topics["rf2"] != nil })
	if out := mustCLI(t, "", "quorum", "--controllers", strings.Join(addrs, ",")); !strings.Contains(out, "rf2") ||
		!strings.Contains(out, "fenced") || strings.Contains(out, "controller: none") {
		t.Fatalf("strata quorum:\n%s", out)
	}
	for i, p := range im.Topics["rf2"].Partitions {
		if slices.Contains(p.Replicas, leader) {
			t.Fatalf("rf2-%d placed on fenced broker %d: %+v", i, leader, p)
		}
	}

	// The killed node restarts from its data dir and rejoins as a new incarnation.
	start(k)
	im = waitImage(fmt.Sprintf("broker %d back", leader), unfenced(1, 2, 3))
	if leader == 1 && im.Brokers[1].Epoch <= old1 {
		t.Fatalf("broker 1 epoch %d after restart, was %d", im.Brokers[1].Epoch, old1)
	}

	// SIGTERM: controlled shutdown, then a clean exit.
	j := (k + 1) % 3
	procs[j].cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-procs[j].done:
		if err != nil {
			t.Fatalf("node %d exit: %v", j+1, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("node %d did not stop after SIGTERM", j+1)
	}
	logs := procs[j].logs.String()
	procs[j] = nil
	if !strings.Contains(logs, "controlled shutdown done") {
		t.Fatalf("node %d stopped without a controlled shutdown:\n%s", j+1, logs)
	}
	waitImage(fmt.Sprintf("broker %d fenced after its shutdown", j+1), func(im *cluster.Image) bool { return im.Brokers[int32(j+1)].Fenced })
}

// TestServeControllerOnly: process.roles=controller serves the quorum's listener and no
// Kafka listener, and stops cleanly.
func TestServeControllerOnly(t *testing.T) {
	kafkaPort, ctlPort, otherPort := freePort(t), freePort(t), freePort(t)
	ctl := fmt.Sprintf("127.0.0.1:%d", ctlPort)
	ctx, cancel := context.WithCancel(t.Context())
	var errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: io.Discard, err: &errOut}, []string{"serve",
			"--log-dirs", t.TempDir(), "--admin-addr", "off", "--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", kafkaPort, ctl),
			"--set", "process.roles=controller", "--set", "node.id=1", "--set", "controller.listener.names=CONTROLLER",
			"--set", fmt.Sprintf("controller.quorum.voters=1@%s,2@127.0.0.1:%d", ctl, otherPort)})
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("timed out waiting for %s:\n%s", what, errOut.String())
			}
		}
	}
	waitFor("the controller-only log line", func() bool { return strings.Contains(errOut.String(), "controller only") })
	if c, err := net.Dial("tcp", ctl); err != nil {
		t.Fatalf("controller listener: %v", err)
	} else {
		c.Close()
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", kafkaPort)); err == nil {
		c.Close()
		t.Fatal("a controller-only node listens for Kafka clients")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestWriteQuorum(t *testing.T) {
	im := cluster.NewImage()
	im.ClusterID, im.Version = "cid", 42
	im.Brokers[1] = cluster.Broker{NodeID: 1, Epoch: 5, Listeners: []cluster.Listener{{Name: "PLAINTEXT", Host: "h1", Port: 9092}}, Rack: "r1"}
	im.Brokers[2] = cluster.Broker{NodeID: 2, Epoch: 7, Fenced: true}
	im.Topics["t"] = &cluster.Topic{Name: "t", Partitions: []cluster.Partition{
		{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		{Replicas: []int32{2, 1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 1},
		{Replicas: []int32{2}, ISR: []int32{2}, Leader: -1, LeaderEpoch: 1},
	}}
	var all, urp strings.Builder
	if err := writeQuorum(&all, im, 1, "c1:9093", false); err != nil {
		t.Fatal(err)
	}
	writeQuorum(&urp, im, -1, "", true)
	for _, want := range []string{"cluster id: cid", "metadata version: 42", "controller: 1 (c1:9093)",
		"1       unfenced  5      r1    PLAINTEXT://h1:9092", "2       fenced", "t      0          1       0             1,2       1,2",
		"under-replicated", "none    1             2         2    offline"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, all.String())
		}
	}
	if strings.Contains(urp.String(), "t      0 ") || !strings.Contains(urp.String(), "controller: none") || strings.Count(urp.String(), "\nt  ") != 2 {
		t.Errorf("--under-replicated output:\n%s", urp.String())
	}
	if _, _, err := cli(t, "", "quorum"); !errors.Is(err, errUsage) {
		t.Fatalf("quorum without --controllers: %v", err)
	}
}
