package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file is the KIP-848 consumer group protocol (ConsumerGroupHeartbeat). A group is
// either classic (group.cg == nil) or a consumer group (group.cg != nil); both share the
// group's lock, name and committed offsets. Every method ending in Locked runs with g.mu
// held.
//
// The group epoch grows whenever the membership or a subscription changes (or the
// partitions of a subscribed topic); the target assignment is then recomputed with the
// group's assignor and stamped with the group epoch (assignment epoch). Each member
// converges on its target one heartbeat at a time:
//
//	stable      --target epoch moved, partitions to give up--> unrevoked (assigned = kept partitions,
//	            revoking = the others; the member epoch stays)
//	unrevoked   --heartbeat whose owned partitions no longer hold any revoking one--> recompute
//	stable      --target epoch moved, nothing to give up--> epoch = assignment epoch; new partitions
//	            still held by another member are withheld: unreleased until they are free
//
// A partition is in at most one member's assigned or revoking set at any time, so no two
// members ever own it together. A member that does not revoke within its rebalance
// timeout is fenced (removed), as one that does not heartbeat within the session timeout.

// Consumer member states (ConsumerMemberMeta.State).
const (
	memberStable     uint8 = 0
	memberUnrevoked  uint8 = 1 // waiting for the member to give up revoking partitions
	memberUnreleased uint8 = 2 // waiting for other members to give up partitions of its target
)

// Member epochs with a meaning of their own in ConsumerGroupHeartbeat.
const (
	leaveEpoch       = -1
	leaveStaticEpoch = -2
)

type consumerGroup struct {
	epoch           int32
	assignmentEpoch int32
	subKey          uint64 // subscription metadata key as of the group epoch
	stateTime       time.Time
	members         map[string]*cmember
	static          map[string]string      // instance id -> member id
	owner           map[topicPart]string   // partition -> the member holding it (assigned or revoking)
	subs            map[string][]TopicInfo // resolved subscriptions by member id, as of subsAt
	subsAt          time.Time
	metricState     string // the state strata_group_consumer_groups counts the group in
}

// consumerMetricLocked counts the consumer group in state ("" = no longer counted).
func (g *group) consumerMetricLocked(state string) {
	g.c.cfg.Metrics.consumerState(g.cg.metricState, state)
	g.cg.metricState = state
}

// subscriptionRefresh bounds how long a created, deleted or grown topic can go unnoticed
// by a group whose membership does not change.
const subscriptionRefresh = time.Second

type cmember struct {
	id, instanceID, rackID, clientID, clientHost string
	epoch, prevEpoch                             int32
	state                                        uint8
	rebalanceTimeout                             time.Duration
	assignor                                     string
	regex                                        string
	re                                           *regexp.Regexp
	topics                                       []string          // subscribed names, sorted
	classic                                      *classicMember    // non-nil: a classic-protocol member (consumer_classic.go)
	describeTopic                                func(string) bool // from the last heartbeat's Client; nil = any
	authKey                                      string
	assigned, revoking, target                   assignment
	// assignedAt is the member epoch at which each owned partition (assigned or
	// revoking) became the member's: commits at an older epoch are accepted for a partition
	// assigned at or before that epoch (KIP-1251). Not persisted: after a restart it is the
	// member's epoch, which only refuses more.
	assignedAt map[topicPart]int32

	hbSeq       uint64
	hbTimer     *time.Timer
	revokeSeq   uint64
	revokeTimer *time.Timer
}

func newConsumerGroup(epoch int32) *consumerGroup {
	return &consumerGroup{epoch: epoch, assignmentEpoch: epoch, stateTime: time.Now(),
		members: map[string]*cmember{}, static: map[string]string{}, owner: map[topicPart]string{}}
}

// ConsumerState is a consumer group's state as ConsumerGroupDescribe and ListGroups name it.
func (cg *consumerGroup) stateName() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch > cg.assignmentEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.state != memberStable || (m.epoch != cg.assignmentEpoch && m.epoch != leaveStaticEpoch) {
			return "Reconciling"
		}
	}
	return "Stable"
}

// isConsumerLocked reports whether g is a KIP-848 consumer group.
func (g *group) isConsumerLocked() bool { return g.cg != nil }

// hasMembersLocked reports whether g has members of either protocol (or pending ones).
func (g *group) hasMembersLocked() bool {
	return len(g.members) > 0 || len(g.pending) > 0 || (g.cg != nil && len(g.cg.members) > 0)
}

// setOwnedLocked replaces m's assigned and revoking sets, keeping the owner index.
func (cg *consumerGroup) setOwned(m *cmember, assigned, revoking assignment) {
	release := func(tp topicPart) {
		if cg.owner[tp] == m.id {
			delete(cg.owner, tp)
		}
	}
	m.assigned.each(release)
	m.revoking.each(release)
	m.assigned, m.revoking = assigned, revoking
	take := func(tp topicPart) { cg.owner[tp] = m.id }
	m.assigned.each(take)
	m.revoking.each(take)
	for tp := range m.assignedAt {
		if !m.assigned.has(tp) && !m.revoking.has(tp) {
			delete(m.assignedAt, tp)
		}
	}
}

// noteAssigned records the epoch at which partitions became m's (see assignedAt).
func (m *cmember) noteAssigned(a assignment, epoch int32) {
	if m.assignedAt == nil {
		m.assignedAt = map[topicPart]int32{}
	}
	a.each(func(tp topicPart) {
		if _, ok := m.assignedAt[tp]; !ok {
			m.assignedAt[tp] = epoch
		}
	})
}

// ConsumerGroupHeartbeat handles ConsumerGroupHeartbeat v0-v1 (KIP-848): joining (epoch
// 0), heartbeating with the current epoch, and leaving (epoch -1, or -2 for a static
// member that will come back). Errors are answered in the response with Kafka's message.
func (c *Coordinator) ConsumerGroupHeartbeat(_ context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, client Client) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(e *kerr.Error, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		resp.ErrorCode = e.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		resp.MemberEpoch = 0
		return resp
	}
	if e, msg := c.validateHeartbeat(req); e != nil {
		return fail(e, msg)
	}
	if req.MemberID == "" { // v0: the coordinator names new members
		req.MemberID = uuid.NewString()
	}
	var g *group
	if req.MemberEpoch == 0 {
		g = c.getOrCreate(req.Group)
	} else if g = c.lookup(req.Group); g == nil {
		return fail(kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, req.Group))
	}
	defer g.mu.Unlock()
	// A group made for this join that ends up without members (the join failed) is dropped
	// again, as Kafka writes nothing for a failed heartbeat.
	fresh := g.cg == nil && !g.hasMembersLocked() && g.state == Empty && g.generation == 0 && len(g.offsets) == 0
	if g.cg == nil {
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, req.Group))
		}
		if !g.hasMembersLocked() && g.state == Empty {
			g.convertToConsumerLocked()
		} else if !g.upgradeClassicLocked() {
			return fail(kerr.GroupIDNotFound, fmt.Sprintf("Cannot upgrade classic group %s to consumer group: "+
				"it must be Stable with consumer-protocol members only.", req.Group))
		}
	}
	if req.MemberEpoch < 0 {
		return g.consumerLeaveLocked(req, resp)
	}
	code, msg := g.consumerHeartbeatLocked(req, client, resp)
	if code != nil {
		if fresh && len(g.cg.members) == 0 {
			g.removeLocked()
		}
		return fail(code, msg)
	}
	return resp
}

func (c *Coordinator) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*kerr.Error, string) {
	switch {
	case req.Group == "":
		return kerr.InvalidRequest, "GroupId can't be empty."
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch != 0):
		return kerr.InvalidRequest, "MemberId can't be empty."
	case req.InstanceID != nil && *req.InstanceID == "":
		return kerr.InvalidRequest, "InstanceId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return kerr.InvalidRequest, "RackId can't be empty."
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMillis == -1:
		return kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request."
	case req.MemberEpoch == 0 && (req.Topics == nil || len(req.Topics) > 0):
		return kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining."
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."
	case req.MemberEpoch == leaveStaticEpoch && req.InstanceID == nil:
		return kerr.InvalidRequest, "InstanceId can't be null."
	case req.MemberEpoch < leaveStaticEpoch:
		return kerr.InvalidRequest, "MemberEpoch is invalid."
	}
	if req.ServerAssignor != nil && !slices.Contains(c.cfg.ConsumerAssignors, *req.ServerAssignor) {
		return kerr.UnsupportedAssignor, "ServerAssignor " + *req.ServerAssignor + " is not supported. Supported assignors: " + fmt.Sprint(c.cfg.ConsumerAssignors) + "."
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := compileTopicRegex(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression, "SubscribedTopicRegex `" + *req.SubscribedTopicRegex + "` is not a valid regular expression: " + err.Error() + "."
		}
	}
	return nil, ""
}

// compileTopicRegex compiles a KIP-848 topic regex. Kafka matches it with RE2/J against
// the whole topic name; Go's regexp is RE2, anchored here on both ends.
func compileTopicRegex(s string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + s + ")$")
}

// internalTopics are never matched by a regex subscription (Kafka skips internal topics).
var internalTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true, "__share_group_state": true}

// convertToConsumerLocked turns an empty classic group into a consumer group; offsets
// stay, the epoch continues from the classic generation.
func (g *group) convertToConsumerLocked() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	g.c.cfg.Metrics.transition(g.state, Dead, false) // no longer a classic group
	g.cg = newConsumerGroup(max(g.generation, 0))
	g.consumerMetricLocked(g.cg.stateName())
	g.c.log.Info("group uses the consumer protocol (KIP-848)", "group", g.name)
}

// convertToClassicLocked turns an empty consumer group into an empty classic group (a
// classic JoinGroup arrived); offsets stay and generations continue from the epoch.
func (g *group) convertToClassicLocked() {
	g.generation = g.cg.epoch
	g.consumerMetricLocked("")
	g.cg = nil
	g.c.cfg.Metrics.transition(Dead, g.state, false) // a classic group again
	g.protocolType, g.protocol, g.leader = "", "", ""
	g.persistMetaLocked()
	g.c.log.Info("empty consumer group now uses the classic protocol", "group", g.name)
}

func (g *group) consumerLeaveLocked(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *kmsg.ConsumerGroupHeartbeatResponse {
	cg := g.cg
	fail := func(e *kerr.Error, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		resp.ErrorCode = e.Code
		resp.ErrorMessage = &msg
		return resp
	}
	var m *cmember
	if req.InstanceID != nil {
		id, ok := cg.static[*req.InstanceID]
		if !ok {
			return fail(kerr.UnknownMemberID, fmt.Sprintf("Instance id %s is unknown.", *req.InstanceID))
		}
		if id != req.MemberID {
			return fail(kerr.FencedInstanceID, fmt.Sprintf("Static member %s with instance id %s is fenced by member %s.", req.MemberID, *req.InstanceID, id))
		}
		m = cg.members[id]
	} else if m = cg.members[req.MemberID]; m == nil || m.classic != nil {
		return fail(kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.name))
	}
	resp.MemberID = &req.MemberID
	resp.MemberEpoch = req.MemberEpoch
	if req.MemberEpoch == leaveStaticEpoch {
		// The static member goes away for a while (a restart): it keeps its partitions, which
		// nobody else gets, until it rejoins with its instance id or its session expires.
		m.prevEpoch, m.epoch = m.epoch, leaveStaticEpoch
		g.c.log.Info("static consumer group member left temporarily", "group", g.name, "member", m.id, "instance", m.instanceID)
		g.persistConsumerLocked()
		return resp
	}
	g.c.log.Info("consumer group member left", "group", g.name, "member", m.id)
	g.removeConsumerMemberLocked(m)
	g.afterConsumerRemovalLocked()
	return resp
}

// removeConsumerMemberLocked drops m: its partitions become free and the group epoch
// moves so that the others get them.
func (g *group) removeConsumerMemberLocked(m *cmember) {
	cg := g.cg
	stopTimer(m.hbTimer)
	stopTimer(m.revokeTimer)
	m.hbSeq++
	m.revokeSeq++
	cg.setOwned(m, nil, nil)
	delete(cg.members, m.id)
	if m.instanceID != "" && cg.static[m.instanceID] == m.id {
		delete(cg.static, m.instanceID)
	}
	cg.epoch++
	if len(cg.members) == 0 {
		cg.stateTime = time.Now()
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

func (g *group) consumerHeartbeatLocked(req *kmsg.ConsumerGroupHeartbeatRequest, client Client, resp *kmsg.ConsumerGroupHeartbeatResponse) (*kerr.Error, string) {
	cg := g.cg
	cfg := &g.c.cfg
	instanceID := strOrEmpty(req.InstanceID)
	changed := false // anything to persist
	bump := false    // the group epoch moves
	m := cg.members[req.MemberID]
	if m != nil && m.classic != nil {
		return kerr.UnknownMemberID, fmt.Sprintf("Member %s uses the classic protocol.", req.MemberID)
	}
	if req.MemberEpoch == 0 {
		if instanceID != "" {
			if oldID, ok := cg.static[instanceID]; ok && oldID != req.MemberID {
				old := cg.members[oldID]
				if old.epoch != leaveStaticEpoch {
					return kerr.UnreleasedInstanceID, fmt.Sprintf("Static member %s with instance id %s cannot join the group because the instance id is owned by member %s.", req.MemberID, instanceID, oldID)
				}
				m = g.replaceStaticConsumerLocked(old, req.MemberID)
				changed = true
			}
		}
		if m == nil {
			if cfg.ConsumerMaxSize > 0 && len(cg.members) >= cfg.ConsumerMaxSize {
				return kerr.GroupMaxSizeReached, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", cfg.ConsumerMaxSize)
			}
			m = &cmember{id: req.MemberID, instanceID: instanceID, epoch: 0, prevEpoch: -1}
			if len(cg.members) == 0 {
				cg.stateTime = time.Now()
			}
			cg.members[m.id] = m
			if instanceID != "" {
				cg.static[instanceID] = m.id
			}
			g.c.log.Info("consumer group member joined", "group", g.name, "member", m.id, "instance", instanceID)
			changed, bump = true, true
		} else if m.epoch == leaveStaticEpoch {
			m.epoch, m.prevEpoch = m.prevEpoch, -1
			changed = true
		}
		// A known member joining again at epoch 0 (it lost a response) keeps its state and
		// is sent its whole assignment.
	} else {
		if m == nil || m.classic != nil {
			return kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.name)
		}
		if instanceID != "" {
			if id, ok := cg.static[instanceID]; !ok {
				return kerr.UnknownMemberID, fmt.Sprintf("Instance id %s is unknown.", instanceID)
			} else if id != m.id {
				return kerr.FencedInstanceID, fmt.Sprintf("Static member %s with instance id %s is fenced by member %s.", req.MemberID, instanceID, id)
			}
		}
		if e, msg := m.checkEpoch(req); e != nil {
			return e, msg
		}
	}
	g.consumerSessionLocked(m)

	// Member fields; null means unchanged.
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.RackID != nil && *req.RackID != m.rackID {
		m.rackID, changed = *req.RackID, true
	}
	if client.ID != m.clientID || client.Host != m.clientHost {
		m.clientID, m.clientHost, changed = client.ID, client.Host, true
	}
	if m.authKey != client.AuthKey || (m.describeTopic == nil) != (client.DescribeTopic == nil) {
		cg.subs = nil // the regex's topics are filtered by what this principal may describe
	}
	m.describeTopic, m.authKey = client.DescribeTopic, client.AuthKey
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.topics) {
			m.topics, changed, bump = names, true, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, m.re = *req.SubscribedTopicRegex, nil
		if m.regex != "" {
			m.re, _ = compileTopicRegex(m.regex) // validated before
		}
		changed, bump = true, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed, bump = *req.ServerAssignor, true, true
	}

	// The partitions of subscribed topics (new topics, new partitions, deleted topics).
	// The partitions of subscribed topics (new topics, new partitions, deleted topics):
	// resolved again when the membership or a subscription changed, else at most every
	// subscriptionRefresh, so a steady heartbeat does not scan every topic.
	if bump || cg.epoch > cg.assignmentEpoch || cg.subs == nil || time.Since(cg.subsAt) >= subscriptionRefresh {
		cg.subs, cg.subsAt = g.subscribedTopicsConsumerLocked(), time.Now()
		if key := subscriptionKey(cg.subs); key != cg.subKey {
			cg.subKey, bump = key, true
		}
	}
	subscribed := cg.subs
	if bump {
		cg.epoch++
		changed = true
	}
	if cg.epoch > cg.assignmentEpoch {
		g.computeTargetLocked(subscribed)
		changed = true
	}

	var owned assignment
	if req.Topics != nil {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				owned = owned.add(topicPart{t.TopicID, p})
			}
		}
	}
	before := m.assigned.clone()
	if g.reconcileLocked(m, owned, req.Topics != nil) {
		changed = true
	}
	if changed {
		g.persistConsumerLocked()
	}

	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(cfg.ConsumerHeartbeatInterval / time.Millisecond)
	if req.MemberEpoch == 0 || !before.equal(m.assigned) || (req.Topics != nil && !owned.equal(m.assigned)) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
		ids := make([][16]byte, 0, len(m.assigned))
		for id := range m.assigned {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
		for _, id := range ids {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = id, slices.Clone(m.assigned[id])
			a.Topics = append(a.Topics, t)
		}
		resp.Assignment = &a
	}
	return nil, ""
}

// checkEpoch is Kafka's member epoch check: a newer epoch than the member's is fenced; an
// older one is accepted only if it is the previous epoch and the member owns no more than
// its assignment (its last response was lost).
func (m *cmember) checkEpoch(req *kmsg.ConsumerGroupHeartbeatRequest) (*kerr.Error, string) {
	fenced := func() (*kerr.Error, string) {
		return kerr.FencedMemberEpoch, fmt.Sprintf("The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
	}
	switch {
	case req.MemberEpoch == m.epoch:
		return nil, ""
	case req.MemberEpoch > m.epoch:
		return fenced()
	case req.MemberEpoch == m.prevEpoch && req.Topics != nil:
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				if !m.assigned.has(topicPart{t.TopicID, p}) {
					return kerr.FencedMemberEpoch, fmt.Sprintf("The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
				}
			}
		}
		return nil, ""
	default:
		return kerr.FencedMemberEpoch, fmt.Sprintf("The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
	}
}

// replaceStaticConsumerLocked gives a rejoining static member (new member id, same
// instance id) the state of the one that left with epoch -2.
func (g *group) replaceStaticConsumerLocked(old *cmember, newID string) *cmember {
	cg := g.cg
	m := &cmember{}
	*m = *old
	m.id = newID
	m.assignedAt = maps.Clone(old.assignedAt)
	m.epoch, m.prevEpoch = old.prevEpoch, -1
	m.hbTimer, m.revokeTimer = nil, nil
	stopTimer(old.hbTimer)
	stopTimer(old.revokeTimer)
	old.hbSeq++
	old.revokeSeq++
	assigned, revoking := old.assigned, old.revoking
	cg.setOwned(old, nil, nil)
	delete(cg.members, old.id)
	m.assigned, m.revoking = nil, nil
	cg.members[newID] = m
	cg.static[m.instanceID] = newID
	cg.setOwned(m, assigned, revoking)
	if m.state == memberUnrevoked {
		g.armRevocationLocked(m)
	}
	g.c.log.Info("static consumer group member replaced", "group", g.name, "instance", m.instanceID, "old_member", old.id, "member", newID)
	return m
}

// consumerSessionLocked (re)arms m's session timer (group.consumer.session.timeout.ms).
func (g *group) consumerSessionLocked(m *cmember) {
	m.hbSeq++
	seq := m.hbSeq
	stopTimer(m.hbTimer)
	timeout := g.c.cfg.ConsumerSessionTimeout
	if m.classic != nil {
		timeout = m.classic.sessionTimeout
	}
	m.hbTimer = time.AfterFunc(timeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.cg == nil || g.cg.members[m.id] != m || m.hbSeq != seq || g.state == Dead {
			return
		}
		g.c.log.Info("consumer group member session expired", "group", g.name, "member", m.id)
		g.removeConsumerMemberLocked(m)
		g.afterConsumerRemovalLocked()
	})
}

// armRevocationLocked fences m if it still holds partitions to revoke after its
// rebalance timeout.
func (g *group) armRevocationLocked(m *cmember) {
	m.revokeSeq++
	seq := m.revokeSeq
	stopTimer(m.revokeTimer)
	d := m.rebalanceTimeout
	if d <= 0 {
		d = g.c.cfg.ConsumerSessionTimeout
	}
	m.revokeTimer = time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.cg == nil || g.cg.members[m.id] != m || m.revokeSeq != seq || m.state != memberUnrevoked || g.state == Dead {
			return
		}
		g.c.log.Info("consumer group member did not revoke partitions within its rebalance timeout; fenced", "group", g.name, "member", m.id)
		g.removeConsumerMemberLocked(m)
		g.afterConsumerRemovalLocked()
	})
}

// resolvedTopicsLocked returns the existing topics m subscribes to, by name or regex.
func (m *cmember) resolvedTopics(all []TopicInfo, byName map[string]TopicInfo) []TopicInfo {
	var out []TopicInfo
	seen := map[string]bool{}
	for _, n := range m.topics {
		if t, ok := byName[n]; ok && !seen[n] {
			out, seen[n] = append(out, t), true
		}
	}
	if m.re != nil {
		for _, t := range all {
			if !seen[t.Name] && !internalTopics[t.Name] && m.re.MatchString(t.Name) && (m.describeTopic == nil || m.describeTopic(t.Name)) {
				out, seen[t.Name] = append(out, t), true
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// subscribedTopicsConsumerLocked resolves every member's subscription: member id ->
// existing topics.
func (g *group) subscribedTopicsConsumerLocked() map[string][]TopicInfo {
	var all []TopicInfo
	if g.c.cfg.Topics != nil {
		all = g.c.cfg.Topics()
	}
	byName := make(map[string]TopicInfo, len(all))
	for _, t := range all {
		byName[t.Name] = t
	}
	out := make(map[string][]TopicInfo, len(g.cg.members))
	bySubscription := map[string][]TopicInfo{} // members with the same subscription share the result
	for id, m := range g.cg.members {
		sig := m.authKey + "\x00" + m.regex + "\x00" + strings.Join(m.topics, "\x00")
		if m.describeTopic != nil && m.authKey == "" {
			sig = "\x01" + m.id // a filter without a key: not shared
		}
		ts, ok := bySubscription[sig]
		if !ok {
			ts = m.resolvedTopics(all, byName)
			bySubscription[sig] = ts
		}
		out[id] = ts
	}
	return out
}

// subscriptionKey hashes the subscribed topics (name, id, partitions) of all members, so
// that a new, deleted or grown topic moves the group epoch.
func subscriptionKey(subs map[string][]TopicInfo) uint64 {
	topics := map[string]TopicInfo{}
	for _, ts := range subs {
		for _, t := range ts {
			topics[t.Name] = t
		}
	}
	h := fnv.New64a()
	var b []byte
	for _, n := range sortedKeys(topics) {
		t := topics[n]
		b = append(b[:0], t.Name...)
		b = append(b, 0)
		b = append(b, t.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(t.Partitions))
		h.Write(b)
	}
	return h.Sum64()
}

// computeTargetLocked recomputes every member's target assignment for the group epoch.
func (g *group) computeTargetLocked(subs map[string][]TopicInfo) {
	cg := g.cg
	name := g.assignorLocked()
	members := make([]assignMember, 0, len(cg.members))
	for id, m := range cg.members {
		sortBy := m.id
		if m.instanceID != "" {
			sortBy = m.instanceID
		}
		prev := m.target
		if prev == nil {
			prev = m.assigned
		}
		members = append(members, assignMember{id: id, sortBy: sortBy, topics: subs[id], prev: prev})
	}
	target := assign(name, members)
	for id, m := range cg.members {
		m.target = target[id]
	}
	cg.assignmentEpoch = cg.epoch
	g.c.cfg.Metrics.rebalanced()
	g.c.log.Debug("consumer group target assignment computed", "group", g.name, "epoch", cg.epoch, "assignor", name)
}

// assignorLocked is the assignor members ask for most (ties: configured order), else the
// first of group.consumer.assignors.
func (g *group) assignorLocked() string {
	votes := map[string]int{}
	for _, m := range g.cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := g.c.cfg.ConsumerAssignors[0]
	for _, a := range g.c.cfg.ConsumerAssignors {
		if votes[a] > votes[best] {
			best = a
		}
	}
	n, _ := assignorName(best)
	return n
}

// reconcileLocked moves m one step towards its target (see the top of this file).
// owned is what the member reports owning (valid when hasOwned). It reports a change.
func (g *group) reconcileLocked(m *cmember, owned assignment, hasOwned bool) bool {
	cg := g.cg
	if m.epoch == leaveStaticEpoch {
		return false
	}
	switch m.state {
	case memberUnrevoked:
		if !hasOwned || owned.intersects(m.revoking) {
			return false
		}
		// Revocation done: the partitions are free for their new owners.
		stopTimer(m.revokeTimer)
		m.revokeSeq++
		cg.setOwned(m, m.assigned, nil)
		m.state = memberStable
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return false
		}
	}
	keep := m.assigned.intersect(m.target)
	if revoke := m.assigned.minus(m.target); revoke.size() > 0 {
		cg.setOwned(m, keep, revoke)
		m.state = memberUnrevoked
		g.armRevocationLocked(m)
		return true
	}
	want := m.target.minus(keep)
	free := want.filter(func(tp topicPart) bool {
		o, ok := cg.owner[tp]
		return !ok || o == m.id
	})
	newAssigned := keep.union(free)
	changed := !newAssigned.equal(m.assigned) || m.epoch != cg.assignmentEpoch
	cg.setOwned(m, newAssigned, nil)
	m.noteAssigned(free, cg.assignmentEpoch)
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	state := memberStable
	if free.size() < want.size() {
		state = memberUnreleased
	}
	changed = changed || state != m.state
	m.state = state
	return changed
}

// consumerMetaLocked is the durable form of the consumer group.
func (g *group) consumerMetaLocked() *ConsumerMeta {
	cg := g.cg
	meta := &ConsumerMeta{Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, StateTime: cg.stateTime.UnixMilli(), SubscriptionKey: cg.subKey}
	for _, id := range sortedKeys(cg.members) {
		m := cg.members[id]
		meta.Members = append(meta.Members, ConsumerMemberMeta{
			MemberID: m.id, InstanceID: m.instanceID, RackID: m.rackID, ClientID: m.clientID, ClientHost: m.clientHost,
			MemberEpoch: m.epoch, PreviousEpoch: m.prevEpoch, State: m.state,
			RebalanceTimeout: int32(m.rebalanceTimeout / time.Millisecond), ServerAssignor: m.assignor,
			Regex: m.regex, Topics: slices.Clone(m.topics),
			Assigned: m.assigned.clone(), Revoking: m.revoking.clone(), Target: m.target.clone(),
		})
		if c := m.classic; c != nil {
			cm := &ClassicMemberMeta{SessionTimeout: int32(c.sessionTimeout / time.Millisecond), Protocol: c.protocol}
			for _, p := range c.protocols {
				cm.Protocols = append(cm.Protocols, ClassicProtocolMeta{Name: p.Name, Metadata: p.Metadata})
			}
			meta.Members[len(meta.Members)-1].Classic = cm
		}
	}
	return meta
}

// persistConsumerLocked writes the consumer group's state; failures are logged (after a
// restart the group would fall back to the previous state and members are fenced or
// rejoin, as after a coordinator failover). It also updates the state metric.
func (g *group) persistConsumerLocked() {
	g.consumerMetricLocked(g.cg.stateName())
	if err := g.c.store.Append([]Record{{Kind: KindConsumerGroup, Group: g.name, Consumer: g.consumerMetaLocked()}}); err != nil {
		g.c.log.Error("cannot persist consumer group", "group", g.name, "err", err)
	}
}

// restoreConsumer applies persisted consumer-group state (load time). Session timers
// start when the coordinator is built (startConsumerTimersLocked).
func (g *group) restoreConsumer(meta *ConsumerMeta) {
	g.members, g.static = make(map[string]*member), make(map[string]string)
	g.c.cfg.Metrics.transition(g.state, Empty, false) // load time: counted once loaded (New)
	g.state = Empty
	cg := newConsumerGroup(meta.Epoch)
	cg.assignmentEpoch, cg.subKey = meta.AssignmentEpoch, meta.SubscriptionKey
	if meta.StateTime > 0 {
		cg.stateTime = time.UnixMilli(meta.StateTime)
	}
	for _, mm := range meta.Members {
		m := &cmember{id: mm.MemberID, instanceID: mm.InstanceID, rackID: mm.RackID, clientID: mm.ClientID, clientHost: mm.ClientHost,
			epoch: mm.MemberEpoch, prevEpoch: mm.PreviousEpoch, state: mm.State,
			rebalanceTimeout: time.Duration(mm.RebalanceTimeout) * time.Millisecond, assignor: mm.ServerAssignor,
			regex: mm.Regex, topics: mm.Topics, target: assignment(mm.Target)}
		if m.regex != "" {
			m.re, _ = compileTopicRegex(m.regex)
		}
		if c := mm.Classic; c != nil {
			m.classic = &classicMember{sessionTimeout: time.Duration(c.SessionTimeout) * time.Millisecond, protocol: c.Protocol}
			for _, p := range c.Protocols {
				m.classic.protocols = append(m.classic.protocols, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: p.Metadata})
			}
		}
		cg.members[m.id] = m
		if m.instanceID != "" {
			cg.static[m.instanceID] = m.id
		}
		cg.setOwned(m, assignment(mm.Assigned).clone(), assignment(mm.Revoking).clone())
		m.noteAssigned(m.assigned, m.epoch)
		m.noteAssigned(m.revoking, m.epoch)
	}
	g.cg = cg
}

func (g *group) startConsumerTimersLocked() {
	for _, m := range g.cg.members {
		g.consumerSessionLocked(m)
		if m.state == memberUnrevoked {
			g.armRevocationLocked(m)
		}
	}
}

func (g *group) stopConsumerTimersLocked() {
	if g.cg == nil {
		return
	}
	for _, m := range g.cg.members {
		stopTimer(m.hbTimer)
		stopTimer(m.revokeTimer)
	}
}

// consumerCommitAllowedLocked validates OffsetCommit against a consumer group (Kafka's
// ConsumerGroup.validateOffsetCommit): epoch < 0 commits only to a group without
// members; otherwise the member must exist and commit with v9+ at its current epoch, or
// at an older one for partitions it owns since that epoch or earlier (KIP-1251, Kafka
// 4.3): stale reports, per partition, the ones to refuse with STALE_MEMBER_EPOCH.
func (g *group) consumerCommitAllowedLocked(memberID string, epoch int32, version int16) (code int16, stale func(topic string, partition int32) bool) {
	cg := g.cg
	if epoch < 0 && len(cg.members) == 0 {
		return 0, nil
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code, nil
	case m.classic != nil && epoch != m.epoch:
		return kerr.IllegalGeneration.Code, nil
	case m.classic != nil:
		return 0, nil
	case version < 9:
		return kerr.UnsupportedVersion.Code, nil
	case epoch == m.epoch:
		return 0, nil
	case epoch > m.epoch || epoch < 0:
		return kerr.StaleMemberEpoch.Code, nil
	}
	ids := map[string][16]byte{}
	if g.c.cfg.Topics != nil {
		for _, t := range g.c.cfg.Topics() {
			ids[t.Name] = t.ID
		}
	}
	return 0, func(topic string, partition int32) bool {
		id, ok := ids[topic]
		if !ok {
			return true
		}
		at, owned := m.assignedAt[topicPart{id, partition}]
		return !owned || at > epoch
	}
}

// consumerFetchAllowedLocked validates OffsetFetch v9+ against a consumer group: without
// member id and with epoch < 0 anyone may fetch; else the member and epoch must match.
func (g *group) consumerFetchAllowedLocked(memberID *string, epoch int32) int16 {
	if memberID == nil && epoch < 0 {
		return 0
	}
	m := g.cg.members[strOrEmpty(memberID)]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// consumerSubscribedLocked returns the names of topics the members subscribe to now.
func (g *group) consumerSubscribedLocked() map[string]bool {
	out := map[string]bool{}
	for _, ts := range g.subscribedTopicsConsumerLocked() {
		for _, t := range ts {
			out[t.Name] = true
		}
	}
	return out
}

// ConsumerGroupDescribe handles ConsumerGroupDescribe v0-v1. Unknown groups and classic
// groups answer GROUP_ID_NOT_FOUND, as in Kafka.
func (c *Coordinator) ConsumerGroupDescribe(_ context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	var names map[[16]byte]string
	if c.cfg.Topics != nil {
		ts := c.cfg.Topics()
		names = make(map[[16]byte]string, len(ts))
		for _, t := range ts {
			names[t.ID] = t.Name
		}
	}
	toAssignment := func(a assignment) kmsg.Assignment {
		var out kmsg.Assignment
		out.TopicPartitions = []kmsg.AssignmentTopicPartition{}
		var ids [][16]byte
		for id := range a {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
		for _, id := range ids {
			tp := kmsg.AssignmentTopicPartition{TopicID: id, Topic: names[id], Partitions: slices.Clone(a[id])}
			out.TopicPartitions = append(out.TopicPartitions, tp)
		}
		return out
	}
	for _, name := range req.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = name
		rg.AuthorizedOperations = -2147483648
		g := c.lookup(name)
		switch {
		case name == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		case g == nil:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " not found."
			rg.ErrorMessage = &msg
		case g.cg == nil:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " is not a consumer group."
			rg.ErrorMessage = &msg
		default:
			cg := g.cg
			rg.State, rg.Epoch, rg.AssignmentEpoch = cg.stateName(), cg.epoch, cg.assignmentEpoch
			rg.AssignorName = g.assignorLocked()
			for _, id := range sortedKeys(cg.members) {
				m := cg.members[id]
				rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				rm.MemberID, rm.MemberEpoch, rm.ClientID, rm.ClientHost = m.id, m.epoch, m.clientID, m.clientHost
				if m.instanceID != "" {
					iid := m.instanceID
					rm.InstanceID = &iid
				}
				if m.rackID != "" {
					rack := m.rackID
					rm.RackID = &rack
				}
				rm.SubscribedTopics = slices.Clone(m.topics)
				if rm.SubscribedTopics == nil {
					rm.SubscribedTopics = []string{}
				}
				if m.regex != "" {
					re := m.regex
					rm.SubscribedTopicRegex = &re
				}
				rm.Assignment = toAssignment(m.assigned)
				rm.TargetAssignment = toAssignment(m.target)
				rm.MemberType = 1 // consumer protocol (v1+)
				if m.classic != nil {
					rm.MemberType = 0 // classic protocol
				}
				rg.Members = append(rg.Members, rm)
			}
		}
		if g != nil {
			g.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
