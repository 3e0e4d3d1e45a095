package test

import (
	"context"
	"errors"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// killSwitch is a dialer whose connections can all be cut at once, after which it refuses
// to dial: the client behaves like a process that died without leaving its group.
type killSwitch struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func (k *killSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// groupConsumer polls in a goroutine, records what it sees and commits after each poll
// (rebalances are held until the commit is done, so a clean rebalance loses nothing and
// duplicates nothing).
type groupConsumer struct {
	cl     *kgo.Client
	ks     *killSwitch
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	assigned map[int32]bool
	revoked  int // partitions revoked or lost over the consumer's life
	assigns  int // OnPartitionsAssigned calls with a non-empty assignment
}

func startGroupConsumer(t *testing.T, addr, group, topic string, s *seen, opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	gc := &groupConsumer{ks: &killSwitch{}, done: make(chan struct{}), assigned: map[int32]bool{}}
	base := []kgo.Opt{
		kgo.Dialer(gc.ks.dial),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			if len(m[topic]) > 0 {
				gc.assigns++
			}
			for _, p := range m[topic] {
				gc.assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { gc.drop(m[topic]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { gc.drop(m[topic]) }),
	}
	gc.cl = groupClient(t, addr, append(base, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	gc.cancel = cancel
	go func() {
		defer close(gc.done)
		for ctx.Err() == nil {
			fs := gc.cl.PollFetches(ctx)
			if ctx.Err() != nil {
				gc.cl.AllowRebalance()
				return
			}
			fs.EachRecord(func(r *kgo.Record) { s.add(string(r.Value)) })
			if recs := fs.Records(); len(recs) > 0 {
				_ = gc.cl.CommitRecords(ctx, recs...)
			}
			gc.cl.AllowRebalance()
		}
	}()
	t.Cleanup(func() { gc.close() })
	return gc
}

func (gc *groupConsumer) drop(ps []int32) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for _, p := range ps {
		delete(gc.assigned, p)
	}
	gc.revoked += len(ps)
}

func (gc *groupConsumer) partitions() []int32 {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	var out []int32
	for p := range gc.assigned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (gc *groupConsumer) stats() (revoked, assigns int) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return gc.revoked, gc.assigns
}

// kill cuts the consumer off without LeaveGroup (crash).
func (gc *groupConsumer) kill() {
	gc.ks.kill()
	gc.cancel()
	<-gc.done
}

// close stops the poll loop and closes the client (a dynamic member leaves the group; a
// static one does not).
func (gc *groupConsumer) close() {
	gc.cancel()
	<-gc.done
	gc.cl.Close()
}

func committedTotal(t *testing.T, addr, group, topic string) int64 {
	t.Helper()
	cl := groupClient(t, addr)
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(t.Context(), group)
	if err != nil {
		return -1
	}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil && o.At > 0 {
			n += o.At
		}
	})
	return n
}

func TestGroupFailoverResumesFromCommitted(t *testing.T) {
	for _, tc := range []struct {
		name string
		bal  kgo.GroupBalancer
	}{{"eager-range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(tc.name, func(t *testing.T) { testGroupFailover(t, kgo.Balancers(tc.bal)) })
	}
}

func testGroupFailover(t *testing.T, bal kgo.Opt) {
	gb := startGroupBroker(t, t.TempDir(), nil)
	requireAPI(t, gb.addr(), kmsg.JoinGroup)
	const topic, group = "orders", "workers"
	groupCreateTopic(t, gb.addr(), topic, 6)
	produceKeyed(t, gb.addr(), topic, "a", 600, 6)

	s := newSeen()
	cs := []*groupConsumer{
		startGroupConsumer(t, gb.addr(), group, topic, s, bal),
		startGroupConsumer(t, gb.addr(), group, topic, s, bal),
		startGroupConsumer(t, gb.addr(), group, topic, s, bal),
	}
	waitFor(t, "3 members sharing 6 partitions", 30*time.Second, func() bool {
		for _, c := range cs {
			if len(c.partitions()) != 2 {
				return false
			}
		}
		return true
	})
	waitFor(t, "first 600 consumed and committed", 30*time.Second, func() bool {
		return s.distinct() == 600 && committedTotal(t, gb.addr(), group, topic) == 600
	})

	victim := cs[2].partitions()
	cs[2].kill()
	produceKeyed(t, gb.addr(), topic, "b", 600, 6)
	waitFor(t, "survivors take over the victim's partitions", 30*time.Second, func() bool {
		return len(cs[0].partitions())+len(cs[1].partitions()) == 6
	})
	waitFor(t, "all 1200 consumed and committed", 30*time.Second, func() bool {
		return s.distinct() == 1200 && committedTotal(t, gb.addr(), group, topic) == 1200
	})
	// Everything was committed before the kill, so the takeover resumed exactly at the
	// committed offsets: nothing lost, nothing consumed twice.
	s.mu.Lock()
	for v, n := range s.m {
		if n != 1 {
			t.Errorf("%s consumed %d times", v, n)
		}
	}
	s.mu.Unlock()
	t.Logf("victim owned %v; survivors now own %v and %v", victim, cs[0].partitions(), cs[1].partitions())
}

func TestGroupCooperativeSticky(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), nil)
	requireAPI(t, gb.addr(), kmsg.JoinGroup)
	const topic, group = "coop", "coop-group"
	groupCreateTopic(t, gb.addr(), topic, 6)
	produceKeyed(t, gb.addr(), topic, "x", 60, 6)
	s := newSeen()
	bal := kgo.Balancers(kgo.CooperativeStickyBalancer())
	a := startGroupConsumer(t, gb.addr(), group, topic, s, bal)
	waitFor(t, "first member owns all 6", 20*time.Second, func() bool { return len(a.partitions()) == 6 })
	before := a.partitions()
	b := startGroupConsumer(t, gb.addr(), group, topic, s, bal)
	waitFor(t, "3/3 split", 30*time.Second, func() bool { return len(a.partitions()) == 3 && len(b.partitions()) == 3 })
	revoked, _ := a.stats()
	if revoked != 3 {
		t.Fatalf("cooperative rebalance revoked %d partitions from the first member, want exactly 3", revoked)
	}
	for _, p := range a.partitions() {
		if !contains32(before, p) {
			t.Fatalf("first member gained partition %d it did not own", p)
		}
	}
	cl := groupClient(t, gb.addr())
	defer cl.Close()
	dg, err := kadm.NewClient(cl).DescribeGroups(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	if d := dg[group]; d.State != "Stable" || d.Protocol != "cooperative-sticky" || len(d.Members) != 2 {
		t.Fatalf("describe: state %s protocol %s members %d", d.State, d.Protocol, len(d.Members))
	}
	waitFor(t, "all records consumed", 20*time.Second, func() bool { return s.distinct() == 60 })
}

func contains32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestGroupStaticMembershipRejoinWithoutRebalance(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), nil)
	requireAPI(t, gb.addr(), kmsg.JoinGroup)
	const topic, group = "static", "static-group"
	groupCreateTopic(t, gb.addr(), topic, 6)
	s := newSeen()
	c1 := startGroupConsumer(t, gb.addr(), group, topic, s, kgo.InstanceID("i1"))
	c2 := startGroupConsumer(t, gb.addr(), group, topic, s, kgo.InstanceID("i2"))
	waitFor(t, "3/3 split", 30*time.Second, func() bool { return len(c1.partitions()) == 3 && len(c2.partitions()) == 3 })
	time.Sleep(time.Second) // let any trailing rebalance settle
	owned := c1.partitions()
	rev2, assigns2 := c2.stats()

	// A static member's client closes without LeaveGroup and comes back with the same
	// group.instance.id within the session timeout.
	c1.close()
	c1b := startGroupConsumer(t, gb.addr(), group, topic, s, kgo.InstanceID("i1"))
	waitFor(t, "restarted member gets its partitions back", 20*time.Second, func() bool { return len(c1b.partitions()) == 3 })
	if got := c1b.partitions(); !equal32(got, owned) {
		t.Fatalf("restarted static member got %v, had %v", got, owned)
	}
	time.Sleep(time.Second)
	if r, a := c2.stats(); r != rev2 || a != assigns2 {
		t.Fatalf("other member saw a rebalance: revoked %d->%d, assigned %d->%d", rev2, r, assigns2, a)
	}
	produceKeyed(t, gb.addr(), topic, "s", 60, 6)
	waitFor(t, "records consumed after the rejoin", 20*time.Second, func() bool { return s.distinct() == 60 })
}

func equal32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGroupOffsetsSurviveBrokerRestart(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), nil)
	requireAPI(t, gb.addr(), kmsg.OffsetCommit)
	const topic = "durable"
	groupCreateTopic(t, gb.addr(), topic, 3)
	produceKeyed(t, gb.addr(), topic, "d", 30, 3)

	cl := groupClient(t, gb.addr())
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4, LeaderEpoch: 0, Metadata: "m0"})
	offs.Add(kadm.Offset{Topic: topic, Partition: 2, At: 7, LeaderEpoch: 0, Metadata: "m2"})
	if r, err := adm.CommitOffsets(t.Context(), "assign-users", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	cl.Close()

	gb.restart()

	cl = groupClient(t, gb.addr())
	defer cl.Close()
	got, err := kadm.NewClient(cl).FetchOffsets(t.Context(), "assign-users")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]struct {
		at int64
		md string
	}{0: {4, "m0"}, 2: {7, "m2"}} {
		o, ok := got.Lookup(topic, p)
		if !ok || o.At != want.at || o.Metadata != want.md {
			t.Fatalf("partition %d after restart: %+v (%v)", p, o, ok)
		}
	}
	// A group consumer resumes from the committed offsets: 10 per partition were
	// produced, so it reads 6 from partition 0, 10 from 1 and 3 from 2.
	s := newSeen()
	startGroupConsumer(t, gb.addr(), "assign-users", topic, s)
	waitFor(t, "consumer resumes from committed offsets", 20*time.Second, func() bool { return s.distinct() == 19 })
	time.Sleep(500 * time.Millisecond)
	if n := s.distinct(); n != 19 {
		t.Fatalf("consumed %d records, want 19", n)
	}
}

// TestGroupLag is what `strata group describe` does: kadm.Lag combines DescribeGroups,
// OffsetFetch and ListOffsets.
func TestGroupLag(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), nil)
	requireAPI(t, gb.addr(), kmsg.DescribeGroups)
	const topic, group = "lagging", "lag-group"
	groupCreateTopic(t, gb.addr(), topic, 2)
	produceKeyed(t, gb.addr(), topic, "l", 20, 2)
	s := newSeen()
	c := startGroupConsumer(t, gb.addr(), group, topic, s)
	waitFor(t, "consumed and committed", 20*time.Second, func() bool {
		return s.distinct() == 20 && committedTotal(t, gb.addr(), group, topic) == 20
	})
	// Stop polling (the member stays in the group, heartbeating), then produce more.
	c.cancel()
	<-c.done
	produceKeyed(t, gb.addr(), topic, "n", 4, 2)
	cl := groupClient(t, gb.addr())
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lags, err := adm.Lag(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	gl := lags[group]
	if gl.Error() != nil {
		t.Fatal(gl.Error())
	}
	if gl.State != "Stable" || len(gl.Members) != 1 {
		t.Fatalf("state %s, %d members", gl.State, len(gl.Members))
	}
	committed := committedTotal(t, gb.addr(), group, topic)
	if total := gl.Lag.Total(); committed != 20 || total != 4 {
		t.Fatalf("lag %d, committed %d of 24", total, committed)
	}
}
