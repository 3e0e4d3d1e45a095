package group

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTestCoordinator(t *testing.T, store OffsetStore, cfg Config) *Coordinator {
	t.Helper()
	if cfg.InitialRebalanceDelay == 0 {
		cfg.InitialRebalanceDelay = 100 * time.Millisecond
	}
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = time.Millisecond
	}
	c, err := New(cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

type joinOpts struct {
	version    int16
	memberID   string
	instance   string
	session    time.Duration
	rebalance  time.Duration
	protocols  []string
	metadata   []byte
	clientName string
}

func joinReq(group string, o joinOpts) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = o.version
	if r.Version == 0 {
		r.Version = 9
	}
	r.Group, r.MemberID = group, o.memberID
	if o.instance != "" {
		iid := o.instance
		r.InstanceID = &iid
	}
	if o.session == 0 {
		o.session = 10 * time.Second
	}
	if o.rebalance == 0 {
		o.rebalance = 5 * time.Second
	}
	r.SessionTimeoutMillis = int32(o.session / time.Millisecond)
	r.RebalanceTimeoutMillis = int32(o.rebalance / time.Millisecond)
	r.ProtocolType = "consumer"
	if len(o.protocols) == 0 {
		o.protocols = []string{"range"}
	}
	md := o.metadata
	if md == nil {
		md = consumerMeta("t")
	}
	for _, p := range o.protocols {
		r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: md})
	}
	return r
}

// join performs the full KIP-394 dance (MEMBER_ID_REQUIRED then rejoin) for dynamic
// members and returns the final JoinGroup response.
func join(t *testing.T, c *Coordinator, group string, o joinOpts) *kmsg.JoinGroupResponse {
	t.Helper()
	resp := c.JoinGroup(t.Context(), joinReq(group, o), Client{ID: "cli", Host: "/127.0.0.1"})
	if resp.ErrorCode == kerr.MemberIDRequired.Code {
		o.memberID = resp.MemberID
		resp = c.JoinGroup(t.Context(), joinReq(group, o), Client{ID: "cli", Host: "/127.0.0.1"})
	}
	return resp
}

func syncReq(group, member string, gen int32, assignments map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version, r.Group, r.MemberID, r.Generation = 5, group, member, gen
	for id, a := range assignments {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	return r
}

func heartbeat(c *Coordinator, group, member string, gen int32, instance string) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version, r.Group, r.MemberID, r.Generation = 4, group, member, gen
	if instance != "" {
		r.InstanceID = &instance
	}
	return c.Heartbeat(context.Background(), r).ErrorCode
}

func commit(c *Coordinator, group, member string, gen int32, topic string, part int32, off int64) int16 {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.MemberID, r.Generation = 9, group, member, gen
	md := "meta"
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: part, Offset: off, LeaderEpoch: 3, Metadata: &md}}}}
	return c.OffsetCommit(context.Background(), r).Topics[0].Partitions[0].ErrorCode
}

func fetchOffset(c *Coordinator, group, topic string, part int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 9
	r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{part}}}}}
	return c.OffsetFetch(context.Background(), r).Groups[0].Topics[0].Partitions[0]
}

func state(c *Coordinator, group string) State {
	d, ok := c.Describe(group)
	if !ok {
		return Dead
	}
	return d.State
}

// stableGroup brings n dynamic members to Stable and returns their join responses.
func stableGroup(t *testing.T, c *Coordinator, group string, opts ...joinOpts) []*kmsg.JoinGroupResponse {
	t.Helper()
	resps := make([]*kmsg.JoinGroupResponse, len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Go(func() { resps[i] = join(t, c, group, o) })
	}
	wg.Wait()
	var leader *kmsg.JoinGroupResponse
	for i, r := range resps {
		if r.ErrorCode != 0 {
			t.Fatalf("join %d: %v", i, kerr.ErrorForCode(r.ErrorCode))
		}
		if r.MemberID == r.LeaderID {
			leader = r
		}
	}
	if leader == nil {
		t.Fatal("no leader")
	}
	assign := map[string]string{}
	for _, m := range leader.Members {
		assign[m.MemberID] = "assignment-for-" + m.MemberID
	}
	syncs := make([]*kmsg.SyncGroupResponse, len(resps))
	for i, r := range resps {
		wg.Go(func() {
			var a map[string]string
			if r.MemberID == r.LeaderID {
				a = assign
			}
			syncs[i] = c.SyncGroup(t.Context(), syncReq(group, r.MemberID, r.Generation, a))
		})
	}
	wg.Wait()
	for i, s := range syncs {
		if s.ErrorCode != 0 || string(s.MemberAssignment) != "assignment-for-"+resps[i].MemberID {
			t.Fatalf("sync %d: %v %q", i, kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
		}
	}
	if st := state(c, group); st != Stable {
		t.Fatalf("state %v after sync", st)
	}
	return resps
}

func TestJoinSyncHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{InitialRebalanceDelay: 3 * time.Second})
		// v4+ dynamic first join: MEMBER_ID_REQUIRED with an id.
		r := c.JoinGroup(t.Context(), joinReq("g", joinOpts{}), Client{ID: "cli"})
		if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
			t.Fatalf("first join: %+v", r)
		}
		start := time.Now()
		resps := stableGroup(t, c, "g", joinOpts{}, joinOpts{}, joinOpts{})
		if waited := time.Since(start); waited < 3*time.Second {
			t.Fatalf("initial rebalance delay not applied: %v", waited)
		}
		for _, r := range resps {
			if r.Generation != 1 || *r.Protocol != "range" || r.LeaderID != resps[0].LeaderID {
				t.Fatalf("join response: %+v", r)
			}
			if r.MemberID == r.LeaderID && len(r.Members) != 3 {
				t.Fatalf("leader got %d members", len(r.Members))
			}
			if r.MemberID != r.LeaderID && len(r.Members) != 0 {
				t.Fatal("follower got members")
			}
			if code := heartbeat(c, "g", r.MemberID, 1, ""); code != 0 {
				t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
			}
		}
		f := func(member string, gen int32, want *kerr.Error) {
			t.Helper()
			if code := heartbeat(c, "g", member, gen, ""); code != want.Code {
				t.Fatalf("heartbeat(%s,%d) = %v, want %v", member, gen, kerr.ErrorForCode(code), want)
			}
		}
		f(resps[0].MemberID, 0, kerr.IllegalGeneration)
		f("nobody", 1, kerr.UnknownMemberID)
		d, _ := c.Describe("g")
		if len(d.Members) != 3 || d.Generation != 1 || d.Protocol != "range" {
			t.Fatalf("describe: %+v", d)
		}
	})
}

func TestSessionExpiryRebalances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		o := joinOpts{session: 6 * time.Second, rebalance: 10 * time.Second}
		resps := stableGroup(t, c, "g", o, o)
		alive, dead := resps[0], resps[1]
		// Only alive heartbeats; after the session timeout dead is removed.
		var code int16
		for i := 0; i < 10; i++ {
			time.Sleep(time.Second)
			if code = heartbeat(c, "g", alive.MemberID, 1, ""); code != 0 {
				break
			}
		}
		if code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat after peer expiry: %v", kerr.ErrorForCode(code))
		}
		o.memberID = alive.MemberID
		r := join(t, c, "g", o)
		if r.ErrorCode != 0 || r.Generation != 2 || r.LeaderID != alive.MemberID || len(r.Members) != 1 {
			t.Fatalf("rejoin: %+v", r)
		}
		if code := heartbeat(c, "g", dead.MemberID, 1, ""); code != kerr.UnknownMemberID.Code {
			t.Fatalf("expired member heartbeat: %v", kerr.ErrorForCode(code))
		}
	})
}

func TestRebalanceTimeoutDropsSlowMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		o := joinOpts{session: 30 * time.Second, rebalance: 4 * time.Second}
		resps := stableGroup(t, c, "g", o, o)
		// A new member joins: rebalance. Member 0 rejoins, member 1 never does.
		done := make(chan *kmsg.JoinGroupResponse, 2)
		go func() { done <- join(t, c, "g", o) }()
		synctest.Wait()
		if st := state(c, "g"); st != PreparingRebalance {
			t.Fatalf("state %v after new member", st)
		}
		go func() {
			o := o
			o.memberID = resps[0].MemberID
			done <- join(t, c, "g", o)
		}()
		start := time.Now()
		a, b := <-done, <-done
		if time.Since(start) < 4*time.Second {
			t.Fatal("join completed before the rebalance timeout")
		}
		if a.ErrorCode != 0 || b.ErrorCode != 0 || a.Generation != 2 || b.Generation != 2 {
			t.Fatalf("joins: %+v %+v", a, b)
		}
		d, _ := c.Describe("g")
		if len(d.Members) != 2 {
			t.Fatalf("members after rebalance: %d", len(d.Members))
		}
		for _, m := range d.Members {
			if m.MemberID == resps[1].MemberID {
				t.Fatal("slow member still present")
			}
		}
	})
}

func TestSyncTimeoutAndRebalanceInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		o := joinOpts{session: 30 * time.Second, rebalance: 3 * time.Second}
		var wg sync.WaitGroup
		resps := make([]*kmsg.JoinGroupResponse, 2)
		for i := range resps {
			wg.Go(func() { resps[i] = join(t, c, "g", o) })
		}
		wg.Wait()
		follower := resps[0]
		if follower.MemberID == follower.LeaderID {
			follower = resps[1]
		}
		// The follower waits in SyncGroup; the leader never syncs: after the rebalance
		// timeout the leader is removed and the follower told to rejoin.
		s := c.SyncGroup(t.Context(), syncReq("g", follower.MemberID, 1, nil))
		if s.ErrorCode != kerr.RebalanceInProgress.Code {
			t.Fatalf("follower sync: %v", kerr.ErrorForCode(s.ErrorCode))
		}
		if st := state(c, "g"); st != PreparingRebalance {
			t.Fatalf("state %v", st)
		}
		if code := heartbeat(c, "g", follower.LeaderID, 1, ""); code != kerr.UnknownMemberID.Code {
			t.Fatalf("leader heartbeat: %v", kerr.ErrorForCode(code))
		}
	})
}

func TestStaticMembershipRejoinWithoutRebalance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		a := joinOpts{instance: "a"}
		b := joinOpts{instance: "b"}
		resps := stableGroup(t, c, "g", a, b)
		for _, r := range resps {
			if r.MemberID[:2] != "a-" && r.MemberID[:2] != "b-" {
				t.Fatalf("static member id %q does not start with the instance id", r.MemberID)
			}
		}
		old := resps[0]
		inst := old.MemberID[:1]
		// Restarted instance: empty member id, same instance id and metadata.
		r := c.JoinGroup(t.Context(), joinReq("g", joinOpts{instance: inst}), Client{ID: "cli"})
		if r.ErrorCode != 0 || r.Generation != 1 || r.MemberID == old.MemberID {
			t.Fatalf("static rejoin: %+v", r)
		}
		if old.MemberID == old.LeaderID && !r.SkipAssignment {
			t.Fatal("leader rejoin should skip assignment")
		}
		if st := state(c, "g"); st != Stable {
			t.Fatalf("state %v after static rejoin", st)
		}
		if code := heartbeat(c, "g", old.MemberID, 1, inst); code != kerr.FencedInstanceID.Code {
			t.Fatalf("old member id: %v", kerr.ErrorForCode(code))
		}
		if code := heartbeat(c, "g", resps[1].MemberID, 1, resps[1].MemberID[:1]); code != 0 {
			t.Fatalf("other member: %v", kerr.ErrorForCode(code))
		}
		s := c.SyncGroup(t.Context(), syncReq("g", r.MemberID, 1, nil))
		if s.ErrorCode != 0 || string(s.MemberAssignment) != "assignment-for-"+old.MemberID {
			t.Fatalf("sync after static rejoin: %v %q", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
		}
		// Changed metadata triggers a rebalance.
		go c.JoinGroup(t.Context(), joinReq("g", joinOpts{instance: inst, metadata: consumerMeta("t", "u")}), Client{ID: "cli"})
		synctest.Wait()
		if code := heartbeat(c, "g", resps[1].MemberID, 1, resps[1].MemberID[:1]); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("after metadata change: %v", kerr.ErrorForCode(code))
		}
	})
}

func TestLeaveGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		resps := stableGroup(t, c, "g", joinOpts{}, joinOpts{instance: "s"})
		l := kmsg.NewPtrLeaveGroupRequest()
		l.Version, l.Group = 5, "g"
		inst := "s"
		l.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: &inst}, {MemberID: "ghost"}}
		lr := c.LeaveGroup(t.Context(), l)
		if lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("leave: %+v", lr)
		}
		var dyn *kmsg.JoinGroupResponse
		for _, r := range resps {
			if r.MemberID[0] != 's' {
				dyn = r
			}
		}
		if code := heartbeat(c, "g", dyn.MemberID, 1, ""); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
		}
		l = kmsg.NewPtrLeaveGroupRequest()
		l.Version, l.Group, l.MemberID = 1, "g", dyn.MemberID
		if lr := c.LeaveGroup(t.Context(), l); lr.ErrorCode != 0 {
			t.Fatalf("leave v1: %v", kerr.ErrorForCode(lr.ErrorCode))
		}
		synctest.Wait()
		d, _ := c.Describe("g")
		if d.State != Empty || d.Generation != 2 || len(d.Members) != 0 {
			t.Fatalf("after all left: %+v", d)
		}
	})
}

func TestProtocolSelection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		resps := stableGroup(t, c, "g",
			joinOpts{protocols: []string{"cooperative-sticky", "range"}},
			joinOpts{protocols: []string{"range", "cooperative-sticky"}},
			joinOpts{protocols: []string{"cooperative-sticky", "range"}})
		if p := *resps[0].Protocol; p != "cooperative-sticky" {
			t.Fatalf("selected %q", p)
		}
		r := c.JoinGroup(t.Context(), joinReq("g", joinOpts{protocols: []string{"roundrobin"}}), Client{})
		if r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
			t.Fatalf("incompatible protocol: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	})
}

func TestJoinValidation(t *testing.T) {
	c := newTestCoordinator(t, NewMemStore(), Config{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute})
	f := func(name string, req *kmsg.JoinGroupRequest, want *kerr.Error) {
		t.Helper()
		if r := c.JoinGroup(t.Context(), req, Client{}); r.ErrorCode != want.Code {
			t.Fatalf("%s: %v, want %v", name, kerr.ErrorForCode(r.ErrorCode), want)
		}
	}
	f("empty group", joinReq("", joinOpts{}), kerr.InvalidGroupID)
	f("session too small", joinReq("g", joinOpts{session: time.Millisecond}), kerr.InvalidSessionTimeout)
	f("session too large", joinReq("g", joinOpts{session: time.Hour}), kerr.InvalidSessionTimeout)
	f("unknown member", joinReq("g", joinOpts{memberID: "x"}), kerr.UnknownMemberID)
	noProto := joinReq("g", joinOpts{})
	noProto.Protocols = nil
	f("no protocols", noProto, kerr.InconsistentGroupProtocol)
}

func TestOffsetsOnlyGroup(t *testing.T) {
	c := newTestCoordinator(t, NewMemStore(), Config{TopicExists: func(s string) bool { return s != "missing" }})
	if code := commit(c, "solo", "", -1, "t", 0, 42); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	p := fetchOffset(c, "solo", "t", 0)
	if p.Offset != 42 || p.LeaderEpoch != 3 || *p.Metadata != "meta" {
		t.Fatalf("fetch: %+v", p)
	}
	if p := fetchOffset(c, "solo", "t", 1); p.Offset != -1 || p.LeaderEpoch != -1 {
		t.Fatalf("uncommitted: %+v", p)
	}
	if p := fetchOffset(c, "nogroup", "t", 0); p.Offset != -1 {
		t.Fatalf("unknown group: %+v", p)
	}
	if code := commit(c, "solo", "", -1, "missing", 0, 1); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("missing topic: %v", kerr.ErrorForCode(code))
	}
	if code := commit(c, "other", "m", 3, "t", 0, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("generation on unknown group: %v", kerr.ErrorForCode(code))
	}
	if _, ok := c.Describe("other"); ok {
		t.Fatal("failed commit created a group")
	}
	// v1 fetch with all topics (v2+ null topics).
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.Group = 5, "solo"
	resp := c.OffsetFetch(t.Context(), r)
	if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("fetch all: %+v", resp)
	}
	md := string(make([]byte, 5000))
	cr := kmsg.NewPtrOffsetCommitRequest()
	cr.Version, cr.Group, cr.Generation = 9, "solo", -1
	cr.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, Metadata: &md}}}}
	if code := c.OffsetCommit(t.Context(), cr).Topics[0].Partitions[0].ErrorCode; code != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("large metadata: %v", kerr.ErrorForCode(code))
	}
}

func TestCommitRulesInGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		resps := stableGroup(t, c, "g", joinOpts{}, joinOpts{})
		m := resps[0].MemberID
		f := func(member string, gen int32, want int16) {
			t.Helper()
			if code := commit(c, "g", member, gen, "t", 0, 7); code != want {
				t.Fatalf("commit(%s,%d): %v, want %v", member, gen, kerr.ErrorForCode(code), kerr.ErrorForCode(want))
			}
		}
		f(m, 1, 0)
		f(m, 2, kerr.IllegalGeneration.Code)
		f("ghost", 1, kerr.UnknownMemberID.Code)
		f("", -1, kerr.UnknownMemberID.Code) // offsets-only commit to an active group
		// A third member joins: PreparingRebalance; commits of the current generation are allowed.
		go join(t, c, "g", joinOpts{})
		synctest.Wait()
		if st := state(c, "g"); st != PreparingRebalance {
			t.Fatalf("state %v", st)
		}
		f(m, 1, 0)
	})
}

func TestAdminAPIs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		stableGroup(t, c, "active", joinOpts{})
		commit(c, "idle", "", -1, "t", 0, 1)
		commit(c, "idle", "", -1, "u", 0, 1)

		lr := c.ListGroups(t.Context(), &kmsg.ListGroupsRequest{Version: 5})
		if len(lr.Groups) != 2 || lr.Groups[0].Group != "active" || lr.Groups[0].GroupState != "Stable" || lr.Groups[1].GroupState != "Empty" {
			t.Fatalf("list: %+v", lr.Groups)
		}
		lr = c.ListGroups(t.Context(), &kmsg.ListGroupsRequest{Version: 5, StatesFilter: []string{"empty"}})
		if len(lr.Groups) != 1 || lr.Groups[0].Group != "idle" {
			t.Fatalf("list filtered: %+v", lr.Groups)
		}

		dr := c.DescribeGroups(t.Context(), &kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"active", "nope"}})
		if g := dr.Groups[0]; g.State != "Stable" || g.Protocol != "range" || len(g.Members) != 1 || len(g.Members[0].MemberAssignment) == 0 {
			t.Fatalf("describe active: %+v", g)
		}
		if g := dr.Groups[1]; g.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("describe unknown v6: %+v", g)
		}
		dr = c.DescribeGroups(t.Context(), &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"nope"}})
		if g := dr.Groups[0]; g.ErrorCode != 0 || g.State != "Dead" {
			t.Fatalf("describe unknown v5: %+v", g)
		}

		od := c.OffsetDelete(t.Context(), &kmsg.OffsetDeleteRequest{Group: "active", Topics: []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}})
		if od.ErrorCode != 0 || od.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
			t.Fatalf("offset delete subscribed: %+v", od)
		}
		od = c.OffsetDelete(t.Context(), &kmsg.OffsetDeleteRequest{Group: "idle", Topics: []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}})
		if od.ErrorCode != 0 || od.Topics[0].Partitions[0].ErrorCode != 0 || fetchOffset(c, "idle", "t", 0).Offset != -1 {
			t.Fatalf("offset delete: %+v", od)
		}

		del := c.DeleteGroups(t.Context(), &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"active", "idle", "nope"}})
		want := []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code}
		for i, g := range del.Groups {
			if g.ErrorCode != want[i] {
				t.Fatalf("delete %s: %v", g.Group, kerr.ErrorForCode(g.ErrorCode))
			}
		}
		if fetchOffset(c, "idle", "u", 0).Offset != -1 {
			t.Fatal("offsets survived group deletion")
		}

		fc := c.FindCoordinator(t.Context(), &kmsg.FindCoordinatorRequest{Version: 4, CoordinatorType: 1, CoordinatorKeys: []string{"a", "b"}}, Node{NodeID: 7, Host: "h", Port: 9})
		if len(fc.Coordinators) != 2 || fc.Coordinators[1].NodeID != 7 || fc.Coordinators[1].Port != 9 {
			t.Fatalf("find coordinator: %+v", fc)
		}
		fc = c.FindCoordinator(t.Context(), &kmsg.FindCoordinatorRequest{Version: 2, CoordinatorKey: "g"}, Node{NodeID: 7, Host: "h", Port: 9})
		if fc.ErrorCode != 0 || fc.Host != "h" {
			t.Fatalf("find coordinator v2: %+v", fc)
		}
	})
}

func TestOffsetRetentionAndTopicDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{OffsetsRetention: time.Hour})
		commit(c, "old", "", -1, "t", 0, 1)
		commit(c, "keep", "", -1, "t", 0, 1)
		commit(c, "keep", "", -1, "gone", 0, 1)
		time.Sleep(50 * time.Minute)
		commit(c, "keep", "", -1, "t", 0, 2)
		time.Sleep(11 * time.Minute)
		if n := c.ExpireOffsets(); n != 2 {
			t.Fatalf("expired %d, want 2", n)
		}
		if _, ok := c.Describe("old"); ok {
			t.Fatal("empty group without offsets not deleted")
		}
		if fetchOffset(c, "keep", "t", 0).Offset != 2 {
			t.Fatal("recent offset expired")
		}
		c.TopicDeleted("t")
		if fetchOffset(c, "keep", "t", 0).Offset != -1 {
			t.Fatal("offset of deleted topic survived")
		}
	})
}

func TestStoreFailureIsRetriable(t *testing.T) {
	store := NewMemStore()
	c := newTestCoordinator(t, store, Config{})
	store.FailWith(ErrClosed)
	if code := commit(c, "g", "", -1, "t", 0, 1); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit on failing store: %v", kerr.ErrorForCode(code))
	}
	store.FailWith(nil)
	if code := commit(c, "g", "", -1, "t", 0, 1); code != 0 {
		t.Fatalf("commit after heal: %v", kerr.ErrorForCode(code))
	}
}

func TestMemStoreRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := NewMemStore()
		c := newTestCoordinator(t, store, Config{})
		resps := stableGroup(t, c, "g", joinOpts{}, joinOpts{instance: "s"})
		commit(c, "g", resps[0].MemberID, 1, "t", 0, 99)
		c.stop()
		c2 := newTestCoordinator(t, store, Config{})
		d, ok := c2.Describe("g")
		if !ok || d.State != Stable || d.Generation != 1 || len(d.Members) != 2 {
			t.Fatalf("after restart: %+v", d)
		}
		for _, r := range resps {
			if code := heartbeat(c2, "g", r.MemberID, 1, ""); code != 0 {
				t.Fatalf("heartbeat after restart: %v", kerr.ErrorForCode(code))
			}
		}
		if fetchOffset(c2, "g", "t", 0).Offset != 99 {
			t.Fatal("offset lost")
		}
	})
}

// Offsets of an offsets-only group expire by commit time even across restarts.
func TestOffsetRetentionAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := NewMemStore()
		c := newTestCoordinator(t, store, Config{OffsetsRetention: time.Hour})
		commit(c, "solo", "", -1, "t", 0, 1)
		c.stop()
		time.Sleep(61 * time.Minute)
		c2 := newTestCoordinator(t, store, Config{OffsetsRetention: time.Hour})
		if n := c2.ExpireOffsets(); n != 1 {
			t.Fatalf("expired %d after restart, want 1", n)
		}
		if _, ok := c2.Describe("solo"); ok {
			t.Fatal("group survived")
		}
		c3 := newTestCoordinator(t, store, Config{})
		if _, ok := c3.Describe("solo"); ok {
			t.Fatal("deleted group came back from the store")
		}
	})
}
