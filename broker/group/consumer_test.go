package group

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicsFixture is a mutable topic list for Config.Topics.
type topicsFixture struct{ ts []TopicInfo }

func (f *topicsFixture) add(name string, parts int32) [16]byte {
	id := [16]byte{byte(len(f.ts) + 1), 0xAB}
	f.ts = append(f.ts, TopicInfo{Name: name, ID: id, Partitions: parts})
	return id
}

func (f *topicsFixture) list() []TopicInfo { return slices.Clone(f.ts) }

func newConsumerCoordinator(t *testing.T, store OffsetStore, topics *topicsFixture, mod func(*Config)) *Coordinator {
	t.Helper()
	cfg := Config{Topics: topics.list, ConsumerSessionTimeout: 10 * time.Second, ConsumerHeartbeatInterval: time.Second}
	if mod != nil {
		mod(&cfg)
	}
	return newTestCoordinator(t, store, cfg)
}

// cmemberT is a test client of the consumer protocol: it remembers its epoch and what it
// owns, and revokes what the coordinator takes away on its next heartbeat.
type cmemberT struct {
	t        *testing.T
	c        *Coordinator
	group    string
	id       string
	instance string
	epoch    int32
	owned    map[[16]byte][]int32
	topics   []string
	regex    string
	assignor string
}

func (m *cmemberT) req(epoch int32) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group, r.MemberID, r.MemberEpoch = m.group, m.id, epoch
	if m.instance != "" {
		iid := m.instance
		r.InstanceID = &iid
	}
	r.RebalanceTimeoutMillis = 5000
	if m.regex != "" {
		re := m.regex
		r.SubscribedTopicRegex = &re
	} else {
		r.SubscribedTopicNames = slices.Clone(m.topics)
		if r.SubscribedTopicNames == nil {
			r.SubscribedTopicNames = []string{}
		}
	}
	if m.assignor != "" {
		a := m.assignor
		r.ServerAssignor = &a
	}
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if epoch != 0 {
		for id, ps := range m.owned {
			r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: slices.Clone(ps)})
		}
	}
	return r
}

// send sends r and applies a successful response; it returns the response.
func (m *cmemberT) send(r *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := m.c.ConsumerGroupHeartbeat(context.Background(), r, Client{ID: "client-" + m.id, Host: "/127.0.0.1"})
	if resp.ErrorCode != 0 {
		return resp
	}
	m.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		m.owned = map[[16]byte][]int32{}
		for _, t := range resp.Assignment.Topics {
			m.owned[t.TopicID] = slices.Clone(t.Partitions)
		}
	}
	return resp
}

func (m *cmemberT) heartbeat() *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	resp := m.send(m.req(m.epoch))
	if resp.ErrorCode != 0 {
		m.t.Fatalf("member %s heartbeat at epoch %d: %v %s", m.id, m.epoch, kerr.ErrorForCode(resp.ErrorCode), strOrEmpty(resp.ErrorMessage))
	}
	return resp
}

func (m *cmemberT) join() {
	m.t.Helper()
	m.epoch = 0
	m.owned = nil
	m.heartbeat()
}

func (m *cmemberT) count() int {
	n := 0
	for _, ps := range m.owned {
		n += len(ps)
	}
	return n
}

func newCMember(t *testing.T, c *Coordinator, group, id string, topics ...string) *cmemberT {
	return &cmemberT{t: t, c: c, group: group, id: id, topics: topics}
}

// checkExclusive fails if a partition is owned by two members (by what the members
// believe they own, which is what matters for double consumption).
func checkExclusive(t *testing.T, ms ...*cmemberT) map[topicPart]string {
	t.Helper()
	owner := map[topicPart]string{}
	for _, m := range ms {
		for id, ps := range m.owned {
			for _, p := range ps {
				tp := topicPart{id, p}
				if o, ok := owner[tp]; ok {
					t.Fatalf("partition %x/%d owned by %s and %s", id[:2], p, o, m.id)
				}
				owner[tp] = m.id
			}
		}
	}
	return owner
}

// converge heartbeats all members, checking exclusivity after each, until every member
// is at the group's assignment epoch and the assignment stops changing.
func converge(t *testing.T, ms ...*cmemberT) {
	t.Helper()
	for round := 0; round < 20; round++ {
		for _, m := range ms {
			m.heartbeat()
			checkExclusive(t, ms...)
		}
		d := ms[0].c.ConsumerGroupDescribe(context.Background(), &kmsg.ConsumerGroupDescribeRequest{Version: 1, Groups: []string{ms[0].group}})
		if d.Groups[0].State == "Stable" {
			return
		}
	}
	t.Fatal("group did not become Stable")
}

func TestConsumerGroupJoinRevokeBeforeReassign(t *testing.T) {
	topics := &topicsFixture{}
	topics.add("orders", 6)
	c := newConsumerCoordinator(t, NewMemStore(), topics, nil)
	a := newCMember(t, c, "g", "a", "orders")
	a.join()
	if a.count() != 6 || a.epoch != 1 {
		t.Fatalf("first member: %d partitions at epoch %d, want 6 at 1", a.count(), a.epoch)
	}
	b := newCMember(t, c, "g", "b", "orders")
	b.join()
	// b's target holds 3 partitions a still owns: b gets none of them yet.
	if b.count() != 0 {
		t.Fatalf("b got %d partitions before a revoked them", b.count())
	}
	checkExclusive(t, a, b)
	resp := a.heartbeat() // a is told to give up 3 partitions, at its old epoch
	if a.count() != 3 || resp.MemberEpoch != 1 {
		t.Fatalf("a after revocation request: %d partitions epoch %d", a.count(), resp.MemberEpoch)
	}
	b.heartbeat() // a has not confirmed yet: still nothing for b
	if b.count() != 0 {
		t.Fatalf("b got partitions a had not revoked")
	}
	a.heartbeat() // a reports it owns 3: revocation done, a moves to epoch 2
	if a.epoch != 2 {
		t.Fatalf("a epoch %d, want 2", a.epoch)
	}
	b.heartbeat()
	if b.count() != 3 {
		t.Fatalf("b has %d partitions, want 3", b.count())
	}
	converge(t, a, b)
	cm := newCMember(t, c, "g", "c", "orders")
	cm.join()
	converge(t, a, b, cm)
	owner := checkExclusive(t, a, b, cm)
	if len(owner) != 6 || a.count() != 2 || b.count() != 2 || cm.count() != 2 {
		t.Fatalf("3 members: owned %d, counts %d %d %d", len(owner), a.count(), b.count(), cm.count())
	}
	// b leaves: a and c take its partitions.
	leave := b.req(leaveEpoch)
	leave.Topics = nil
	if r := b.send(leave); r.ErrorCode != 0 || r.MemberEpoch != leaveEpoch {
		t.Fatalf("leave: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	b.owned = nil
	converge(t, a, cm)
	if a.count()+cm.count() != 6 || a.count() != 3 {
		t.Fatalf("after leave: %d + %d", a.count(), cm.count())
	}
}

func TestConsumerGroupFencing(t *testing.T) {
	topics := &topicsFixture{}
	topics.add("t", 2)
	c := newConsumerCoordinator(t, NewMemStore(), topics, nil)
	a := newCMember(t, c, "g", "a", "t")
	a.join()
	code := func(r *kmsg.ConsumerGroupHeartbeatResponse) *kerr.Error {
		return kerr.TypedErrorForCode(r.ErrorCode)
	}
	for _, tc := range []struct {
		name string
		mod  func(r *kmsg.ConsumerGroupHeartbeatRequest)
		want *kerr.Error
	}{
		{"epoch ahead", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 5 }, kerr.FencedMemberEpoch},
		{"v1 join without member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch, r.MemberID = 0, "" }, kerr.InvalidRequest},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "nobody" }, kerr.UnknownMemberID},
		{"unknown group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "other" }, kerr.UnknownMemberID},
		{"join with owned partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 0 }, kerr.InvalidRequest},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.MemberEpoch, r.Topics, r.SubscribedTopicNames = 0, []kmsg.ConsumerGroupHeartbeatRequestTopic{}, nil
		}, kerr.InvalidRequest},
		{"bad epoch", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest},
		{"static leave without instance", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { s := "sticky"; r.ServerAssignor = &s }, kerr.UnsupportedAssignor},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) { s := "(["; r.SubscribedTopicRegex = &s }, kerr.InvalidRegularExpression},
		{"leave unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "nobody", -1 }, kerr.UnknownMemberID},
	} {
		r := a.req(a.epoch)
		tc.mod(r)
		resp := c.ConsumerGroupHeartbeat(context.Background(), r, Client{})
		if got := code(resp); got != tc.want {
			t.Errorf("%s: got %v (%s), want %v", tc.name, got, strOrEmpty(resp.ErrorMessage), tc.want)
		}
	}
	// An older epoch is accepted only as the previous epoch with owned ⊆ assigned.
	b := newCMember(t, c, "g", "b", "t")
	b.join()
	converge(t, a, b)
	prev := a.epoch
	topics.add("u", 1) // a new topic nobody subscribes to: no epoch change
	a.heartbeat()
	if a.epoch != prev {
		t.Fatalf("unsubscribed topic moved the epoch")
	}
	a.topics = []string{"t", "u"}
	a.heartbeat() // subscription change: new epoch
	converge(t, a, b)
	if a.epoch == prev {
		t.Fatalf("subscription change did not move a's epoch")
	}
	r := a.req(prev) // the response of the last epoch bump was "lost"
	if resp := c.ConsumerGroupHeartbeat(context.Background(), r, Client{}); resp.ErrorCode != 0 {
		t.Fatalf("previous epoch with owned ⊆ assigned: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	r = a.req(prev - 1)
	if resp := c.ConsumerGroupHeartbeat(context.Background(), r, Client{}); code(resp) != kerr.FencedMemberEpoch {
		t.Fatalf("older epoch: %v, want FENCED_MEMBER_EPOCH", kerr.ErrorForCode(resp.ErrorCode))
	}
}

func TestConsumerGroupStaticMembership(t *testing.T) {
	topics := &topicsFixture{}
	topics.add("t", 4)
	c := newConsumerCoordinator(t, NewMemStore(), topics, nil)
	a := &cmemberT{t: t, c: c, group: "g", id: "a1", instance: "host-a", topics: []string{"t"}}
	b := &cmemberT{t: t, c: c, group: "g", id: "b1", instance: "host-b", topics: []string{"t"}}
	a.join()
	b.join()
	converge(t, a, b)
	aOwned := a.owned
	epoch := a.epoch
	// Another process with a's instance id while a is active: UNRELEASED_INSTANCE_ID.
	a2 := &cmemberT{t: t, c: c, group: "g", id: "a2", instance: "host-a", topics: []string{"t"}}
	if r := a2.send(a2.req(0)); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("second instance: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// a leaves temporarily (-2): its partitions stay its own, b does not get them.
	l := a.req(leaveStaticEpoch)
	l.Topics = nil
	if r := a.send(l); r.ErrorCode != 0 || r.MemberEpoch != leaveStaticEpoch {
		t.Fatalf("static leave: %v %d", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	b.heartbeat()
	if b.count() != 2 {
		t.Fatalf("b took partitions of a temporarily absent static member: %d", b.count())
	}
	// a restarts with a new member id and the same instance id: it gets its partitions back
	// at its epoch, without a rebalance.
	a2.join()
	if !mapsEqual(a2.owned, aOwned) || a2.epoch != epoch {
		t.Fatalf("rejoined static member: %v at %d, want %v at %d", a2.owned, a2.epoch, aOwned, epoch)
	}
	// The old member id is gone.
	if r := a.send(a.req(epoch)); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("old static member id: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// The old member id with the instance id is fenced.
	old := a.req(epoch)
	old.MemberID = "b1"
	if r := c.ConsumerGroupHeartbeat(context.Background(), old, Client{}); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("instance id of another member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// A static leave with -1 removes the member: b gets everything.
	l = a2.req(leaveEpoch)
	l.Topics = nil
	if r := a2.send(l); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	a2.owned = nil
	converge(t, b)
	if b.count() != 4 {
		t.Fatalf("after static member left for good b has %d", b.count())
	}
}

func mapsEqual(a, b map[[16]byte][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestConsumerGroupRegexSubscription(t *testing.T) {
	synctest.Test(t, testConsumerGroupRegexSubscription)
}

func testConsumerGroupRegexSubscription(t *testing.T) {
	topics := &topicsFixture{}
	ordersID := topics.add("orders.eu", 2)
	topics.add("payments", 2)
	topics.add("__consumer_offsets", 50)
	c := newConsumerCoordinator(t, NewMemStore(), topics, nil)
	a := &cmemberT{t: t, c: c, group: "g", id: "a", regex: "orders\\..*|__.*"}
	a.join()
	if a.count() != 2 || len(a.owned[ordersID]) != 2 {
		t.Fatalf("regex assignment: %v", a.owned)
	}
	// A new matching topic is picked up on a later heartbeat (full-name match: "xorders.us" is not).
	usID := topics.add("orders.us", 3)
	topics.add("xorders.us", 3)
	a.heartbeat() // within subscriptionRefresh of the last resolution: not seen yet
	if a.count() != 2 {
		t.Fatalf("topic seen before the refresh interval: %v", a.owned)
	}
	time.Sleep(subscriptionRefresh)
	a.heartbeat()
	if a.count() != 5 || len(a.owned[usID]) != 3 {
		t.Fatalf("after new topic: %v", a.owned)
	}
	d := c.ConsumerGroupDescribe(context.Background(), &kmsg.ConsumerGroupDescribeRequest{Version: 1, Groups: []string{"g"}})
	m := d.Groups[0].Members[0]
	if m.SubscribedTopicRegex == nil || *m.SubscribedTopicRegex != a.regex || len(m.Assignment.TopicPartitions) != 2 || m.MemberType != 1 {
		t.Fatalf("describe: %+v", m)
	}
	names := []string{m.Assignment.TopicPartitions[0].Topic, m.Assignment.TopicPartitions[1].Topic}
	slices.Sort(names)
	if !slices.Equal(names, []string{"orders.eu", "orders.us"}) {
		t.Fatalf("describe topic names %v", names)
	}
}

func TestConsumerGroupSessionAndRebalanceTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		topics := &topicsFixture{}
		topics.add("t", 2)
		c := newConsumerCoordinator(t, NewMemStore(), topics, func(cfg *Config) { cfg.ConsumerSessionTimeout = 3 * time.Second })
		a := newCMember(t, c, "g", "a", "t")
		b := newCMember(t, c, "g", "b", "t")
		a.join()
		b.join()
		// a never heartbeats again (killed): after the session timeout its partitions go to b.
		for i := 0; i < 5; i++ {
			time.Sleep(time.Second)
			b.heartbeat()
		}
		if b.count() != 2 {
			t.Fatalf("b has %d partitions after a's session expired", b.count())
		}
		if r := a.send(a.req(a.epoch)); r.ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("expired member: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		// A member that does not revoke within its rebalance timeout (5s) is fenced.
		a.join()
		for i := 0; i < 8; i++ {
			time.Sleep(time.Second)
			a.heartbeat()
			b.send(b.req(b.epoch)) // keeps its session but never confirms the revocation:
			if len(b.owned) > 0 {  // it keeps reporting the partitions it was told to give up
				b.owned = map[[16]byte][]int32{topics.ts[0].ID: {0, 1}}
			}
		}
		if r := b.send(b.req(b.epoch)); r.ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("member that did not revoke: %v, want UNKNOWN_MEMBER_ID (fenced)", kerr.ErrorForCode(r.ErrorCode))
		}
		a.heartbeat()
		if a.count() != 2 {
			t.Fatalf("a has %d after b was fenced", a.count())
		}
	})
}

func TestConsumerGroupDurable(t *testing.T) {
	dir := t.TempDir()
	topics := &topicsFixture{}
	tid := topics.add("t", 4)
	open := func() (*Coordinator, *FileStore) {
		s, err := OpenFileStore(FileConfig{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return newConsumerCoordinator(t, s, topics, nil), s
	}
	c, s := open()
	a := newCMember(t, c, "g", "a", "t")
	b := newCMember(t, c, "g", "b", "t")
	a.join()
	b.join()
	converge(t, a, b)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.MemberID, commit.Generation = 9, "g", "a", a.epoch
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "t"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 0, 42
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	if r := c.OffsetCommit(context.Background(), commit); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	epoch := a.epoch
	c.stop()
	s.Close()

	c, s = open()
	defer s.Close()
	// The members resume at their epochs with their partitions.
	a.c, b.c = c, c
	a.heartbeat()
	b.heartbeat()
	if a.epoch != epoch || a.count()+b.count() != 4 {
		t.Fatalf("after restart: epoch %d (want %d), partitions %d+%d", a.epoch, epoch, a.count(), b.count())
	}
	checkExclusive(t, a, b)
	d, ok := c.Describe("g")
	if !ok || d.Type != "consumer" || d.Offsets["t"][0].Offset != 42 || len(d.Members) != 2 {
		t.Fatalf("restored group: %+v", d)
	}
	_ = tid
}

func TestConsumerGroupOffsetsValidation(t *testing.T) {
	topics := &topicsFixture{}
	topics.add("t", 1)
	c := newConsumerCoordinator(t, NewMemStore(), topics, nil)
	a := newCMember(t, c, "g", "a", "t")
	a.join()
	commit := func(version int16, member string, epoch int32) int16 {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version, r.Group, r.MemberID, r.Generation = version, "g", member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 7
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return c.OffsetCommit(context.Background(), r).Topics[0].Partitions[0].ErrorCode
	}
	fetch := func(member *string, epoch int32) int16 {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 9
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group, g.MemberID, g.MemberEpoch = "g", member, epoch
		r.Groups = append(r.Groups, g)
		return c.OffsetFetch(context.Background(), r).Groups[0].ErrorCode
	}
	id, other := "a", "zz"
	for _, tc := range []struct {
		name string
		got  int16
		want *kerr.Error
	}{
		{"commit current epoch", commit(9, "a", a.epoch), nil},
		{"commit stale epoch", commit(9, "a", a.epoch-1), kerr.StaleMemberEpoch},
		{"commit unknown member", commit(9, "zz", a.epoch), kerr.UnknownMemberID},
		{"commit -1 to a group with members", commit(9, "", -1), kerr.UnknownMemberID},
		{"commit v8 by a consumer member", commit(8, "a", a.epoch), kerr.UnsupportedVersion},
		{"fetch as admin", fetch(nil, -1), nil},
		{"fetch current epoch", fetch(&id, a.epoch), nil},
		{"fetch stale epoch", fetch(&id, a.epoch+1), kerr.StaleMemberEpoch},
		{"fetch unknown member", fetch(&other, 1), kerr.UnknownMemberID},
	} {
		if got := kerr.TypedErrorForCode(tc.got); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// KIP-1251: after an epoch bump, a commit at the older epoch is accepted for partitions
	// the member has owned since then, refused for others.
	tp2 := topics.add("t2", 1)
	old := a.epoch
	a.topics = []string{"t", "t2"}
	a.heartbeat()
	a.heartbeat()
	if a.epoch == old || len(a.owned[tp2]) != 1 {
		t.Fatalf("no epoch bump: %d %v", a.epoch, a.owned)
	}
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.MemberID, r.Generation = 9, "g", "a", old
	r.Topics = []kmsg.OffsetCommitRequestTopic{
		{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 8, LeaderEpoch: -1}}},
		{Topic: "t2", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 8, LeaderEpoch: -1}}},
	}
	resp := c.OffsetCommit(context.Background(), r)
	if got := resp.Topics[0].Partitions[0].ErrorCode; got != 0 {
		t.Errorf("older-epoch commit of a partition owned since then: %v", kerr.ErrorForCode(got))
	}
	if got := resp.Topics[1].Partitions[0].ErrorCode; got != kerr.StaleMemberEpoch.Code {
		t.Errorf("older-epoch commit of a partition assigned later: %v", kerr.ErrorForCode(got))
	}
	if d, _ := c.Describe("g"); d.Offsets["t"][0].Offset != 8 || len(d.Offsets["t2"]) != 0 {
		t.Errorf("offsets after partial commit: %v", d.Offsets)
	}
	// The group empty: an admin commit (-1) succeeds.
	l := a.req(leaveEpoch)
	if r := a.send(l); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	if code := commit(9, "", -1); code != 0 {
		t.Fatalf("admin commit to empty consumer group: %v", kerr.ErrorForCode(code))
	}
}

func TestConsumerGroupUpgradeDowngrade(t *testing.T) {
	topics := &topicsFixture{}
	topics.add("t", 2)
	store := NewMemStore()
	c := newConsumerCoordinator(t, store, topics, nil)
	ctx := context.Background()
	// A classic group with committed offsets and a generation, now empty.
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.Generation = 9, "g", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 5
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	c.OffsetCommit(ctx, r)

	listTypes := func(types ...string) []kmsg.ListGroupsResponseGroup {
		return c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5, TypesFilter: types}).Groups
	}
	if gs := listTypes("classic"); len(gs) != 1 || gs[0].GroupType != "classic" {
		t.Fatalf("classic group listed as %+v", gs)
	}
	// A classic member joins: a consumer member cannot upgrade the non-empty group.
	jr := joinReq("g", joinOpts{version: 3, protocols: []string{"range"}, metadata: consumerMeta("t"), session: time.Minute})
	done := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { done <- c.JoinGroup(ctx, jr, Client{ID: "classic"}) }()
	jresp := <-done
	if jresp.ErrorCode != 0 {
		t.Fatalf("classic join: %v", kerr.ErrorForCode(jresp.ErrorCode))
	}
	a := newCMember(t, c, "g", "a", "t")
	if resp := a.send(a.req(0)); resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("848 join of a non-empty classic group: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	lg := kmsg.NewPtrLeaveGroupRequest()
	lg.Version, lg.Group = 3, "g"
	lg.Members = []kmsg.LeaveGroupRequestMember{{MemberID: jresp.MemberID}}
	if resp := c.LeaveGroup(ctx, lg); resp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(resp.ErrorCode))
	}
	// Empty now: the 848 member converts the group; offsets stay.
	a.join()
	if a.count() != 2 {
		t.Fatalf("upgraded group assignment: %v", a.owned)
	}
	if gs := listTypes("consumer"); len(gs) != 1 || gs[0].GroupType != "consumer" || gs[0].ProtocolType != "consumer" {
		t.Fatalf("consumer group listed as %+v", gs)
	}
	if gs := listTypes("classic"); len(gs) != 0 {
		t.Fatalf("consumer group listed as classic: %+v", gs)
	}
	dg := c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"g"}})
	if dg.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups v6 of a consumer group: %v", kerr.ErrorForCode(dg.Groups[0].ErrorCode))
	}
	if d, _ := c.Describe("g"); d.Offsets["t"][0].Offset != 5 {
		t.Fatalf("offsets lost in the upgrade: %v", d.Offsets)
	}
	// A classic join while an 848 member is in: it joins as a classic member; it leaves.
	go func() { done <- c.JoinGroup(ctx, jr, Client{ID: "classic"}) }()
	cj := <-done
	if cj.ErrorCode != 0 || cj.LeaderID != "" {
		t.Fatalf("classic join of a consumer group with members: %v, leader %q", kerr.ErrorForCode(cj.ErrorCode), cj.LeaderID)
	}
	lg.Members = []kmsg.LeaveGroupRequestMember{{MemberID: cj.MemberID}}
	if resp := c.LeaveGroup(ctx, lg); resp.ErrorCode != 0 || resp.Members[0].ErrorCode != 0 {
		t.Fatalf("classic member leaving the consumer group: %+v", resp)
	}
	if del := c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Groups: []string{"g"}}); del.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete of a consumer group with members: %v", kerr.ErrorForCode(del.Groups[0].ErrorCode))
	}
	// The last 848 member leaves: a classic member converts it back (downgrade).
	if resp := a.send(a.req(leaveEpoch)); resp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(resp.ErrorCode))
	}
	go func() { done <- c.JoinGroup(ctx, jr, Client{ID: "classic"}) }()
	if resp := <-done; resp.ErrorCode != 0 || resp.Generation <= 1 {
		t.Fatalf("classic join after downgrade: %v generation %d", kerr.ErrorForCode(resp.ErrorCode), resp.Generation)
	}
	if gs := listTypes("classic"); len(gs) != 1 {
		t.Fatalf("downgraded group not classic: %+v", listTypes())
	}
	if d, _ := c.Describe("g"); d.Offsets["t"][0].Offset != 5 {
		t.Fatalf("offsets lost in the downgrade: %v", d.Offsets)
	}
	// The downgrade is durable: a restart sees a classic group.
	c.stop()
	c2 := newConsumerCoordinator(t, store, topics, nil)
	if d, ok := c2.Describe("g"); !ok || d.Type != "classic" {
		t.Fatalf("after restart: %+v", d)
	}
}

func TestAssignors(t *testing.T) {
	t1 := TopicInfo{Name: "a", ID: [16]byte{1}, Partitions: 7}
	t2 := TopicInfo{Name: "b", ID: [16]byte{2}, Partitions: 3}
	members := func(n int, prev map[string]assignment, topics ...TopicInfo) []assignMember {
		var out []assignMember
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("m%d", i)
			out = append(out, assignMember{id: id, sortBy: id, topics: topics, prev: prev[id]})
		}
		return out
	}
	check := func(name string, got map[string]assignment, total, minEach, maxEach int) {
		t.Helper()
		seen := map[topicPart]bool{}
		for id, a := range got {
			if a.size() < minEach || a.size() > maxEach {
				t.Errorf("%s: %s has %d partitions, want %d..%d", name, id, a.size(), minEach, maxEach)
			}
			a.each(func(tp topicPart) {
				if seen[tp] {
					t.Errorf("%s: %v assigned twice", name, tp)
				}
				seen[tp] = true
			})
		}
		if len(seen) != total {
			t.Errorf("%s: %d partitions assigned, want %d", name, len(seen), total)
		}
	}
	u := assignUniform(members(3, nil, t1, t2))
	check("uniform 10/3", u, 10, 3, 4)
	// Sticky: a fourth member takes partitions from the others; nothing else moves.
	u4 := assignUniform(append(members(3, u, t1, t2), assignMember{id: "m9", sortBy: "m9", topics: []TopicInfo{t1, t2}}))
	check("uniform 10/4", u4, 10, 2, 3)
	moved := 0
	for _, id := range []string{"m0", "m1", "m2"} {
		moved += u[id].minus(u4[id]).size()
	}
	if moved != u4["m9"].size() {
		t.Errorf("uniform moved %d partitions, the new member got %d", moved, u4["m9"].size())
	}
	// Heterogeneous: m0 on a only, m1 on a and b.
	h := assignUniform([]assignMember{{id: "m0", topics: []TopicInfo{t1}}, {id: "m1", topics: []TopicInfo{t1, t2}}})
	check("uniform heterogeneous", h, 10, 5, 5)
	if h["m0"].intersects(assignment{t2.ID: {0, 1, 2}}) {
		t.Errorf("uniform gave an unsubscribed topic")
	}
	r := assignRange(members(3, nil, t1, t2))
	check("range", r, 10, 3, 4)
	if !slices.Equal(r["m0"][t1.ID], []int32{0, 1, 2}) || !slices.Equal(r["m0"][t2.ID], []int32{0}) || !slices.Equal(r["m2"][t1.ID], []int32{5, 6}) {
		t.Errorf("range: %v", r)
	}
	if got := assignUniform(nil); len(got) != 0 {
		t.Errorf("no members: %v", got)
	}
}

func TestConsumerRecordRoundTrip(t *testing.T) {
	rec := Record{Kind: KindConsumerGroup, Group: "g", Consumer: &ConsumerMeta{Epoch: 7, AssignmentEpoch: 6, StateTime: 123, SubscriptionKey: 99,
		Members: []ConsumerMemberMeta{{MemberID: "m", InstanceID: "i", RackID: "r", ClientID: "c", ClientHost: "/h", MemberEpoch: 6, PreviousEpoch: 5,
			State: memberUnrevoked, RebalanceTimeout: 3000, ServerAssignor: "range", Regex: "x.*", Topics: []string{"a", "b"},
			Assigned: map[[16]byte][]int32{{1}: {0, 2}}, Revoking: map[[16]byte][]int32{{1}: {1}}, Target: map[[16]byte][]int32{{1}: {0}, {2}: {3}}},
			{MemberID: "c", Classic: &ClassicMemberMeta{SessionTimeout: 10000, Protocol: "range", Protocols: []ClassicProtocolMeta{{Name: "range", Metadata: []byte{0, 1}}}}}}}}
	b := appendRecord(nil, 11, rec)
	seq, got, err := decodeRecord(b)
	if err != nil || seq != 11 {
		t.Fatal(seq, err)
	}
	gc, wc := *got.Consumer.Members[1].Classic, *rec.Consumer.Members[1].Classic
	got.Consumer.Members[1].Classic, rec.Consumer.Members[1].Classic = nil, nil
	if fmt.Sprintf("%+v %+v", *got.Consumer, gc) != fmt.Sprintf("%+v %+v", *rec.Consumer, wc) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got.Consumer, *rec.Consumer)
	}
	for n := 0; n < len(b); n++ {
		if _, _, err := decodeRecord(b[:n]); err == nil {
			t.Fatalf("truncated record of %d bytes decoded", n)
		}
	}
}

func TestConsumerGroupFailedJoinLeavesNoGroup(t *testing.T) {
	topics := &topicsFixture{}
	topics.add("t", 1)
	c := newConsumerCoordinator(t, NewMemStore(), topics, func(cfg *Config) { cfg.ConsumerMaxSize = 1 })
	a := newCMember(t, c, "g", "a", "t")
	a.join()
	b := newCMember(t, c, "g", "b", "t")
	if r := b.send(b.req(0)); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("second member of a group of max 1: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// A join that fails on a new group does not leave an empty group behind.
	x := &cmemberT{t: t, c: c, group: "other", id: "x", instance: "i", topics: []string{"t"}}
	y := &cmemberT{t: t, c: c, group: "other", id: "y", instance: "i", topics: []string{"t"}}
	x.join()
	if r := y.send(y.req(0)); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("%v", kerr.ErrorForCode(r.ErrorCode))
	}
	if got := c.Groups(); !slices.Equal(got, []string{"g", "other"}) {
		t.Fatalf("groups %v", got)
	}
	c.cfg.ConsumerMaxSize = 0
	bad := newCMember(t, c, "ghost", "z", "t")
	bad.assignor = "nope"
	if r := bad.send(bad.req(0)); r.ErrorCode != kerr.UnsupportedAssignor.Code {
		t.Fatalf("%v", kerr.ErrorForCode(r.ErrorCode))
	}
	c.cfg.ConsumerMaxSize = 1
	z := newCMember(t, c, "g", "z", "t") // full group: refused, and "g" stays
	z.send(z.req(0))
	if got := c.Groups(); !slices.Equal(got, []string{"g", "other"}) {
		t.Fatalf("groups after failed joins %v", got)
	}
}

// BenchmarkConsumerHeartbeat measures a steady-state heartbeat (no change) of one member
// of a 100-member group subscribed to 1,000 topics of 4 partitions.
func BenchmarkConsumerHeartbeat(b *testing.B) {
	topics := &topicsFixture{}
	var names []string
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("topic-%04d", i)
		id := [16]byte{byte(i >> 8), byte(i), 0xCD}
		topics.ts = append(topics.ts, TopicInfo{Name: name, ID: id, Partitions: 4})
		names = append(names, name)
	}
	t := &testing.T{}
	c, err := New(Config{Topics: topics.list, ConsumerSessionTimeout: time.Hour}, NewMemStore(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.stop()
	var ms []*cmemberT
	for i := 0; i < 100; i++ {
		m := &cmemberT{t: t, c: c, group: "g", id: fmt.Sprintf("m%03d", i), topics: names}
		m.send(m.req(0))
		ms = append(ms, m)
	}
	for round := 0; round < 5; round++ {
		for _, m := range ms {
			m.send(m.req(m.epoch))
		}
	}
	m := ms[0]
	req := m.req(m.epoch)
	req.Topics, req.SubscribedTopicNames, req.ServerAssignor = nil, nil, nil
	req.RebalanceTimeoutMillis = -1
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.ConsumerGroupHeartbeat(context.Background(), req, Client{ID: "client-" + m.id, Host: "/127.0.0.1"}); r.ErrorCode != 0 {
			b.Fatal(kerr.ErrorForCode(r.ErrorCode))
		}
	}
}

// BenchmarkAssignUniform: a target assignment of 4,000 partitions (1,000 topics) over
// 100 members, sticky to the previous one with one member more.
func BenchmarkAssignUniform(b *testing.B) {
	var ts []TopicInfo
	for i := 0; i < 1000; i++ {
		ts = append(ts, TopicInfo{Name: fmt.Sprintf("topic-%04d", i), ID: [16]byte{byte(i >> 8), byte(i)}, Partitions: 4})
	}
	var ms []assignMember
	for i := 0; i < 99; i++ {
		id := fmt.Sprintf("m%03d", i)
		ms = append(ms, assignMember{id: id, sortBy: id, topics: ts})
	}
	prev := assignUniform(ms)
	for i := range ms {
		ms[i].prev = prev[ms[i].id]
	}
	ms = append(ms, assignMember{id: "m999", sortBy: "m999", topics: ts})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		assignUniform(ms)
	}
}

func TestConsumerGroupRegexHonoursDescribeACL(t *testing.T) {
	topics := &topicsFixture{}
	allowed := topics.add("orders.eu", 2)
	topics.add("orders.secret", 2)
	c := newConsumerCoordinator(t, NewMemStore(), topics, nil)
	req := (&cmemberT{group: "g", id: "a", regex: "orders\\..*"}).req(0)
	client := Client{ID: "c", Host: "/h", AuthKey: "User:alice@h", DescribeTopic: func(topic string) bool { return topic == "orders.eu" }}
	resp := c.ConsumerGroupHeartbeat(context.Background(), req, client)
	if resp.ErrorCode != 0 || resp.Assignment == nil || len(resp.Assignment.Topics) != 1 || resp.Assignment.Topics[0].TopicID != allowed {
		t.Fatalf("regex with a describe filter: %v %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Assignment)
	}
}

func TestConsumerGroupMetrics(t *testing.T) {
	topics := &topicsFixture{}
	topics.add("t", 2)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	store := NewMemStore()
	c := newConsumerCoordinator(t, store, topics, func(cfg *Config) { cfg.Metrics = m })
	gauge := func(vec *prometheus.GaugeVec, state string) float64 {
		return testutil.ToFloat64(vec.WithLabelValues(state))
	}
	check := func(what string, classicEmpty, stable, empty float64) {
		t.Helper()
		if a, b, c := gauge(m.groups, "Empty"), gauge(m.consumer, "Stable"), gauge(m.consumer, "Empty"); a != classicEmpty || b != stable || c != empty {
			t.Fatalf("%s: classic Empty %v, consumer Stable %v, consumer Empty %v; want %v %v %v", what, a, b, c, classicEmpty, stable, empty)
		}
	}
	a := newCMember(t, c, "g", "a", "t")
	a.join()
	check("joined", 0, 1, 0)
	a.send(a.req(leaveEpoch))
	check("left", 0, 0, 1)
	c.stop()
	m2 := NewMetrics(prometheus.NewRegistry())
	m = m2
	newConsumerCoordinator(t, store, topics, func(cfg *Config) { cfg.Metrics = m2 })
	check("reloaded", 0, 0, 1)
}

// classicT is a scripted cooperative classic member (JoinGroup v5 with owned partitions).
type classicT struct {
	t     *testing.T
	c     *Coordinator
	id    string
	gen   int32
	owned []int32 // partitions of topic "t"
}

func (m *classicT) joinReq() *kmsg.JoinGroupRequest {
	md := kmsg.NewConsumerMemberMetadata()
	md.Version, md.Topics = 1, []string{"t"}
	if len(m.owned) > 0 {
		md.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "t", Partitions: slices.Clone(m.owned)}}
	}
	return joinReq("g", joinOpts{version: 5, memberID: m.id, protocols: []string{"cooperative-sticky"}, metadata: md.AppendTo(nil)})
}

// rejoin joins and syncs once; it returns the sync's assignment.
func (m *classicT) rejoin() {
	m.t.Helper()
	j := m.c.JoinGroup(context.Background(), m.joinReq(), Client{ID: "classic"})
	if j.ErrorCode != 0 {
		m.t.Fatalf("classic %s join: %v", m.id, kerr.ErrorForCode(j.ErrorCode))
	}
	m.id, m.gen = j.MemberID, j.Generation
	s := m.c.SyncGroup(context.Background(), syncReq("g", m.id, m.gen, nil))
	if s.ErrorCode != 0 {
		m.t.Fatalf("classic %s sync: %v", m.id, kerr.ErrorForCode(s.ErrorCode))
	}
	m.setAssignment(s.MemberAssignment)
}

func (m *classicT) setAssignment(b []byte) {
	var as kmsg.ConsumerMemberAssignment
	if err := as.ReadFrom(b); err != nil {
		m.t.Fatal(err)
	}
	m.owned = nil
	for _, t := range as.Topics {
		m.owned = append(m.owned, t.Partitions...)
	}
	slices.Sort(m.owned)
}

func TestConsumerGroupOnlineMigration(t *testing.T) {
	topics := &topicsFixture{}
	tid := topics.add("t", 4)
	store := NewMemStore()
	c := newConsumerCoordinator(t, store, topics, nil)
	ctx := context.Background()
	c1, c2 := stableClassic(t, c)
	exclusive := func(a *cmemberT) {
		t.Helper()
		seen := map[int32]string{}
		for _, x := range []struct {
			who string
			ps  []int32
		}{{"c1", c1.owned}, {"c2", c2.owned}, {"a", a.owned[tid]}} {
			for _, p := range x.ps {
				if o, ok := seen[p]; ok {
					t.Fatalf("partition %d owned by %s and %s", p, o, x.who)
				}
				seen[p] = x.who
			}
		}
	}

	// A KIP-848 member joins: the group is upgraded online, the classic members keep theirs.
	a := newCMember(t, c, "g", "a", "t")
	a.join()
	exclusive(a)
	d := c.ConsumerGroupDescribe(ctx, &kmsg.ConsumerGroupDescribeRequest{Version: 1, Groups: []string{"g"}}).Groups[0]
	classicCount := 0
	for _, m := range d.Members {
		if m.MemberType == 0 {
			classicCount++
		}
	}
	if d.ErrorCode != 0 || len(d.Members) != 3 || classicCount != 2 {
		t.Fatalf("after the upgrade: %v, %d members, %d classic", kerr.ErrorForCode(d.ErrorCode), len(d.Members), classicCount)
	}
	// The classic members are told to rejoin; they reconcile (revoking first) until a gets
	// its share. Heartbeats stay exclusive all along.
	for round := 0; round < 10 && a.count() == 0; round++ {
		for _, m := range []*classicT{c1, c2} {
			switch code := heartbeat(c, "g", m.id, m.gen, ""); code {
			case 0:
			case kerr.RebalanceInProgress.Code:
				m.rejoin()
			default:
				t.Fatalf("classic heartbeat: %v", kerr.ErrorForCode(code))
			}
			exclusive(a)
		}
		a.heartbeat()
		exclusive(a)
	}
	if a.count() != 1 || len(c1.owned)+len(c2.owned) != 3 {
		t.Fatalf("after reconciliation: a %v, c1 %v, c2 %v", a.owned, c1.owned, c2.owned)
	}
	// A classic member commits with its generation (= its member epoch).
	if code := commit(c, "g", c1.id, c1.gen, "t", c1.owned[0], 9); code != 0 {
		t.Fatalf("classic commit: %v", kerr.ErrorForCode(code))
	}
	if code := commit(c, "g", c1.id, c1.gen-1, "t", c1.owned[0], 9); code != kerr.IllegalGeneration.Code {
		t.Fatalf("classic commit at an old generation: %v", kerr.ErrorForCode(code))
	}
	// Restart in the middle: the classic members are durable too.
	c.stop()
	c = newConsumerCoordinator(t, store, topics, nil)
	c1.c, c2.c, a.c = c, c, c
	if code := heartbeat(c, "g", c1.id, c1.gen, ""); code != 0 {
		t.Fatalf("classic heartbeat after restart: %v", kerr.ErrorForCode(code))
	}
	// The KIP-848 member leaves: only classic members remain, the group is classic again and
	// rebalances.
	if r := a.send(a.req(leaveEpoch)); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	if gs := c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5}).Groups; len(gs) != 1 || gs[0].GroupType != "classic" || gs[0].GroupState != "PreparingRebalance" {
		t.Fatalf("after the downgrade: %+v", gs)
	}
	if code := heartbeat(c, "g", c1.id, c1.gen, ""); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("classic heartbeat after the downgrade: %v", kerr.ErrorForCode(code))
	}
}

// stableClassic makes a Stable classic group "g" of two cooperative members: c1 owns
// partitions 0,1 and c2 owns 2,3 of topic "t".
func stableClassic(t *testing.T, c *Coordinator) (c1, c2 *classicT) {
	t.Helper()
	ctx := context.Background()
	c1, c2 = &classicT{t: t, c: c}, &classicT{t: t, c: c}
	var wg sync.WaitGroup
	var j1, j2 *kmsg.JoinGroupResponse
	wg.Go(func() { j1 = join(t, c, "g", joinOpts{version: 5, protocols: []string{"cooperative-sticky"}}) })
	wg.Go(func() { j2 = join(t, c, "g", joinOpts{version: 5, protocols: []string{"cooperative-sticky"}}) })
	wg.Wait()
	c1.id, c1.gen, c2.id, c2.gen = j1.MemberID, j1.Generation, j2.MemberID, j2.Generation
	enc := func(ps ...int32) string {
		as := kmsg.NewConsumerMemberAssignment()
		as.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t", Partitions: ps}}
		return string(as.AppendTo(nil))
	}
	leader := j1
	if j2.MemberID == j2.LeaderID {
		leader = j2
	}
	assign := map[string]string{c1.id: enc(0, 1), c2.id: enc(2, 3)}
	wg.Go(func() {
		var a map[string]string
		if leader == j1 {
			a = assign
		}
		c1.setAssignment(c.SyncGroup(ctx, syncReq("g", c1.id, c1.gen, a)).MemberAssignment)
	})
	wg.Go(func() {
		var a map[string]string
		if leader == j2 {
			a = assign
		}
		c2.setAssignment(c.SyncGroup(ctx, syncReq("g", c2.id, c2.gen, a)).MemberAssignment)
	})
	wg.Wait()
	if state(c, "g") != Stable || !slices.Equal(c1.owned, []int32{0, 1}) {
		t.Fatalf("classic group: %v, c1 owns %v", state(c, "g"), c1.owned)
	}
	return c1, c2
}

func TestConsumerGroupMigrationPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy             string
		upgrade, downgrade bool
	}{{"disabled", false, false}, {"upgrade", true, false}, {"downgrade", false, true}} {
		t.Run(tc.policy, func(t *testing.T) {
			topics := &topicsFixture{}
			topics.add("t", 4)
			c := newConsumerCoordinator(t, NewMemStore(), topics, func(cfg *Config) { cfg.MigrationPolicy = tc.policy })
			c1, _ := stableClassic(t, c)
			a := newCMember(t, c, "g", "a", "t")
			r := a.send(a.req(0))
			if got := r.ErrorCode == 0; got != tc.upgrade {
				t.Fatalf("online upgrade under %s: %v", tc.policy, kerr.ErrorForCode(r.ErrorCode))
			}
			group := "g"
			if !tc.upgrade {
				// A consumer group that a classic member joins (allowed under any policy).
				group = "g2"
				a = newCMember(t, c, group, "a2", "t")
				a.join()
				j := c.JoinGroup(context.Background(), joinReq(group, joinOpts{version: 3}), Client{ID: "classic"})
				if j.ErrorCode != 0 {
					t.Fatalf("classic join of a consumer group: %v", kerr.ErrorForCode(j.ErrorCode))
				}
				c1 = &classicT{t: t, c: c, id: j.MemberID, gen: j.Generation}
			}
			a.send(a.req(leaveEpoch))
			d, _ := c.Describe(group)
			typ := d.Type
			if got := typ == "classic"; got != tc.downgrade {
				t.Fatalf("after the last KIP-848 member left under %s: %s group", tc.policy, typ)
			}
			// Either way the classic members keep working.
			if code := heartbeat(c, group, c1.id, c1.gen, ""); code != 0 && code != kerr.RebalanceInProgress.Code {
				t.Fatalf("classic heartbeat: %v", kerr.ErrorForCode(code))
			}
		})
	}
}
