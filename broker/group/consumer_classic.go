package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file is the online migration between the protocols (Kafka 4.x's
// group.consumer.migration.policy=bidirectional): classic members inside a consumer group.
//
// Upgrade: a KIP-848 member joining a Stable classic group whose members all use the
// consumer protocol type turns it into a consumer group at epoch = generation; the
// classic members keep their assignment and stay members, now served by the consumer
// group: their JoinGroup updates their subscription and reconciles them at once (owned
// partitions are those their subscription metadata reports; an eager member has revoked
// all before joining), SyncGroup returns the partitions they may own now, Heartbeat asks
// them to rejoin (REBALANCE_IN_PROGRESS) while they are behind the target, LeaveGroup
// removes them. They are never the leader: the coordinator assigns.
//
// Downgrade: when the last KIP-848 member leaves and classic members remain, the group
// becomes a classic group again (at the generation its members are at) and rebalances.

// classicMember is what a classic member inside a consumer group keeps of its JoinGroup.
type classicMember struct {
	sessionTimeout time.Duration
	protocols      []kmsg.JoinGroupRequestProtocol
	protocol       string // the protocol name it was answered with
}

// decodeSubscription reads consumer-protocol subscription metadata: subscribed topics
// (sorted) and owned partitions by topic name (v1+).
func decodeSubscription(b []byte) (topics []string, owned map[string][]int32, ok bool) {
	var md kmsg.ConsumerMemberMetadata
	if err := md.ReadFrom(b); err != nil {
		return nil, nil, false
	}
	topics = slices.Clone(md.Topics)
	slices.Sort(topics)
	topics = slices.Compact(topics)
	owned = map[string][]int32{}
	for _, o := range md.OwnedPartitions {
		owned[o.Topic] = append(owned[o.Topic], o.Partitions...)
	}
	return topics, owned, true
}

// byNameLocked maps names to ids for the existing topics.
func (g *group) topicIDsLocked() (ids map[string][16]byte, names map[[16]byte]string) {
	ids, names = map[string][16]byte{}, map[[16]byte]string{}
	if g.c.cfg.Topics != nil {
		for _, t := range g.c.cfg.Topics() {
			ids[t.Name], names[t.ID] = t.ID, t.Name
		}
	}
	return ids, names
}

func toAssignment(byName map[string][]int32, ids map[string][16]byte) assignment {
	var a assignment
	for t, ps := range byName {
		id, ok := ids[t]
		if !ok {
			continue
		}
		for _, p := range ps {
			a = a.add(topicPart{id, p})
		}
	}
	return a
}

// encodeAssignment is the consumer-protocol assignment (SyncGroup) of a.
func encodeAssignment(a assignment, names map[[16]byte]string) []byte {
	as := kmsg.NewConsumerMemberAssignment()
	as.Version = 0
	for _, id := range sortedIDs(a) {
		if n, ok := names[id]; ok {
			as.Topics = append(as.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: n, Partitions: slices.Clone(a[id])})
		}
	}
	return as.AppendTo(nil)
}

func sortedIDs(a assignment) [][16]byte {
	ids := make([][16]byte, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
	return ids
}

// upgradeClassicLocked turns a Stable classic group of consumer-protocol members into a
// consumer group holding them as classic members; false if it cannot.
func (g *group) upgradeClassicLocked() bool {
	if p := g.c.cfg.MigrationPolicy; p != "bidirectional" && p != "upgrade" {
		return false
	}
	if g.state != Stable || g.protocolType != "consumer" || len(g.pending) > 0 ||
		(g.c.cfg.ConsumerMaxSize > 0 && len(g.members) >= g.c.cfg.ConsumerMaxSize) {
		return false
	}
	ids, _ := g.topicIDsLocked()
	type conv struct {
		m        *member
		topics   []string
		assigned assignment
	}
	var convs []conv
	for _, id := range g.memberIDsLocked() {
		m := g.members[id]
		topics, _, ok := decodeSubscription(m.metadataFor(g.protocol))
		var as kmsg.ConsumerMemberAssignment
		if !ok || (len(m.assignment) > 0 && as.ReadFrom(m.assignment) != nil) {
			return false
		}
		byName := map[string][]int32{}
		for _, t := range as.Topics {
			byName[t.Topic] = append(byName[t.Topic], t.Partitions...)
		}
		convs = append(convs, conv{m, topics, toAssignment(byName, ids)})
	}
	epoch := g.generation
	g.stopTimersLocked()
	g.c.cfg.Metrics.transition(g.state, Dead, false) // no longer a classic group
	cg := newConsumerGroup(epoch)
	g.cg = cg
	for _, cv := range convs {
		m := cv.m
		cm := &cmember{id: m.id, instanceID: m.instanceID, clientID: m.clientID, clientHost: m.clientHost,
			epoch: epoch, prevEpoch: -1, rebalanceTimeout: m.rebalanceTimeout, topics: cv.topics,
			classic: &classicMember{sessionTimeout: m.sessionTimeout, protocols: m.protocols, protocol: g.protocol}}
		cm.target = cv.assigned.clone()
		// A partition two members claim (a stale assignment) goes to the first only.
		claim := cv.assigned.filter(func(tp topicPart) bool { _, taken := cg.owner[tp]; return !taken })
		cg.members[cm.id] = cm
		if cm.instanceID != "" {
			cg.static[cm.instanceID] = cm.id
		}
		cg.setOwned(cm, claim, nil)
		cm.noteAssigned(cm.assigned, epoch)
		g.consumerSessionLocked(cm)
	}
	g.members, g.static, g.pending = map[string]*member{}, map[string]string{}, map[string]*time.Timer{}
	g.state, g.leader = Empty, ""
	g.consumerMetricLocked(cg.stateName())
	g.c.log.Info("classic group upgraded online to a consumer group", "group", g.name, "classic_members", len(convs), "epoch", epoch)
	return true
}

// maybeDowngradeLocked turns a consumer group whose members are all classic into a
// classic group again, which then rebalances. It reports whether it did.
func (g *group) maybeDowngradeLocked() bool {
	cg := g.cg
	if p := g.c.cfg.MigrationPolicy; cg == nil || len(cg.members) == 0 || (p != "bidirectional" && p != "downgrade") {
		return false
	}
	for _, m := range cg.members {
		if m.classic == nil {
			return false
		}
	}
	_, names := g.topicIDsLocked()
	g.stopConsumerTimersLocked()
	g.consumerMetricLocked("")
	members := cg.members
	g.cg = nil
	// The generation the members know (their epoch), so that their next heartbeat is told
	// to rejoin rather than that its generation is illegal.
	g.generation = 0
	for _, m := range members {
		g.generation = max(g.generation, m.epoch)
	}
	g.protocolType, g.protocol = "consumer", ""
	g.members, g.static = map[string]*member{}, map[string]string{}
	for _, id := range sortedKeys(members) {
		cm := members[id]
		m := &member{id: cm.id, instanceID: cm.instanceID, clientID: cm.clientID, clientHost: cm.clientHost,
			sessionTimeout: cm.classic.sessionTimeout, rebalanceTimeout: cm.rebalanceTimeout, protocolType: "consumer",
			protocols: cm.classic.protocols, assignment: encodeAssignment(cm.assigned, names), synced: true}
		g.members[m.id] = m
		if m.instanceID != "" {
			g.static[m.instanceID] = m.id
		}
		if g.leader == "" {
			g.leader = m.id
		}
		g.heartbeatLocked(m)
	}
	g.protocol = g.selectProtocolLocked()
	g.c.cfg.Metrics.transition(Dead, Stable, false)
	g.state, g.stateTime = Stable, time.Now()
	g.c.log.Info("consumer group downgraded online to a classic group", "group", g.name, "members", len(g.members), "generation", g.generation)
	g.prepareRebalanceLocked("downgraded from the consumer protocol")
	return true
}

// afterConsumerRemovalLocked persists the group after a member left or was removed,
// downgrading it first when only classic members remain.
func (g *group) afterConsumerRemovalLocked() {
	if g.maybeDowngradeLocked() {
		g.persistMetaLocked()
		return
	}
	g.persistConsumerLocked()
}

// classicJoinConsumerLocked is JoinGroup of a classic member into the consumer group.
func (g *group) classicJoinConsumerLocked(req *kmsg.JoinGroupRequest, client Client, instanceID string, session, rebalance time.Duration) *kmsg.JoinGroupResponse {
	v := req.Version
	cg := g.cg
	if req.ProtocolType != "consumer" {
		return joinError(v, kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	topics, ownedByName, ok := decodeSubscription(req.Protocols[0].Metadata)
	if !ok {
		return joinError(v, kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	bump := false
	var m *cmember
	if instanceID != "" {
		if id, ok := cg.static[instanceID]; ok {
			m = cg.members[id]
			if req.MemberID != "" && req.MemberID != id {
				return joinError(v, kerr.FencedInstanceID.Code, req.MemberID)
			}
		}
	}
	if m == nil && req.MemberID != "" {
		if m = cg.members[req.MemberID]; m == nil {
			return joinError(v, kerr.UnknownMemberID.Code, req.MemberID)
		}
	}
	if m != nil && m.classic == nil {
		return joinError(v, kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	if m == nil {
		if max := g.c.cfg.ConsumerMaxSize; max > 0 && len(cg.members) >= max {
			return joinError(v, kerr.GroupMaxSizeReached.Code, "")
		}
		m = &cmember{id: newMemberID(client.ID, instanceID), instanceID: instanceID, prevEpoch: -1}
		cg.members[m.id] = m
		if instanceID != "" {
			cg.static[instanceID] = m.id
		}
		bump = true
	}
	m.classic = &classicMember{sessionTimeout: session, protocols: slices.Clone(req.Protocols), protocol: req.Protocols[0].Name}
	m.clientID, m.clientHost, m.rebalanceTimeout = client.ID, client.Host, rebalance
	if !slices.Equal(topics, m.topics) {
		m.topics, bump = topics, true
	}
	g.consumerSessionLocked(m)
	if bump || cg.epoch > cg.assignmentEpoch || cg.subs == nil || time.Since(cg.subsAt) >= subscriptionRefresh {
		cg.subs, cg.subsAt = g.subscribedTopicsConsumerLocked(), time.Now()
		if key := subscriptionKey(cg.subs); key != cg.subKey {
			cg.subKey, bump = key, true
		}
	}
	if bump {
		cg.epoch++
	}
	if cg.epoch > cg.assignmentEpoch {
		g.computeTargetLocked(cg.subs)
	}
	ids, _ := g.topicIDsLocked()
	g.reconcileLocked(m, toAssignment(ownedByName, ids), true)
	g.persistConsumerLocked()

	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = v
	resp.Generation, resp.MemberID, resp.LeaderID = m.epoch, m.id, "" // the coordinator assigns
	pt, proto := "consumer", m.classic.protocol
	resp.ProtocolType, resp.Protocol = &pt, &proto
	return resp
}

// classicSyncConsumerLocked is SyncGroup of a classic member of the consumer group: its
// assignment is what it may own now.
func (g *group) classicSyncConsumerLocked(req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse) *kmsg.SyncGroupResponse {
	m := g.cg.members[req.MemberID]
	switch {
	case m == nil || m.classic == nil:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	case req.InstanceID != nil && *req.InstanceID != m.instanceID:
		resp.ErrorCode = kerr.FencedInstanceID.Code
	case req.Generation != m.epoch:
		resp.ErrorCode = kerr.IllegalGeneration.Code
	default:
		g.consumerSessionLocked(m)
		_, names := g.topicIDsLocked()
		resp.MemberAssignment = encodeAssignment(m.assigned, names)
		pt, proto := "consumer", m.classic.protocol
		resp.ProtocolType, resp.Protocol = &pt, &proto
	}
	return resp
}

// classicHeartbeatConsumerLocked is Heartbeat of a classic member of the consumer group:
// REBALANCE_IN_PROGRESS while it is behind its target (it rejoins to reconcile).
func (g *group) classicHeartbeatConsumerLocked(req *kmsg.HeartbeatRequest) int16 {
	cg := g.cg
	m := cg.members[req.MemberID]
	switch {
	case m == nil || m.classic == nil:
		return kerr.UnknownMemberID.Code
	case req.InstanceID != nil && *req.InstanceID != m.instanceID:
		return kerr.FencedInstanceID.Code
	case req.Generation != m.epoch:
		return kerr.IllegalGeneration.Code
	}
	g.consumerSessionLocked(m)
	if cg.epoch > cg.assignmentEpoch || time.Since(cg.subsAt) >= subscriptionRefresh {
		cg.subs, cg.subsAt = g.subscribedTopicsConsumerLocked(), time.Now()
		if key := subscriptionKey(cg.subs); key != cg.subKey {
			cg.subKey = key
			cg.epoch++
		}
		if cg.epoch > cg.assignmentEpoch {
			g.computeTargetLocked(cg.subs)
			g.persistConsumerLocked()
		}
	}
	if m.state != memberStable || m.epoch != cg.assignmentEpoch {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// classicLeaveConsumerLocked is LeaveGroup of a classic member of the consumer group.
func (g *group) classicLeaveConsumerLocked(memberID, instanceID string) int16 {
	cg := g.cg
	if instanceID != "" {
		id, ok := cg.static[instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if memberID != "" && id != memberID {
			return kerr.FencedInstanceID.Code
		}
		memberID = id
	}
	m := cg.members[memberID]
	if m == nil || m.classic == nil {
		return kerr.UnknownMemberID.Code
	}
	g.removeConsumerMemberLocked(m)
	if len(cg.members) == 0 {
		g.persistConsumerLocked()
		return 0
	}
	g.afterConsumerRemovalLocked()
	return 0
}
