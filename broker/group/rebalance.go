package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file is the classic rebalance state machine. Every method ending in Locked runs
// with g.mu held. Timer callbacks take g.mu themselves and check that they are current.
//
//	Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
//	CompletingRebalance --leader SyncGroup--> Stable
//	Stable / CompletingRebalance --join with new metadata, leave, expiry--> PreparingRebalance
//	PreparingRebalance --nobody rejoined--> Empty;  Empty --DeleteGroups / offsets expired--> Dead

// heartbeatLocked (re)arms m's session timer.
func (g *group) heartbeatLocked(m *member) {
	m.hbSeq++
	seq := m.hbSeq
	if m.hbTimer != nil {
		m.hbTimer.Stop()
	}
	m.hbTimer = time.AfterFunc(m.sessionTimeout, func() { g.onSessionExpired(m, seq) })
}

func (g *group) onSessionExpired(m *member, seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == Dead || g.members[m.id] != m || m.hbSeq != seq {
		return
	}
	// A member waiting for its join or sync response is kept alive: the rebalance and
	// sync timeouts bound those waits.
	if m.joinCh != nil || m.syncCh != nil {
		g.heartbeatLocked(m)
		return
	}
	g.c.log.Info("group member session expired", "group", g.name, "member", m.id)
	g.removeMemberAndUpdateLocked(m, kerr.UnknownMemberID.Code)
}

// addPendingLocked remembers a member id handed out with MEMBER_ID_REQUIRED; it must
// rejoin within the session timeout.
func (g *group) addPendingLocked(id string, session time.Duration) {
	g.pending[id] = time.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.pending[id]; !ok || g.state == Dead {
			return
		}
		delete(g.pending, id)
		g.maybeCompleteJoinLocked()
	})
}

func (g *group) maxRebalanceTimeoutLocked() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// prepareRebalanceLocked moves the group to PreparingRebalance.
func (g *group) prepareRebalanceLocked(reason string) {
	if g.state == PreparingRebalance || g.state == Dead {
		return
	}
	if g.state == CompletingRebalance {
		g.failSyncsLocked(kerr.RebalanceInProgress.Code)
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
	wasEmpty := g.state == Empty
	g.transitionLocked(PreparingRebalance)
	g.c.log.Debug("group preparing rebalance", "group", g.name, "reason", reason, "generation", g.generation)
	rebalanceTimeout := g.maxRebalanceTimeoutLocked()
	delay := rebalanceTimeout
	g.initialDelay = false
	if wasEmpty && g.c.cfg.InitialRebalanceDelay > 0 {
		g.initialDelay = true
		delay = min(g.c.cfg.InitialRebalanceDelay, rebalanceTimeout)
		g.delayRemaining = max(rebalanceTimeout-g.c.cfg.InitialRebalanceDelay, 0)
		g.newDuringDelay = false
	}
	g.armRebalanceTimerLocked(delay)
	g.maybeCompleteJoinLocked()
}

func (g *group) armRebalanceTimerLocked(d time.Duration) {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	g.rebalanceSeq++
	seq := g.rebalanceSeq
	g.rebalanceTimer = time.AfterFunc(d, func() { g.onRebalanceTimeout(seq) })
}

func (g *group) onRebalanceTimeout(seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rebalanceSeq != seq || g.state != PreparingRebalance {
		return
	}
	if g.initialDelay && g.newDuringDelay && g.delayRemaining > 0 {
		// KIP-134: members are still arriving; wait up to another initial delay.
		d := min(g.c.cfg.InitialRebalanceDelay, g.delayRemaining)
		g.delayRemaining -= d
		g.newDuringDelay = false
		g.armRebalanceTimerLocked(d)
		return
	}
	g.initialDelay = false
	g.completeJoinLocked()
}

func (g *group) allJoinedLocked() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return false
		}
	}
	return true
}

// maybeCompleteJoinLocked completes the join phase early when every member rejoined
// (never during the initial delay, whose purpose is to wait for more members).
func (g *group) maybeCompleteJoinLocked() {
	if g.state == PreparingRebalance && !g.initialDelay && g.allJoinedLocked() {
		g.completeJoinLocked()
	}
}

// completeJoinLocked ends the join phase: members that did not rejoin are removed, the
// generation advances, a protocol and leader are chosen and every waiting JoinGroup gets
// its response.
func (g *group) completeJoinLocked() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
	g.rebalanceSeq++
	for _, id := range g.memberIDsLocked() {
		if m := g.members[id]; m.joinCh == nil {
			g.c.log.Info("group member did not rejoin in time", "group", g.name, "member", id)
			g.removeMemberLocked(m, kerr.UnknownMemberID.Code)
		}
	}
	g.generation++
	g.c.cfg.Metrics.rebalanced()
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.transitionLocked(Empty)
		g.persistMetaLocked()
		return
	}
	g.protocol = g.selectProtocolLocked()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.memberIDsLocked()[0]
	}
	g.transitionLocked(CompletingRebalance)
	g.c.log.Debug("group join completed", "group", g.name, "generation", g.generation,
		"protocol", g.protocol, "leader", g.leader, "members", len(g.members))
	for _, m := range g.members {
		m.synced = false
		m.isNew = false
		m.assignment = nil
		resp := g.joinResponseLocked(m, m.joinVersion, false)
		m.joinCh <- resp
		m.joinCh = nil
		g.heartbeatLocked(m)
	}
	gen := g.generation
	g.syncTimer = time.AfterFunc(g.maxRebalanceTimeoutLocked(), func() { g.onSyncTimeout(gen) })
}

// onSyncTimeout removes members that never sent SyncGroup for generation gen.
func (g *group) onSyncTimeout(gen int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.generation != gen || (g.state != CompletingRebalance && g.state != Stable) {
		return
	}
	for _, id := range g.memberIDsLocked() {
		if m := g.members[id]; m != nil && !m.synced {
			g.c.log.Info("group member did not sync in time", "group", g.name, "member", id)
			g.removeMemberAndUpdateLocked(m, kerr.UnknownMemberID.Code)
		}
	}
}

// joinResponseLocked is the successful JoinGroup response for m in the current generation.
func (g *group) joinResponseLocked(m *member, version int16, skipAssignment bool) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = version
	resp.Generation = g.generation
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	resp.SkipAssignment = skipAssignment
	if m.id == g.leader {
		for _, id := range g.memberIDsLocked() {
			o := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			if o.instanceID != "" {
				iid := o.instanceID
				jm.InstanceID = &iid
			}
			jm.ProtocolMetadata = o.metadataFor(g.protocol)
			resp.Members = append(resp.Members, jm)
		}
	}
	return resp
}

// selectProtocolLocked picks the protocol every member supports with the most votes, each
// member voting for the first of its protocols (in its preference order) that all support.
func (g *group) selectProtocolLocked() string {
	ids := g.memberIDsLocked()
	first := g.members[ids[0]]
	var candidates []string
	for _, p := range first.protocols {
		all := true
		for _, id := range ids[1:] {
			if !g.members[id].hasProtocol(p.Name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := make(map[string]int)
	for _, id := range ids {
		for _, p := range g.members[id].protocols {
			if contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// failSyncsLocked answers every waiting SyncGroup with code.
func (g *group) failSyncsLocked(code int16) {
	for _, m := range g.members {
		if m.syncCh != nil {
			m.syncCh <- syncResult{code: code}
			m.syncCh = nil
		}
	}
}

// removeMemberLocked drops m, answering its pending requests with code.
func (g *group) removeMemberLocked(m *member, code int16) {
	if m.hbTimer != nil {
		m.hbTimer.Stop()
	}
	m.hbSeq++
	if m.joinCh != nil {
		m.joinCh <- joinError(m.joinVersion, code, m.id)
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{code: code}
		m.syncCh = nil
	}
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if ids := g.memberIDsLocked(); len(ids) > 0 {
			g.leader = ids[0]
		}
	}
}

// removeMemberAndUpdateLocked removes m and moves the group on: a Stable or completing
// group rebalances; a preparing one may now be complete.
func (g *group) removeMemberAndUpdateLocked(m *member, code int16) {
	g.removeMemberLocked(m, code)
	switch g.state {
	case Stable, CompletingRebalance:
		g.prepareRebalanceLocked("member removed: " + m.id)
	case PreparingRebalance:
		g.maybeCompleteJoinLocked()
	}
}

func joinError(version, code int16, memberID string) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = version
	resp.ErrorCode = code
	resp.Generation = -1
	resp.MemberID = memberID
	if version < 7 {
		empty := ""
		resp.Protocol = &empty
	}
	return resp
}
