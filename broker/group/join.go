package group

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client identifies the connection a request came from (DescribeGroups shows it and
// member ids start with the client id, as in Kafka).
type Client struct {
	ID   string // client.id from the request header
	Host string // remote address, e.g. "/127.0.0.1"
	// DescribeTopic, when not nil, reports whether the client's principal may DESCRIBE a
	// topic: a KIP-848 regex subscription matches only those (as Kafka filters it).
	// AuthKey names the principal and host it decides for (members with the same key and
	// subscription share one resolution).
	DescribeTopic func(topic string) bool
	AuthKey       string
}

func strOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// JoinGroup handles JoinGroup v0-v9. It blocks until the rebalance completes, the member
// is fenced or removed, or ctx is done (then it returns REBALANCE_IN_PROGRESS; the
// member stays in the group until its session expires, as with a lost connection).
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, client Client) *kmsg.JoinGroupResponse {
	v := req.Version
	instanceID := strOrEmpty(req.InstanceID)
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := session
	if v >= 1 {
		rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	switch {
	case req.Group == "":
		return joinError(v, kerr.InvalidGroupID.Code, req.MemberID)
	case session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout:
		return joinError(v, kerr.InvalidSessionTimeout.Code, req.MemberID)
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return joinError(v, kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	var g *group
	if req.MemberID == "" {
		g = c.getOrCreate(req.Group)
	} else if g = c.lookup(req.Group); g == nil {
		return joinError(v, kerr.UnknownMemberID.Code, req.MemberID)
	}
	if g.cg != nil {
		// A consumer group (KIP-848): an empty one becomes classic again; otherwise the
		// member joins it as a classic member (consumer_classic.go).
		if len(g.cg.members) > 0 || req.MemberID != "" {
			resp := g.classicJoinConsumerLocked(req, client, instanceID, session, rebalance)
			g.mu.Unlock()
			return resp
		}
		g.convertToClassicLocked()
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	resp := g.joinLocked(req, client, instanceID, session, rebalance, ch)
	g.mu.Unlock()
	if resp != nil {
		return resp
	}
	select {
	case resp := <-ch:
		return resp
	case <-ctx.Done():
		return joinError(v, kerr.RebalanceInProgress.Code, req.MemberID)
	}
}

// joinLocked returns the response now, or nil when the caller must wait on ch.
func (g *group) joinLocked(req *kmsg.JoinGroupRequest, client Client, instanceID string, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	v := req.Version
	if g.state != Empty && (req.ProtocolType != g.protocolType || !g.supportsLocked(req.MemberID, req.Protocols)) {
		return joinError(v, kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	if req.MemberID == "" {
		if instanceID != "" {
			if oldID, ok := g.static[instanceID]; ok {
				return g.replaceStaticLocked(g.members[oldID], req, client, session, rebalance, ch)
			}
		}
		if max := g.c.cfg.MaxGroupSize; max > 0 && len(g.members)+len(g.pending) >= max {
			return joinError(v, kerr.GroupMaxSizeReached.Code, "")
		}
		id := newMemberID(client.ID, instanceID)
		if v >= 4 && instanceID == "" {
			// KIP-394: hand out the id first; the member rejoins with it.
			g.addPendingLocked(id, session)
			return joinError(v, kerr.MemberIDRequired.Code, id)
		}
		g.addMemberLocked(id, req, client, instanceID, session, rebalance, ch)
		return nil
	}
	if t, ok := g.pending[req.MemberID]; ok {
		t.Stop()
		delete(g.pending, req.MemberID)
		g.addMemberLocked(req.MemberID, req, client, instanceID, session, rebalance, ch)
		return nil
	}
	if instanceID != "" {
		if cur, ok := g.static[instanceID]; ok && cur != req.MemberID {
			return joinError(v, kerr.FencedInstanceID.Code, req.MemberID)
		}
	}
	m := g.members[req.MemberID]
	if m == nil {
		return joinError(v, kerr.UnknownMemberID.Code, req.MemberID)
	}
	if m.instanceID != "" && instanceID != m.instanceID {
		return joinError(v, kerr.FencedInstanceID.Code, req.MemberID)
	}
	switch g.state {
	case PreparingRebalance:
		g.updateMemberLocked(m, req, client, session, rebalance, ch)
		g.maybeCompleteJoinLocked()
		return nil
	case CompletingRebalance:
		if sameProtocols(m.protocols, req.Protocols) {
			// A retry of a join that already completed: the same answer again.
			return g.joinResponseLocked(m, v, false)
		}
		g.updateMemberLocked(m, req, client, session, rebalance, ch)
		g.prepareRebalanceLocked("member metadata changed: " + m.id)
		return nil
	case Stable:
		if m.id == g.leader || !sameProtocols(m.protocols, req.Protocols) {
			g.updateMemberLocked(m, req, client, session, rebalance, ch)
			g.prepareRebalanceLocked("leader rejoined or metadata changed: " + m.id)
			return nil
		}
		g.heartbeatLocked(m)
		return g.joinResponseLocked(m, v, false)
	default:
		return joinError(v, kerr.UnknownMemberID.Code, req.MemberID)
	}
}

func newMemberID(clientID, instanceID string) string {
	prefix := clientID
	if instanceID != "" {
		prefix = instanceID
	}
	return prefix + "-" + uuid.NewString()
}

// supportsLocked reports whether protocols intersect what every other member supports.
func (g *group) supportsLocked(except string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	for _, p := range protocols {
		all := true
		for id, m := range g.members {
			if id != except && !m.hasProtocol(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (g *group) addMemberLocked(id string, req *kmsg.JoinGroupRequest, client Client, instanceID string, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) {
	m := &member{id: id, instanceID: instanceID, isNew: true}
	g.members[id] = m
	if instanceID != "" {
		g.static[instanceID] = id
	}
	if g.state == Empty || len(g.members) == 1 {
		g.protocolType = req.ProtocolType
	}
	if g.leader == "" {
		g.leader = id
	}
	g.updateMemberLocked(m, req, client, session, rebalance, ch)
	if g.state == PreparingRebalance && g.initialDelay {
		g.newDuringDelay = true
	}
	if g.state == PreparingRebalance {
		g.maybeCompleteJoinLocked()
	} else {
		g.prepareRebalanceLocked("member joined: " + id)
	}
}

func (g *group) updateMemberLocked(m *member, req *kmsg.JoinGroupRequest, client Client, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) {
	m.clientID, m.clientHost = client.ID, client.Host
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	m.protocolType = req.ProtocolType
	m.protocols = append([]kmsg.JoinGroupRequestProtocol(nil), req.Protocols...)
	if m.joinCh != nil && m.joinCh != ch {
		// A newer join from the same member supersedes a waiting one.
		m.joinCh <- joinError(m.joinVersion, kerr.RebalanceInProgress.Code, m.id)
	}
	m.joinCh, m.joinVersion = ch, req.Version
	g.heartbeatLocked(m)
}

// replaceStaticLocked handles a known group.instance.id joining without a member id
// (KIP-345): the old member id is fenced and replaced by a new one. In a Stable group
// whose selected protocol stays the same with the member's new protocols this needs no
// rebalance, as in Kafka: the metadata bytes may differ (a restarted Java consumer's
// subscription no longer lists the partitions it owned), the assignment stays. Unlike
// Kafka, a consumer-protocol member whose subscribed topics changed does rebalance
// (Kafka leaves that to the leader's client, KIP-814).
func (g *group) replaceStaticLocked(old *member, req *kmsg.JoinGroupRequest, client Client, session, rebalance time.Duration, ch chan *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	v := req.Version
	newID := newMemberID(client.ID, old.instanceID)
	if old.joinCh != nil {
		old.joinCh <- joinError(old.joinVersion, kerr.FencedInstanceID.Code, old.id)
		old.joinCh = nil
	}
	if old.syncCh != nil {
		old.syncCh <- syncResult{code: kerr.FencedInstanceID.Code}
		old.syncCh = nil
	}
	delete(g.members, old.id)
	wasLeader := g.leader == old.id
	g.c.log.Info("static member replaced", "group", g.name, "instance", old.instanceID, "old_member", old.id, "member", newID)
	old.id = newID
	g.members[newID] = old
	g.static[old.instanceID] = newID
	if wasLeader {
		g.leader = newID
	}
	m := old
	unchanged := req.ProtocolType == m.protocolType
	if unchanged && g.state == Stable {
		oldProtocols := m.protocols
		oldTopics := m.subscribedTopics(g.protocolType, g.protocol)
		m.protocols = append([]kmsg.JoinGroupRequestProtocol(nil), req.Protocols...)
		unchanged = g.selectProtocolLocked() == g.protocol &&
			slices.Equal(oldTopics, m.subscribedTopics(g.protocolType, g.protocol))
		if !unchanged {
			m.protocols = oldProtocols // updateMemberLocked below sets them again
		}
	}
	switch {
	case g.state == Stable && unchanged && (!wasLeader || v >= 9):
		m.clientID, m.clientHost = client.ID, client.Host
		m.sessionTimeout, m.rebalanceTimeout = session, rebalance
		g.heartbeatLocked(m)
		g.persistMetaLocked()
		// The leader (v9+) is told to skip assignment: the group keeps its assignment.
		return g.joinResponseLocked(m, v, wasLeader)
	case g.state == PreparingRebalance:
		g.updateMemberLocked(m, req, client, session, rebalance, ch)
		g.maybeCompleteJoinLocked()
		return nil
	default:
		g.updateMemberLocked(m, req, client, session, rebalance, ch)
		g.prepareRebalanceLocked("static member rejoined with new metadata: " + newID)
		return nil
	}
}

// SyncGroup handles SyncGroup v0-v5. Followers wait until the leader's SyncGroup arrives.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(code int16) *kmsg.SyncGroupResponse {
		resp.ErrorCode = code
		return resp
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	g := c.lookup(req.Group)
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	if g.cg != nil {
		defer g.mu.Unlock()
		return g.classicSyncConsumerLocked(req, resp)
	}
	m, code := g.validateMemberLocked(req.MemberID, strOrEmpty(req.InstanceID), req.Generation)
	if code == 0 && req.Version >= 5 && ((req.ProtocolType != nil && *req.ProtocolType != g.protocolType) ||
		(req.Protocol != nil && *req.Protocol != g.protocol)) {
		code = kerr.InconsistentGroupProtocol.Code
	}
	if code != 0 {
		g.mu.Unlock()
		return fail(code)
	}
	if req.Version >= 5 {
		pt, p := g.protocolType, g.protocol
		resp.ProtocolType, resp.Protocol = &pt, &p
	}
	switch g.state {
	case PreparingRebalance:
		g.mu.Unlock()
		return fail(kerr.RebalanceInProgress.Code)
	case Stable:
		m.synced = true
		resp.MemberAssignment = m.assignment
		g.heartbeatLocked(m)
		g.mu.Unlock()
		return resp
	case CompletingRebalance:
	default:
		g.mu.Unlock()
		return fail(kerr.UnknownMemberID.Code)
	}
	m.synced = true
	g.heartbeatLocked(m)
	ch := make(chan syncResult, 1)
	if m.syncCh != nil {
		m.syncCh <- syncResult{code: kerr.RebalanceInProgress.Code}
	}
	m.syncCh = ch
	if m.id == g.leader {
		assignments := make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			assignments[a.MemberID] = a.MemberAssignment
		}
		for _, o := range g.members {
			o.assignment = assignments[o.id]
		}
		g.transitionLocked(Stable)
		g.persistMetaLocked()
		for _, o := range g.members {
			if o.syncCh != nil {
				o.syncCh <- syncResult{assignment: o.assignment}
				o.syncCh = nil
			}
		}
	}
	g.mu.Unlock()
	select {
	case r := <-ch:
		resp.ErrorCode = r.code
		resp.MemberAssignment = r.assignment
		return resp
	case <-ctx.Done():
		return fail(kerr.RebalanceInProgress.Code)
	}
}

// validateMemberLocked checks member id, instance id and generation as Kafka does for
// SyncGroup, Heartbeat and OffsetCommit. The returned member is valid when code == 0.
func (g *group) validateMemberLocked(memberID, instanceID string, generation int32) (*member, int16) {
	if instanceID != "" {
		if cur, ok := g.static[instanceID]; ok && cur != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if m.instanceID != "" && instanceID != "" && m.instanceID != instanceID {
		return nil, kerr.FencedInstanceID.Code
	}
	if generation != g.generation {
		return nil, kerr.IllegalGeneration.Code
	}
	return m, 0
}

// Heartbeat handles Heartbeat v0-v4.
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.lookup(req.Group)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	defer g.mu.Unlock()
	if g.cg != nil {
		resp.ErrorCode = g.classicHeartbeatConsumerLocked(req)
		return resp
	}
	m, code := g.validateMemberLocked(req.MemberID, strOrEmpty(req.InstanceID), req.Generation)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	switch g.state {
	case Stable, CompletingRebalance:
		g.heartbeatLocked(m)
	case PreparingRebalance:
		g.heartbeatLocked(m)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	default:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	}
	return resp
}

// LeaveGroup handles LeaveGroup v0-v5 (v3+: a batch of members, by member or instance id).
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.lookup(req.Group)
	codes := make([]int16, len(leaving))
	if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
	} else {
		for i, l := range leaving {
			codes[i] = g.leaveLocked(l.MemberID, strOrEmpty(l.InstanceID))
		}
		g.mu.Unlock()
	}
	if req.Version < 3 {
		resp.ErrorCode = codes[0]
		return resp
	}
	for i, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = l.MemberID, l.InstanceID, codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

func (g *group) leaveLocked(memberID, instanceID string) int16 {
	if g.cg != nil {
		return g.classicLeaveConsumerLocked(memberID, instanceID)
	}
	var m *member
	if instanceID != "" {
		cur, ok := g.static[instanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if memberID != "" && cur != memberID {
			return kerr.FencedInstanceID.Code
		}
		m = g.members[cur]
	} else if memberID != "" {
		if t, ok := g.pending[memberID]; ok {
			t.Stop()
			delete(g.pending, memberID)
			g.maybeCompleteJoinLocked()
			return 0
		}
		m = g.members[memberID]
	}
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.c.log.Debug("group member left", "group", g.name, "member", m.id)
	g.removeMemberAndUpdateLocked(m, kerr.UnknownMemberID.Code)
	return 0
}

// subscribedTopics returns the sorted topics of the member's consumer-protocol subscription
// for protocol; nil for other protocol types or undecodable metadata.
func (m *member) subscribedTopics(protocolType, protocol string) []string {
	if protocolType != "consumer" {
		return nil
	}
	var md kmsg.ConsumerMemberMetadata
	if err := md.ReadFrom(m.metadataFor(protocol)); err != nil {
		return nil
	}
	return slices.Sorted(slices.Values(md.Topics))
}
