package test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// KIP-848 groups driven by franz-go in its next-gen mode (kgo.ServerSideBalancer): the
// broker assigns partitions with its uniform (StickyBalancer) or range (RangeBalancer)
// assignor through ConsumerGroupHeartbeat.

// props848 makes members heartbeat often and a killed member expire quickly.
var props848 = map[string]string{
	"group.consumer.heartbeat.interval.ms": "250",
	"group.consumer.session.timeout.ms":    "6000",
}

// describe848 returns the group as ConsumerGroupDescribe shows it.
func describe848(t *testing.T, addr, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	cl := groupClient(t, addr)
	defer cl.Close()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0]
}

func TestGroup848ExactlyOnceAcrossLeaveAndKill(t *testing.T) {
	for _, tc := range []struct {
		name, assignor string
		bal            kgo.GroupBalancer
	}{{"uniform", "uniform", kgo.StickyBalancer()}, {"range", "range", kgo.RangeBalancer()}} {
		t.Run(tc.name, func(t *testing.T) {
			gb := startGroupBroker(t, t.TempDir(), props848)
			requireAPI(t, gb.addr(), kmsg.ConsumerGroupHeartbeat)
			const topic, group = "orders848", "workers848"
			groupCreateTopic(t, gb.addr(), topic, 6)
			produceKeyed(t, gb.addr(), topic, "a", 600, 6)

			s := newSeen()
			opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(tc.bal)}
			cs := []*groupConsumer{
				startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
				startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
				startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
			}
			waitFor(t, "3 members owning 2 partitions each, each partition once", 60*time.Second, func() bool {
				owned := map[int32]int{}
				for _, c := range cs {
					if len(c.partitions()) != 2 {
						return false
					}
					for _, p := range c.partitions() {
						owned[p]++
					}
				}
				return len(owned) == 6
			})
			d := describe848(t, gb.addr(), group)
			if d.ErrorCode != 0 || len(d.Members) != 3 || d.AssignorName != tc.assignor {
				t.Fatalf("ConsumerGroupDescribe: %v, %d members, assignor %q", kerr.ErrorForCode(d.ErrorCode), len(d.Members), d.AssignorName)
			}
			waitFor(t, "first 600 consumed and committed", 60*time.Second, func() bool {
				return s.distinct() == 600 && committedTotal(t, gb.addr(), group, topic) == 600
			})

			// One member leaves cleanly (epoch -1), another is killed (session timeout).
			cs[2].close()
			produceKeyed(t, gb.addr(), topic, "b", 600, 6)
			waitFor(t, "two members share 6 partitions after a leave", 60*time.Second, func() bool {
				return len(cs[0].partitions())+len(cs[1].partitions()) == 6
			})
			waitFor(t, "1200 consumed and committed", 60*time.Second, func() bool {
				return s.distinct() == 1200 && committedTotal(t, gb.addr(), group, topic) == 1200
			})
			cs[1].kill()
			produceKeyed(t, gb.addr(), topic, "c", 600, 6)
			waitFor(t, "the survivor takes over the killed member's partitions", 60*time.Second, func() bool {
				return len(cs[0].partitions()) == 6
			})
			waitFor(t, "1800 consumed and committed", 60*time.Second, func() bool {
				return s.distinct() == 1800 && committedTotal(t, gb.addr(), group, topic) == 1800
			})
			s.mu.Lock()
			for v, n := range s.m {
				if n != 1 {
					t.Errorf("%s consumed %d times", v, n)
				}
			}
			s.mu.Unlock()
			if d := describe848(t, gb.addr(), group); len(d.Members) != 1 || d.State != "Stable" {
				t.Fatalf("after leave and kill: %d members, state %s", len(d.Members), d.State)
			}
			// ListGroups v5 shows the group as a consumer group.
			cl := groupClient(t, gb.addr())
			defer cl.Close()
			lr := kmsg.NewPtrListGroupsRequest()
			lr.TypesFilter = []string{"consumer"}
			resp, err := lr.RequestWith(t.Context(), cl)
			if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupType != "consumer" {
				t.Fatalf("ListGroups types=consumer: %v %+v", err, resp)
			}
		})
	}
}

func TestGroup848RestartKeepsGroup(t *testing.T) {
	dir := t.TempDir()
	gb := startGroupBroker(t, dir, props848)
	const topic, group = "restart848", "restart848-group"
	groupCreateTopic(t, gb.addr(), topic, 3)
	produceKeyed(t, gb.addr(), topic, "a", 90, 3)
	s := newSeen()
	c := startGroupConsumer(t, gb.addr(), group, topic, s, kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()))
	waitFor(t, "90 consumed and committed", 60*time.Second, func() bool {
		return s.distinct() == 90 && committedTotal(t, gb.addr(), group, topic) == 90
	})
	c.close()
	before := describe848(t, gb.addr(), group)
	gb.restart()
	after := describe848(t, gb.addr(), group)
	if after.ErrorCode != 0 || after.Epoch != before.Epoch || after.State != "Empty" {
		t.Fatalf("after restart: %v epoch %d (before %d) state %s", kerr.ErrorForCode(after.ErrorCode), after.Epoch, before.Epoch, after.State)
	}
	produceKeyed(t, gb.addr(), topic, "b", 90, 3)
	c = startGroupConsumer(t, gb.addr(), group, topic, s, kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()))
	waitFor(t, "resumed at the committed offsets", 60*time.Second, func() bool {
		return s.distinct() == 180 && committedTotal(t, gb.addr(), group, topic) == 180
	})
	if s.total() != 180 {
		t.Fatalf("records consumed %d times in total, want 180 (resume at committed offsets)", s.total())
	}
	if d := describe848(t, gb.addr(), group); d.Epoch <= before.Epoch {
		t.Fatalf("epoch %d did not move on from %d", d.Epoch, before.Epoch)
	}
}

// TestGroup848RawFencing sends ConsumerGroupHeartbeat v0 and v1 over the wire and checks
// the error codes clients act on.
func TestGroup848RawFencing(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), props848)
	const topic, group = "raw848", "raw848-group"
	groupCreateTopic(t, gb.addr(), topic, 2)
	cl := groupClient(t, gb.addr())
	defer cl.Close()
	hb := func(version int16, member string, epoch int32, mod func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = version
		req.Group, req.MemberID, req.MemberEpoch = group, member, epoch
		req.RebalanceTimeoutMillis = 10000
		if epoch == 0 {
			req.SubscribedTopicNames = []string{topic}
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		if mod != nil {
			mod(req)
		}
		resp, err := req.RequestWith(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	j := hb(1, "member-a", 0, nil)
	if j.ErrorCode != 0 || j.MemberEpoch < 1 || j.Assignment == nil || len(j.Assignment.Topics) != 1 || len(j.Assignment.Topics[0].Partitions) != 2 || j.HeartbeatIntervalMillis != 250 {
		t.Fatalf("join v1: %v epoch %d assignment %+v interval %d", kerr.ErrorForCode(j.ErrorCode), j.MemberEpoch, j.Assignment, j.HeartbeatIntervalMillis)
	}
	// kgo sends the highest version both sides know: pin v0 with a client capped at it.
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(kmsg.ConsumerGroupHeartbeat.Int16(), 0)
	cl0 := groupClient(t, gb.addr(), kgo.MaxVersions(vs))
	defer cl0.Close()
	req0 := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req0.Group, req0.RebalanceTimeoutMillis, req0.SubscribedTopicNames = group, 10000, []string{topic}
	req0.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	v0, err := req0.RequestWith(t.Context(), cl0)
	if err != nil {
		t.Fatal(err)
	}
	if v0.ErrorCode != 0 || v0.MemberID == nil || *v0.MemberID == "" {
		t.Fatalf("join v0 without member id: %v %v", kerr.ErrorForCode(v0.ErrorCode), v0.MemberID)
	}
	for _, tc := range []struct {
		name string
		resp *kmsg.ConsumerGroupHeartbeatResponse
		want *kerr.Error
	}{
		{"epoch ahead", hb(1, "member-a", j.MemberEpoch+1, nil), kerr.FencedMemberEpoch},
		{"unknown member", hb(1, "member-x", 1, nil), kerr.UnknownMemberID},
		{"v1 without member id", hb(1, "", 0, nil), kerr.InvalidRequest},
		{"unsupported assignor", hb(1, "member-b", 0, func(r *kmsg.ConsumerGroupHeartbeatRequest) { s := "cooperative-sticky"; r.ServerAssignor = &s }), kerr.UnsupportedAssignor},
		{"invalid regex", hb(1, "member-b", 0, func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			s := "a(b"
			r.SubscribedTopicNames, r.SubscribedTopicRegex = nil, &s
		}), kerr.InvalidRegularExpression},
	} {
		if got := kerr.TypedErrorForCode(tc.resp.ErrorCode); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		} else if tc.resp.ErrorMessage == nil {
			t.Errorf("%s: no error message", tc.name)
		}
	}
	// OffsetCommit with an old member epoch: STALE_MEMBER_EPOCH.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.MemberID, commit.Generation = 9, group, "member-a", j.MemberEpoch-1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = topic
	// kgo sends the highest version both sides know whatever commit.Version says: from v10
	// the topic is named by its ID.
	mr := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mr.Topics = []kmsg.MetadataRequestTopic{mt}
	mresp, err := mr.RequestWith(t.Context(), cl)
	if err != nil || len(mresp.Topics) != 1 {
		t.Fatalf("metadata of %s: %v %+v", topic, err, mresp)
	}
	ct.TopicID = mresp.Topics[0].TopicID
	ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}
	commit.Topics = []kmsg.OffsetCommitRequestTopic{ct}
	cr, err := commit.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := cr.Topics[0].Partitions[0].ErrorCode; code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at an old epoch: %v", kerr.ErrorForCode(code))
	}
	// DescribeGroups v6 points at ConsumerGroupDescribe; leave ends the membership.
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{group}
	dr, err := dg.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if dr.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of a consumer group: %v", kerr.ErrorForCode(dr.Groups[0].ErrorCode))
	}
	if l := hb(1, "member-a", -1, nil); l.ErrorCode != 0 || l.MemberEpoch != -1 {
		t.Fatalf("leave: %v epoch %d", kerr.ErrorForCode(l.ErrorCode), l.MemberEpoch)
	}
	if r := hb(1, "member-a", j.MemberEpoch, nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after leave: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestGroup848OfflineUpgradeAndDowngrade: classic consumers commit and stop; KIP-848
// consumers of the same group id resume exactly at the commits (the empty classic group
// becomes a consumer group); they stop and classic consumers resume again (downgrade).
func TestGroup848OfflineUpgradeAndDowngrade(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), props848)
	const topic, group = "upgrade848", "upgrade848-group"
	groupCreateTopic(t, gb.addr(), topic, 4)
	s := newSeen()
	phase := func(prefix string, n int, opts ...kgo.Opt) {
		t.Helper()
		produceKeyed(t, gb.addr(), topic, prefix, n, 4)
		want := s.distinct() + n
		cs := []*groupConsumer{
			startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
			startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
		}
		waitFor(t, prefix+": all consumed and committed", 60*time.Second, func() bool {
			return s.distinct() == want && committedTotal(t, gb.addr(), group, topic) == int64(want)
		})
		for _, c := range cs {
			c.close()
		}
	}
	listType := func() string {
		cl := groupClient(t, gb.addr())
		defer cl.Close()
		resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(t.Context(), cl)
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("ListGroups: %v %+v", err, resp)
		}
		return resp.Groups[0].GroupType + "/" + resp.Groups[0].GroupState
	}
	classic := []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}
	next := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer())}
	phase("classic", 200, classic...)
	if got := listType(); got != "classic/Empty" {
		t.Fatalf("after classic consumers: %s", got)
	}
	phase("next", 200, next...)
	if got := listType(); got != "consumer/Empty" {
		t.Fatalf("after KIP-848 consumers: %s", got)
	}
	phase("classic-again", 200, classic...)
	if got := listType(); got != "classic/Empty" {
		t.Fatalf("after the downgrade: %s", got)
	}
	if s.total() != 600 {
		t.Fatalf("%d records consumed for 600 produced: not exactly once across the protocol changes", s.total())
	}
}

// TestGroup848RegexSubscription: franz-go sends its regex to the broker
// (SubscribedTopicRegex); a topic created later that matches is assigned too.
func TestGroup848RegexSubscription(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), props848)
	groupCreateTopic(t, gb.addr(), "rx-a", 2)
	groupCreateTopic(t, gb.addr(), "other", 2)
	produceKeyed(t, gb.addr(), "rx-a", "a", 20, 2)
	produceKeyed(t, gb.addr(), "other", "o", 20, 2)
	s := newSeen()
	cl := groupClient(t, gb.addr(), kgo.ConsumerGroup("rx-group"), kgo.ConsumeRegex(), kgo.ConsumeTopics("rx-.*"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(t.Context())
			if t.Context().Err() != nil || cl.Context().Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { s.add(r.Topic + "/" + string(r.Value)) })
		}
	}()
	waitFor(t, "rx-a consumed", 60*time.Second, func() bool { return s.distinct() == 20 })
	groupCreateTopic(t, gb.addr(), "rx-b", 3)
	produceKeyed(t, gb.addr(), "rx-b", "b", 30, 3)
	waitFor(t, "rx-b, created later, consumed", 60*time.Second, func() bool { return s.distinct() == 50 })
	d := describe848(t, gb.addr(), "rx-group")
	if len(d.Members) != 1 || d.Members[0].SubscribedTopicRegex == nil {
		t.Fatalf("member: %+v", d.Members)
	}
	for _, tp := range d.Members[0].Assignment.TopicPartitions {
		if tp.Topic == "other" {
			t.Fatalf("regex assigned %q", tp.Topic)
		}
	}
	s.mu.Lock()
	for v := range s.m {
		if v[:3] != "rx-" {
			t.Errorf("consumed %s", v)
		}
	}
	s.mu.Unlock()
	cl.Close()
	<-done
}

// TestGroup848RestartWithLiveMembers: the broker restarts under two active KIP-848
// members; they carry on with the same member ids and epoch (the group's members and
// assignments are durable), and every record is consumed once.
func TestGroup848RestartWithLiveMembers(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), props848)
	const topic, group = "live848", "live848-group"
	groupCreateTopic(t, gb.addr(), topic, 4)
	produceKeyed(t, gb.addr(), topic, "a", 200, 4)
	s := newSeen()
	opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer())}
	cs := []*groupConsumer{
		startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
		startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
	}
	waitFor(t, "two members with 2 partitions each", 60*time.Second, func() bool {
		return len(cs[0].partitions()) == 2 && len(cs[1].partitions()) == 2
	})
	waitFor(t, "200 consumed and committed", 60*time.Second, func() bool {
		return s.distinct() == 200 && committedTotal(t, gb.addr(), group, topic) == 200
	})
	before := describe848(t, gb.addr(), group)
	gb.restart()
	produceKeyed(t, gb.addr(), topic, "b", 200, 4)
	waitFor(t, "400 consumed and committed after the restart", 60*time.Second, func() bool {
		return s.distinct() == 400 && committedTotal(t, gb.addr(), group, topic) == 400
	})
	after := describe848(t, gb.addr(), group)
	ids := func(d kmsg.ConsumerGroupDescribeResponseGroup) []string {
		var out []string
		for _, m := range d.Members {
			out = append(out, m.MemberID)
		}
		return out
	}
	if after.Epoch != before.Epoch || len(after.Members) != 2 || ids(after)[0] != ids(before)[0] || ids(after)[1] != ids(before)[1] {
		t.Fatalf("after restart: epoch %d members %v; before: epoch %d members %v", after.Epoch, ids(after), before.Epoch, ids(before))
	}
	if s.total() != 400 {
		t.Fatalf("%d records consumed for 400", s.total())
	}
}

// TestGroup848OnlineUpgradeAndDowngrade: two classic cooperative-sticky consumers are
// running; a KIP-848 consumer joins the same group (online upgrade: the classic members
// stay, served by the consumer group), the partitions are shared by all three with none
// owned twice; the KIP-848 consumer leaves (online downgrade) and the classic ones carry
// on. Every record is consumed exactly once.
func TestGroup848OnlineUpgradeAndDowngrade(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), props848)
	const topic, group = "online848", "online848-group"
	groupCreateTopic(t, gb.addr(), topic, 6)
	produceKeyed(t, gb.addr(), topic, "a", 300, 6)
	s := newSeen()
	classic := []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}
	c1 := startGroupConsumer(t, gb.addr(), group, topic, s, classic...)
	c2 := startGroupConsumer(t, gb.addr(), group, topic, s, classic...)
	waitFor(t, "classic members share 6 partitions", 60*time.Second, func() bool {
		return len(c1.partitions())+len(c2.partitions()) == 6 && len(c1.partitions()) > 0 && len(c2.partitions()) > 0
	})
	waitFor(t, "300 consumed and committed", 60*time.Second, func() bool {
		return s.distinct() == 300 && committedTotal(t, gb.addr(), group, topic) == 300
	})
	n := startGroupConsumer(t, gb.addr(), group, topic, s, kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()))
	produceKeyed(t, gb.addr(), topic, "b", 300, 6)
	waitFor(t, "three members (two classic) own 2 partitions each, none twice", 60*time.Second, func() bool {
		owned := map[int32]int{}
		for _, c := range []*groupConsumer{c1, c2, n} {
			if len(c.partitions()) != 2 {
				return false
			}
			for _, p := range c.partitions() {
				owned[p]++
			}
		}
		return len(owned) == 6
	})
	d := describe848(t, gb.addr(), group)
	classicMembers := 0
	for _, m := range d.Members {
		if m.MemberType == 0 {
			classicMembers++
		}
	}
	if d.ErrorCode != 0 || len(d.Members) != 3 || classicMembers != 2 {
		t.Fatalf("mixed group: %v, %d members, %d classic", kerr.ErrorForCode(d.ErrorCode), len(d.Members), classicMembers)
	}
	waitFor(t, "600 consumed and committed", 60*time.Second, func() bool {
		return s.distinct() == 600 && committedTotal(t, gb.addr(), group, topic) == 600
	})
	n.close()
	produceKeyed(t, gb.addr(), topic, "c", 300, 6)
	waitFor(t, "the classic members own all 6 again", 60*time.Second, func() bool {
		return len(c1.partitions())+len(c2.partitions()) == 6
	})
	waitFor(t, "900 consumed and committed", 60*time.Second, func() bool {
		return s.distinct() == 900 && committedTotal(t, gb.addr(), group, topic) == 900
	})
	cl := groupClient(t, gb.addr())
	defer cl.Close()
	resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(t.Context(), cl)
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupType != "classic" {
		t.Fatalf("after the downgrade: %v %+v", err, resp)
	}
	s.mu.Lock()
	for v, k := range s.m {
		if k != 1 {
			t.Errorf("%s consumed %d times", v, k)
		}
	}
	s.mu.Unlock()
}
