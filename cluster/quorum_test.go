package cluster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// waitFor polls cond until it returns nil; the bound is generous because the machine is
// shared, and a passing test returns as soon as the condition holds.
func waitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testCluster is a quorum of in-process nodes on loopback TCP.
type testCluster struct {
	t      testing.TB
	cfg    NodeConfig
	dirs   []string
	addrs  []string
	voters []Voter
	trs    []*Transport // first transports, opened before the nodes
	mu     sync.Mutex
	nodes  []*Node // nil: stopped
}

// fastConfig keeps raft's default timings (1s heartbeat and election timeouts, 500ms
// leader lease): shorter ones made leaders step down on this shared 2-core machine when a
// bolt fsync stalled. Sessions are long unless a test shortens them; snapshots are taken
// only when a test asks.
func fastConfig() NodeConfig {
	return NodeConfig{SessionTimeout: time.Minute, SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour}
}

// soloConfig is for one-voter quorums: a single voter has no peer to lose its lease to,
// so short timeouts only make its first election quick.
func soloConfig() NodeConfig {
	c := fastConfig()
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	return c
}

func startCluster(t testing.TB, n int, cfg NodeConfig) *testCluster {
	t.Helper()
	c := &testCluster{t: t, cfg: cfg, nodes: make([]*Node, n)}
	base := t.TempDir()
	for i := range n {
		tr, err := Listen("127.0.0.1:0", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.addrs = append(c.addrs, tr.Addr())
		c.dirs = append(c.dirs, fmt.Sprintf("%s/node%d", base, i+1))
		c.voters = append(c.voters, Voter{ID: int32(i + 1), Addr: tr.Addr()})
		c.trs = append(c.trs, tr)
	}
	for i := range n {
		c.open(i, c.trs[i])
	}
	t.Cleanup(func() {
		for i := range n {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) open(i int, tr *Transport) {
	c.t.Helper()
	cfg := c.cfg
	cfg.NodeID = int32(i + 1)
	cfg.Dir = c.dirs[i]
	cfg.Voters = c.voters
	if tr != nil {
		cfg.Transport = tr
	} else {
		// Reuse the node's address: the others know it from the quorum configuration.
		var err error
		for range 50 {
			if cfg.Transport, err = Listen(c.addrs[i], "", nil); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			c.t.Fatal(err)
		}
	}
	n, err := Open(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

func (c *testCluster) node(id int32) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id-1]
}

func (c *testCluster) stop(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n != nil && n.raft != nil {
		if err := n.Close(); err != nil {
			c.t.Errorf("close node %d: %v", i+1, err)
		}
	}
}

func (c *testCluster) restart(id int32) { c.open(int(id-1), nil) }

func (c *testCluster) live() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// active waits for the active controller.
func (c *testCluster) active() *Node {
	c.t.Helper()
	var a *Node
	waitFor(c.t, "an active controller", func() error {
		for _, n := range c.live() {
			if n.IsActiveController() {
				a = n
				return nil
			}
		}
		return errors.New("none")
	})
	return a
}

// do runs op against the active controller, retrying on ErrNotController as a broker's
// controller client would.
func (c *testCluster) do(op func(n *Node) error) {
	c.t.Helper()
	waitFor(c.t, "a controller operation", func() error {
		for _, n := range c.live() {
			err := op(n)
			if err == nil {
				return nil
			}
			if !errors.Is(err, ErrNotController) {
				c.t.Fatalf("controller operation on node %d: %v", n.ID(), err)
			}
		}
		return ErrNotController
	})
}

// converged waits until every live node's image equals the active controller's.
func (c *testCluster) converged() *Image {
	c.t.Helper()
	var want *Image
	waitFor(c.t, "images to converge", func() error {
		want = c.active().Image()
		for _, n := range c.live() {
			im := n.Image()
			if im.Version != want.Version || !reflect.DeepEqual(im.Topics, want.Topics) || !reflect.DeepEqual(im.Brokers, want.Brokers) ||
				im.NextProducerID != want.NextProducerID {
				return fmt.Errorf("node %d at version %d, controller at %d", n.ID(), im.Version, want.Version)
			}
		}
		return nil
	})
	return want
}

// registerBrokers registers and unfences brokers ids and returns their epochs.
func (c *testCluster) registerBrokers(ids ...int32) map[int32]int64 {
	c.t.Helper()
	epochs := map[int32]int64{}
	ctx := c.t.Context()
	for _, id := range ids {
		c.do(func(n *Node) error {
			e, err := n.RegisterBroker(ctx, BrokerRegistration{NodeID: id, IncarnationID: fmt.Sprintf("inc-%d", id),
				Listeners: []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id, SecurityProtocol: "PLAINTEXT"}}})
			if err == nil {
				epochs[id] = e
			}
			return err
		})
		c.do(func(n *Node) error {
			_, err := n.Heartbeat(ctx, HeartbeatRequest{NodeID: id, BrokerEpoch: epochs[id]})
			return err
		})
	}
	return epochs
}

// heartbeater keeps broker id's session alive until stopped.
func (c *testCluster) heartbeater(id int32, epoch int64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			for _, n := range c.live() {
				n.Heartbeat(ctx, HeartbeatRequest{NodeID: id, BrokerEpoch: epoch})
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

func (c *testCluster) createTopics(specs ...TopicSpec) []CreateTopicResult {
	c.t.Helper()
	var res []CreateTopicResult
	attempts := 0
	c.do(func(n *Node) (err error) {
		if n.IsLeader() {
			attempts++
		}
		res, err = n.CreateTopics(c.t.Context(), specs)
		return err
	})
	for i, r := range res {
		// A retry after a leadership change finds the topic its first try committed.
		if errors.Is(r.Err, ErrTopicExists) && attempts > 1 {
			if tp := c.active().Image().Topics[r.Name]; tp != nil {
				res[i] = CreateTopicResult{Name: r.Name, ID: tp.ID}
				continue
			}
		}
		if r.Err != nil {
			c.t.Fatalf("create topic %s: %v", r.Name, r.Err)
		}
	}
	return res
}

func TestQuorumReplicatesMetadata(t *testing.T) {
	c := startCluster(t, 3, fastConfig())
	leader := c.active()
	c.registerBrokers(1, 2, 3)
	res := c.createTopics(TopicSpec{Name: "orders", NumPartitions: 6, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "-1"}})
	var blocks []ProducerIDBlock
	for range 2 {
		c.do(func(n *Node) error {
			b, err := n.AllocateProducerIDs(t.Context(), 1, n.Image().Brokers[1].Epoch)
			if err == nil {
				blocks = append(blocks, b)
			}
			return err
		})
	}
	// Blocks never overlap. (A retry after a lost answer may skip a block, as in Kafka.)
	if blocks[1].FirstID < blocks[0].FirstID+int64(blocks[0].Size) {
		t.Fatalf("producer id blocks overlap: %+v", blocks)
	}
	// A follower refuses controller writes and names the leader.
	for _, n := range c.live() {
		if n == leader {
			continue
		}
		_, err := n.CreateTopics(t.Context(), []TopicSpec{{Name: "x", NumPartitions: 1, ReplicationFactor: 1}})
		var nc *NotControllerError
		if !errors.As(err, &nc) || nc.LeaderID != leader.ID() || nc.LeaderAddr != leader.Addr() {
			t.Fatalf("CreateTopics on follower %d: %v, want NotControllerError naming %d", n.ID(), err, leader.ID())
		}
	}
	im := c.converged()
	tp := im.Topics["orders"]
	if tp == nil || tp.ID != res[0].ID || len(tp.Partitions) != 6 || tp.Configs["retention.ms"] != "-1" {
		t.Fatalf("topic orders: %+v", tp)
	}
	leaders := map[int32]int{}
	for i, p := range tp.Partitions {
		if len(p.Replicas) != 3 || hasDup(p.Replicas) || !slices.Equal(p.ISR, p.Replicas) || p.Leader != p.Replicas[0] || p.LeaderEpoch != 0 {
			t.Fatalf("partition %d: %+v", i, p)
		}
		leaders[p.Leader]++
	}
	if len(leaders) != 3 {
		t.Fatalf("leaders not spread over the brokers: %v", leaders)
	}
	if im.ClusterID == "" || len(im.ClusterID) != 22 {
		t.Fatalf("cluster id %q: want 22 base64url characters from the first controller", im.ClusterID)
	}
	if im.NextProducerID != blocks[1].FirstID+ProducerIDBlockSize || len(im.Brokers) != 3 || im.Brokers[2].Fenced || im.Brokers[3].Listeners[0].Port != 9003 {
		t.Fatalf("image: next pid %d, brokers %+v", im.NextProducerID, im.Brokers)
	}
}

func TestQuorumLeaderFailover(t *testing.T) {
	c := startCluster(t, 3, fastConfig())
	old := c.active()
	c.registerBrokers(1, 2, 3)
	c.createTopics(TopicSpec{Name: "before", NumPartitions: 3, ReplicationFactor: 3})
	var first ProducerIDBlock
	c.do(func(n *Node) (err error) {
		first, err = n.AllocateProducerIDs(t.Context(), 2, n.Image().Brokers[2].Epoch)
		return err
	})
	c.converged()

	killed := time.Now()
	c.stop(int(old.ID() - 1))
	next := c.active()
	t.Logf("controller %d stopped; %d active after %v", old.ID(), next.ID(), time.Since(killed).Round(time.Millisecond))
	if next.ID() == old.ID() {
		t.Fatal("the stopped node is still the controller")
	}
	if next.Image().Topics["before"] == nil {
		t.Fatal("the new controller lost topic before")
	}
	c.createTopics(TopicSpec{Name: "after", NumPartitions: 2, ReplicationFactor: 3})
	var blk ProducerIDBlock
	c.do(func(n *Node) (err error) {
		blk, err = n.AllocateProducerIDs(t.Context(), 2, n.Image().Brokers[2].Epoch)
		return err
	})
	if blk.FirstID < first.FirstID+int64(first.Size) {
		t.Fatalf("producer ids after failover start at %d, inside the block %+v handed out before", blk.FirstID, first)
	}
	// The old leader comes back from its bolt store and catches up as a follower.
	c.restart(old.ID())
	im := c.converged()
	if im.Topics["after"] == nil || im.Topics["before"] == nil {
		t.Fatalf("topics after restart: %v", im.TopicNames())
	}
}

func TestQuorumRestartFromSnapshot(t *testing.T) {
	c := startCluster(t, 3, fastConfig())
	leader := c.active()
	epochs := c.registerBrokers(1)
	alloc := func(k int) {
		for range k {
			c.do(func(n *Node) error {
				_, err := n.AllocateProducerIDs(t.Context(), 1, epochs[1])
				return err
			})
		}
	}
	alloc(30)
	c.converged()
	var f *Node
	for _, n := range c.live() {
		if n != leader {
			f = n
			break
		}
	}
	if err := f.Snapshot(); err != nil {
		t.Fatal(err)
	}
	snapVersion := f.Image().Version
	alloc(5)
	c.converged()
	total := f.Image().Version

	c.stop(int(f.ID() - 1))
	c.restart(f.ID())
	g := c.node(f.ID())
	if r := g.fsm.restored.Load(); r != snapVersion {
		t.Fatalf("restart restored version %d, want the snapshot's %d", r, snapVersion)
	}
	im := c.converged()
	if im.NextProducerID < 35*ProducerIDBlockSize {
		t.Fatalf("next producer id %d after 35 blocks", im.NextProducerID)
	}
	// Only the tail after the snapshot was replayed, not the history.
	if a := g.fsm.applied.Load(); a == 0 || a > total-snapVersion {
		t.Fatalf("restart applied %d entries; the tail after the snapshot is %d", a, total-snapVersion)
	}

	// The whole quorum restarts from disk and keeps handing out fresh ids.
	for i := range 3 {
		c.stop(i)
	}
	for id := int32(1); id <= 3; id++ {
		c.restart(id)
	}
	var blk ProducerIDBlock
	c.do(func(n *Node) (err error) {
		blk, err = n.AllocateProducerIDs(t.Context(), 1, epochs[1])
		return err
	})
	if blk.FirstID != im.NextProducerID {
		t.Fatalf("after a full restart the next block starts at %d, want %d", blk.FirstID, im.NextProducerID)
	}
}

func partitionOf(im *Image, topic string, p int) Partition {
	if t := im.Topics[topic]; t != nil && p < len(t.Partitions) {
		return t.Partitions[p]
	}
	return Partition{Leader: -2}
}

func TestQuorumFencesBrokerAndMovesLeadership(t *testing.T) {
	cfg := fastConfig()
	cfg.SessionTimeout = 3 * time.Second // heartbeats every 100ms: only a stopped broker misses it
	c := startCluster(t, 3, cfg)
	ctx := t.Context()
	epochs := c.registerBrokers(1, 2, 3)
	stops := map[int32]func(){}
	for id, e := range epochs {
		stops[id] = c.heartbeater(id, e)
	}
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	res := c.createTopics(
		TopicSpec{Name: "t", Assignments: [][]int32{{3, 1, 2}, {1, 2, 3}}},
		TopicSpec{Name: "solo", Assignments: [][]int32{{3}}},
		TopicSpec{Name: "dirty", Assignments: [][]int32{{3, 1}}, Configs: map[string]string{"unclean.leader.election.enable": "true"}},
	)
	// Broker 3, leader of dirty-0, shrinks its ISR to itself.
	c.do(func(n *Node) error {
		_, err := n.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 3, BrokerEpoch: epochs[3], TopicID: res[2].ID, NewISR: []int32{3}})
		return err
	})

	// Broker 3 stops heartbeating: the controller fences it after the session timeout.
	stops[3]()
	delete(stops, 3)
	waitFor(t, "broker 3 fenced", func() error {
		if !c.active().Image().Brokers[3].Fenced {
			return errors.New("not fenced")
		}
		return nil
	})
	im := c.converged()
	f := func(topic string, p int, want Partition) {
		t.Helper()
		if got := partitionOf(im, topic, p); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s-%d: %+v, want %+v", topic, p, got, want)
		}
	}
	f("t", 0, Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1})
	f("t", 1, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1})
	f("solo", 0, Partition{Replicas: []int32{3}, ISR: []int32{3}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 1})
	f("dirty", 0, Partition{Replicas: []int32{3, 1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2})

	// The deposed leader and stale epochs are refused as Kafka's AlterPartition does.
	ap := func(req AlterPartitionRequest, want error) {
		t.Helper()
		c.do(func(n *Node) error {
			_, err := n.AlterPartition(ctx, req)
			if errors.Is(err, ErrNotController) {
				return err
			}
			if !errors.Is(err, want) {
				t.Fatalf("AlterPartition(%+v) = %v, want %v", req, err, want)
			}
			return nil
		})
	}
	ap(AlterPartitionRequest{BrokerID: 3, BrokerEpoch: epochs[3], TopicID: res[0].ID, NewISR: []int32{3, 1, 2}}, ErrNotLeaderOrFollower)
	ap(AlterPartitionRequest{BrokerID: 1, BrokerEpoch: epochs[1], TopicID: res[0].ID, LeaderEpoch: 0, PartitionEpoch: 1, NewISR: []int32{1}}, ErrFencedLeaderEpoch)
	ap(AlterPartitionRequest{BrokerID: 1, BrokerEpoch: epochs[1], TopicID: res[0].ID, LeaderEpoch: 1, PartitionEpoch: 0, NewISR: []int32{1}}, ErrInvalidUpdateVersion)
	ap(AlterPartitionRequest{BrokerID: 1, BrokerEpoch: epochs[1], TopicID: res[0].ID, LeaderEpoch: 1, PartitionEpoch: 1, NewISR: []int32{1, 2, 3}}, ErrIneligibleReplica)

	// Broker 3 comes back: unfenced, it leads solo-0 again (its only, clean replica);
	// leader 1 then adds it back to t-0's ISR.
	stops[3] = c.heartbeater(3, epochs[3])
	waitFor(t, "broker 3 unfenced and leading solo-0", func() error {
		im := c.active().Image()
		if p := partitionOf(im, "solo", 0); im.Brokers[3].Fenced || p.Leader != 3 || p.LeaderEpoch != 2 {
			return fmt.Errorf("broker 3 fenced %v, solo-0 %+v", im.Brokers[3].Fenced, p)
		}
		return nil
	})
	var got Partition
	c.do(func(n *Node) (err error) {
		got, err = n.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 1, BrokerEpoch: epochs[1], TopicID: res[0].ID, LeaderEpoch: 1, PartitionEpoch: 1, NewISR: []int32{1, 2, 3}})
		return err
	})
	if want := (Partition{Replicas: []int32{3, 1, 2}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2}); !reflect.DeepEqual(got, want) {
		t.Fatalf("t-0 after ISR expand: %+v", got)
	}
	c.converged()

	// Every node counts the same ISR changes: dirty-0's shrink by its leader, t-0 and
	// t-1 losing broker 3 (dirty-0's unclean election swaps its one member; solo-0
	// keeps its last), and t-0's expand. Under-replicated: t-1 and dirty-0.
	for _, n := range c.live() {
		reg := prometheus.NewRegistry()
		if err := n.RegisterMetrics(reg); err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"strata_cluster_isr_shrinks_total": 3, "strata_cluster_isr_expands_total": 1,
			"strata_cluster_offline_partitions": 0, "strata_cluster_under_replicated_partitions": 2}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if w, ok := want[mf.GetName()]; ok {
				m := mf.GetMetric()[0]
				if v := m.GetCounter().GetValue() + m.GetGauge().GetValue(); v != w {
					t.Errorf("node %d: %s = %v, want %v", n.ID(), mf.GetName(), v, w)
				}
				delete(want, mf.GetName())
			}
		}
		if len(want) > 0 {
			t.Errorf("node %d: metrics missing: %v", n.ID(), want)
		}
	}
}

// TestControllerChecks runs the controller's request checks on a one-voter quorum.
func TestControllerChecks(t *testing.T) {
	t.Parallel()
	cfg := soloConfig()
	cfg.ClusterID = "configured-id"
	c := startCluster(t, 1, cfg)
	n := c.active()
	waitFor(t, "the configured cluster id", func() error {
		if id := n.Image().ClusterID; id != "configured-id" {
			return fmt.Errorf("cluster id %q", id)
		}
		return nil
	})
	ctx := t.Context()
	epochs := c.registerBrokers(1, 2)

	// Registration: a retry returns the same epoch; a new incarnation gets a new one.
	if e, err := n.RegisterBroker(ctx, BrokerRegistration{NodeID: 1, IncarnationID: "inc-1"}); err != nil || e != epochs[1] {
		t.Fatalf("re-register: %d %v, want %d", e, err, epochs[1])
	}
	if _, err := n.RegisterBroker(ctx, BrokerRegistration{NodeID: 1}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("register without incarnation: %v", err)
	}
	if _, err := n.Heartbeat(ctx, HeartbeatRequest{NodeID: 1, BrokerEpoch: epochs[1] + 100}); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("heartbeat with a wrong epoch: %v", err)
	}
	if _, err := n.AllocateProducerIDs(ctx, 9, 1); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("producer ids for an unknown broker: %v", err)
	}

	ct := func(s TopicSpec, want error) {
		t.Helper()
		res, err := n.CreateTopics(ctx, []TopicSpec{s})
		if err != nil || !errors.Is(res[0].Err, want) {
			t.Fatalf("CreateTopics(%+v) = %v %v, want %v", s, res, err, want)
		}
	}
	ct(TopicSpec{Name: "a", NumPartitions: 2, ReplicationFactor: 2}, nil)
	ct(TopicSpec{Name: "a", NumPartitions: 2, ReplicationFactor: 2}, ErrTopicExists)
	ct(TopicSpec{Name: "bad/name", NumPartitions: 1, ReplicationFactor: 1}, ErrInvalidTopic)
	ct(TopicSpec{Name: "b", NumPartitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions)
	ct(TopicSpec{Name: "b", NumPartitions: 1, ReplicationFactor: 3}, ErrInvalidReplicationFactor)
	ct(TopicSpec{Name: "b", Assignments: [][]int32{{1, 7}}}, ErrInvalidReplicaAssignment)
	ct(TopicSpec{Name: "b", Assignments: [][]int32{{1, 1}}}, ErrInvalidReplicaAssignment)
	ct(TopicSpec{Name: "b", Assignments: [][]int32{{2, 1}}}, nil)
	if res, err := n.CreateTopics(ctx, []TopicSpec{{Name: "d", NumPartitions: 1, ReplicationFactor: 1}, {Name: "e", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "d", NumPartitions: 1, ReplicationFactor: 1}}); err != nil || !errors.Is(res[0].Err, ErrInvalidRequest) ||
		res[1].Err != nil || !errors.Is(res[2].Err, ErrInvalidRequest) || n.Image().Topics["d"] != nil || n.Image().Topics["e"] == nil {
		t.Fatalf("a request naming d twice: %+v %v", res, err)
	}
	b := n.Image().Topics["b"]

	ap := func(req AlterPartitionRequest, want error) {
		t.Helper()
		req.TopicID = cmpOr(req.TopicID, b.ID)
		if _, err := n.AlterPartition(ctx, req); !errors.Is(err, want) {
			t.Fatalf("AlterPartition(%+v) = %v, want %v", req, err, want)
		}
	}
	ap(AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[1], NewISR: []int32{2}}, ErrStaleBrokerEpoch)
	ap(AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2], Partition: 1, NewISR: []int32{2}}, ErrUnknownTopicOrPartition)
	ap(AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2], TopicID: TopicID{42}, NewISR: []int32{2}}, ErrUnknownTopicOrPartition)
	ap(AlterPartitionRequest{BrokerID: 1, BrokerEpoch: epochs[1], NewISR: []int32{1}}, ErrNotLeaderOrFollower)
	ap(AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2], NewISR: []int32{1}}, ErrInvalidRequest)
	ap(AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2], NewISR: []int32{2, 3}}, ErrInvalidRequest)
	ap(AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2], NewISR: []int32{2}}, nil)
	ap(AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2], NewISR: []int32{2, 1}}, ErrInvalidUpdateVersion)

	// Controlled shutdown of broker 2: leadership of b-0 moves to 1 (the ISR is [2]
	// after the shrink above, so b-0 goes offline rather than electing unclean 1), a-*
	// partitions it led move to 1.
	v := n.Image().Version
	resp, err := n.Heartbeat(ctx, HeartbeatRequest{NodeID: 2, BrokerEpoch: epochs[2], WantShutDown: true})
	if err != nil || !resp.Fenced || !resp.ShouldShutDown || resp.Version <= v {
		t.Fatalf("controlled shutdown: %+v %v", resp, err)
	}
	im := n.Image()
	for _, name := range im.TopicNames() {
		for i, p := range im.Topics[name].Partitions {
			if p.Leader == 2 || (slices.Contains(p.ISR, 2) && len(p.ISR) > 1) {
				t.Fatalf("%s-%d after broker 2 shut down: %+v", name, i, p)
			}
		}
	}
	if p := partitionOf(im, "b", 0); p.Leader != -1 || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("b-0: %+v", p)
	}

	// A restart of broker 1 (new incarnation) moves its leaderships away before the new
	// registration, which starts fenced.
	e1, err := n.RegisterBroker(ctx, BrokerRegistration{NodeID: 1, IncarnationID: "inc-1-restarted"})
	if err != nil || e1 <= epochs[1] || !n.Image().Brokers[1].Fenced {
		t.Fatalf("re-register with a new incarnation: %d %v", e1, err)
	}
	if p := partitionOf(n.Image(), "a", 0); p.Leader != -1 {
		t.Fatalf("a-0 still led by %d after its broker restarted", p.Leader)
	}
	// Its first heartbeat unfences it and it leads the partitions whose ISR it is in.
	if resp, err := n.Heartbeat(ctx, HeartbeatRequest{NodeID: 1, BrokerEpoch: e1}); err != nil || resp.Fenced {
		t.Fatalf("heartbeat after restart: %+v %v", resp, err)
	}
	if p := partitionOf(n.Image(), "a", 0); p.Leader != 1 {
		t.Fatalf("a-0 after broker 1 is back: %+v", p)
	}

	// Watch wakes on the next change and honours ctx.
	before := n.Image().Version
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := n.Watch(wctx, before); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Watch without a change: %v", err)
	}
	cancel()
	done := make(chan *Image, 1)
	go func() {
		im, _ := n.Watch(ctx, before)
		done <- im
	}()
	if err := n.AlterACLs(ctx, []ACLRecord{{Key: "k", Payload: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if im := <-done; im == nil || im.Version <= before || string(im.ACLs["k"]) != "v" {
		t.Fatalf("Watch returned %+v", im)
	}
	if err := n.AlterSCRAM(ctx, []SCRAMRecord{{User: "u", Mechanism: "SCRAM-SHA-256", Payload: []byte("c")}}); err != nil {
		t.Fatal(err)
	}

	// CreatePartitions and topic configs.
	if err := n.CreatePartitions(ctx, "a", 2, nil); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("CreatePartitions to the same count: %v", err)
	}
	if err := n.CreatePartitions(ctx, "nope", 3, nil); !errors.Is(err, ErrUnknownTopicOrPartition) {
		t.Fatalf("CreatePartitions of an unknown topic: %v", err)
	}
	if err := n.CreatePartitions(ctx, "a", 4, [][]int32{{1, 9}, {1}}); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Fatalf("CreatePartitions onto an unknown broker: %v", err)
	}
	if err := n.CreatePartitions(ctx, "a", 3, [][]int32{{1}, {1}}); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Fatalf("CreatePartitions with too many assignments: %v", err)
	}
	if err := n.CreatePartitions(ctx, "b", 3, nil); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Fatalf("CreatePartitions of an RF=2 topic with one unfenced broker: %v", err)
	}
	if err := n.CreatePartitions(ctx, "e", 3, nil); err != nil {
		t.Fatal(err)
	}
	if ps := n.Image().Topics["e"].Partitions; len(ps) != 3 || ps[2].Leader != 1 || ps[2].PartitionEpoch != 0 {
		t.Fatalf("e after growing to 3: %+v", ps)
	}
	if err := n.AlterTopicConfigs(ctx, "e", map[string]*string{"retention.ms": strp("5"), "cleanup.policy": nil}); err != nil {
		t.Fatal(err)
	}
	if err := n.AlterTopicConfigs(ctx, "e", map[string]*string{"retention.ms": nil, "segment.bytes": strp("1024")}); err != nil {
		t.Fatal(err)
	}
	if got := n.Image().Topics["e"].Configs; !reflect.DeepEqual(got, map[string]string{"segment.bytes": "1024"}) {
		t.Fatalf("e configs: %v", got)
	}
	if err := n.AlterTopicConfigs(ctx, "nope", map[string]*string{"x": nil}); !errors.Is(err, ErrUnknownTopicOrPartition) {
		t.Fatalf("AlterTopicConfigs of an unknown topic: %v", err)
	}

	// DeleteTopics.
	res, err := n.DeleteTopics(ctx, []string{"a", "nope"})
	if err != nil || res["a"] != nil || !errors.Is(res["nope"], ErrUnknownTopicOrPartition) || n.Image().Topics["a"] != nil {
		t.Fatalf("DeleteTopics: %v %v", res, err)
	}
	if !strings.Contains(fmt.Sprint(res["nope"]), "nope") {
		t.Fatalf("error does not name the topic: %v", res["nope"])
	}
}

func cmpOr(a, b TopicID) TopicID {
	if a.IsZero() {
		return b
	}
	return a
}

// TestControllerStallKeepsSessions: a controller that itself did not run for half a
// session restarts the brokers' sessions instead of fencing them; a session that then
// really expires is fenced.
func TestControllerStallKeepsSessions(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, soloConfig()) // sessions of a minute
	n := c.active()
	c.registerBrokers(1)
	t0 := time.Now()
	for _, at := range []time.Duration{2 * time.Minute, 2*time.Minute + 20*time.Second, 2*time.Minute + 40*time.Second, 3 * time.Minute} {
		n.reconcile(t0.Add(at))
		if n.Image().Brokers[1].Fenced {
			t.Fatalf("broker fenced at +%v after a controller stall", at)
		}
	}
	n.reconcile(t0.Add(3*time.Minute + 10*time.Second))
	if !n.Image().Brokers[1].Fenced {
		t.Fatal("broker not fenced 70s after its last heartbeat")
	}
}

func TestControllerElectLeaders(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, soloConfig())
	n := c.active()
	ctx := t.Context()
	epochs := c.registerBrokers(1, 2)
	res := c.createTopics(TopicSpec{Name: "x", Assignments: [][]int32{{1, 2}}}, TopicSpec{Name: "y", Assignments: [][]int32{{2}}},
		TopicSpec{Name: "z", Assignments: [][]int32{{2, 1}}})
	// z-0's leader 2 drops 1 from its ISR.
	if _, err := n.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2], TopicID: res[2].ID, NewISR: []int32{2}}); err != nil {
		t.Fatal(err)
	}
	hb := func(id int32, fence bool) {
		t.Helper()
		if _, err := n.Heartbeat(ctx, HeartbeatRequest{NodeID: id, BrokerEpoch: epochs[id], WantFence: fence}); err != nil {
			t.Fatal(err)
		}
	}
	elect := func(typ ElectionType, topic string, want error) {
		t.Helper()
		tp := TopicPartition{Topic: topic}
		out, err := n.ElectLeaders(ctx, typ, []TopicPartition{tp})
		if err != nil || !errors.Is(out[tp], want) || (want == nil && out[tp] != nil) {
			t.Fatalf("ElectLeaders(%d, %s) = %v %v, want %v", typ, topic, out, err, want)
		}
	}
	// Broker 1 is fenced and comes back: x-0 is led by 2 with ISR [2].
	hb(1, true)
	hb(1, false)
	if p := partitionOf(n.Image(), "x", 0); p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("x-0: %+v", p)
	}
	elect(ElectPreferred, "x", ErrPreferredLeaderNotAvailable) // 1 is not in the ISR yet
	if _, err := n.AlterPartition(ctx, AlterPartitionRequest{BrokerID: 2, BrokerEpoch: epochs[2], TopicID: res[0].ID, LeaderEpoch: 1, PartitionEpoch: 1, NewISR: []int32{2, 1}}); err != nil {
		t.Fatal(err)
	}
	elect(ElectPreferred, "x", nil)
	if p := partitionOf(n.Image(), "x", 0); p.Leader != 1 || p.LeaderEpoch != 2 {
		t.Fatalf("x-0 after the preferred election: %+v", p)
	}
	elect(ElectPreferred, "x", ErrElectionNotNeeded)
	elect(ElectUnclean, "x", ErrElectionNotNeeded)
	// Broker 2 is fenced: y-0 (only replica 2) and z-0 (ISR [2]) go offline.
	hb(2, true)
	elect(ElectUnclean, "y", ErrEligibleLeadersNotAvailable)
	elect(ElectUnclean, "z", nil)
	if p := partitionOf(n.Image(), "z", 0); p.Leader != 1 || !slices.Equal(p.ISR, []int32{1}) || p.LeaderEpoch != 2 {
		t.Fatalf("z-0 after the unclean election: %+v", p)
	}
	out, err := n.ElectLeaders(ctx, ElectPreferred, []TopicPartition{{Topic: "nope"}})
	if err != nil || !errors.Is(out[TopicPartition{Topic: "nope"}], ErrUnknownTopicOrPartition) {
		t.Fatalf("unknown partition: %v %v", out, err)
	}
	// Over the RPC, all partitions.
	cl := NewClient([]string{n.Addr()})
	all, err := cl.ElectLeaders(ctx, ElectPreferred, nil)
	if err != nil || len(all) != 3 || !errors.Is(all[TopicPartition{Topic: "y"}], ErrPreferredLeaderNotAvailable) ||
		!errors.Is(all[TopicPartition{Topic: "x"}], ErrElectionNotNeeded) {
		t.Fatalf("ElectLeaders over RPC: %v %v", all, err)
	}
}
