package group

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SupportedVersions is the version range served per API key, for the broker's
// ApiVersions response. ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848) are
// served at the versions Kafka 4.x advertises. OffsetCommit and OffsetFetch stop at v9
// because v10 addresses topics by id.
func SupportedVersions() map[int16][2]int16 {
	return map[int16][2]int16{
		kmsg.OffsetCommit.Int16():    {0, 9},
		kmsg.OffsetFetch.Int16():     {0, 9},
		kmsg.FindCoordinator.Int16(): {0, 6},
		kmsg.JoinGroup.Int16():       {0, 9},
		kmsg.Heartbeat.Int16():       {0, 4},
		kmsg.LeaveGroup.Int16():      {0, 5},
		kmsg.SyncGroup.Int16():       {0, 5},
		kmsg.DescribeGroups.Int16():  {0, 6},
		kmsg.ListGroups.Int16():      {0, 5},
		kmsg.DeleteGroups.Int16():    {0, 2},
		kmsg.OffsetDelete.Int16():    {0, 0},

		kmsg.ConsumerGroupHeartbeat.Int16(): {0, 1},
		kmsg.ConsumerGroupDescribe.Int16():  {0, 1},
	}
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Handle dispatches any request whose key is in SupportedVersions to its handler; it
// returns nil for other keys. The broker can route all group keys through it:
//
//	resp := groups.Handle(ctx, req, group.Client{ID: clientID, Host: clientHost},
//		group.Node{NodeID: nodeID, Host: advertisedHost, Port: advertisedPort})
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request, client Client, self Node) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.FindCoordinatorRequest:
		return c.FindCoordinator(ctx, r, self)
	case *kmsg.JoinGroupRequest:
		return c.JoinGroup(ctx, r, client)
	case *kmsg.SyncGroupRequest:
		return c.SyncGroup(ctx, r)
	case *kmsg.HeartbeatRequest:
		return c.Heartbeat(ctx, r)
	case *kmsg.LeaveGroupRequest:
		return c.LeaveGroup(ctx, r)
	case *kmsg.OffsetCommitRequest:
		return c.OffsetCommit(ctx, r)
	case *kmsg.OffsetFetchRequest:
		return c.OffsetFetch(ctx, r)
	case *kmsg.ListGroupsRequest:
		return c.ListGroups(ctx, r)
	case *kmsg.DescribeGroupsRequest:
		return c.DescribeGroups(ctx, r)
	case *kmsg.DeleteGroupsRequest:
		return c.DeleteGroups(ctx, r)
	case *kmsg.OffsetDeleteRequest:
		return c.OffsetDelete(ctx, r)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		return c.ConsumerGroupHeartbeat(ctx, r, client)
	case *kmsg.ConsumerGroupDescribeRequest:
		return c.ConsumerGroupDescribe(ctx, r)
	}
	return nil
}

// Node is the broker's own address, the coordinator of every group and transaction.
type Node struct {
	NodeID int32
	Host   string
	Port   int32
}

// FindCoordinator handles FindCoordinator v0-v6 for group keys (type 0) and
// transaction keys (type 1): this broker coordinates everything.
func (c *Coordinator) FindCoordinator(_ context.Context, req *kmsg.FindCoordinatorRequest, self Node) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	code := int16(0)
	if req.CoordinatorType != 0 && req.CoordinatorType != 1 {
		code = kerr.InvalidRequest.Code
	}
	if req.Version < 4 {
		resp.ErrorCode = code
		if code == 0 {
			resp.NodeID, resp.Host, resp.Port = self.NodeID, self.Host, self.Port
		} else {
			resp.NodeID = -1
		}
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key, rc.ErrorCode = key, code
		if code == 0 {
			rc.NodeID, rc.Host, rc.Port = self.NodeID, self.Host, self.Port
		} else {
			rc.NodeID = -1
		}
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	return resp
}

// ListGroups handles ListGroups v0-v5 (v4 state filter, v5 type filter: "classic" or
// "consumer" for KIP-848 groups, whose states are Empty, Assigning, Reconciling, Stable).
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	matches := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	c.mu.Lock()
	groups := c.groupList()
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		state, pt, stateName, typ := g.state, g.protocolType, g.state.String(), "classic"
		if g.cg != nil {
			pt, stateName, typ = "consumer", g.cg.stateName(), "consumer"
		}
		g.mu.Unlock()
		if state == Dead || !matches(req.StatesFilter, stateName) || !matches(req.TypesFilter, typ) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.name, pt, stateName, typ
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// MemberDescription describes one member.
type MemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte // for the selected protocol
	Assignment []byte // as sent by the leader
}

// Description is a consistent view of a group (for DescribeGroups, metrics and
// `strata group describe`; lag = partition high watermark - committed offset).
type Description struct {
	Group        string
	State        State
	ProtocolType string
	Protocol     string
	Generation   int32
	Leader       string
	Members      []MemberDescription
	Offsets      map[string]map[int32]OffsetValue
	StateSince   time.Time
	// Type is "classic" or "consumer" (KIP-848). A consumer group's state is in
	// ConsumerState (Empty, Assigning, Reconciling, Stable), its epoch in Generation and
	// its members have no classic metadata or assignment bytes.
	Type          string
	ConsumerState string
}

// Describe returns a copy of the group's state; ok is false for unknown groups.
func (c *Coordinator) Describe(name string) (Description, bool) {
	g := c.lookup(name)
	if g == nil {
		return Description{}, false
	}
	defer g.mu.Unlock()
	d := Description{Group: name, State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol,
		Generation: g.generation, Leader: g.leader, StateSince: g.stateTime,
		Offsets: make(map[string]map[int32]OffsetValue, len(g.offsets))}
	d.Type = "classic"
	for _, id := range g.memberIDsLocked() {
		m := g.members[id]
		d.Members = append(d.Members, MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID,
			ClientHost: m.clientHost, Metadata: m.metadataFor(g.protocol), Assignment: m.assignment})
	}
	if cg := g.cg; cg != nil {
		d.Type, d.ConsumerState, d.ProtocolType, d.Generation, d.StateSince = "consumer", cg.stateName(), "consumer", cg.epoch, cg.stateTime
		for _, id := range sortedKeys(cg.members) {
			m := cg.members[id]
			d.Members = append(d.Members, MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost})
		}
	}
	for t, parts := range g.offsets {
		cp := make(map[int32]OffsetValue, len(parts))
		for p, v := range parts {
			cp[p] = v
		}
		d.Offsets[t] = cp
	}
	return d, true
}

// Groups returns the names of all live groups, sorted.
func (c *Coordinator) Groups() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.groups)
}

// DescribeGroups handles DescribeGroups v0-v6. Member metadata and assignments are shown
// only for Stable groups (as Kafka does). An unknown group, or a KIP-848 consumer group
// (ConsumerGroupDescribe describes those), is "Dead" without error before v6 and
// GROUP_ID_NOT_FOUND from v6 (KIP-1043), as Kafka 4.x answers.
func (c *Coordinator) DescribeGroups(_ context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = name
		rg.AuthorizedOperations = -2147483648
		d, ok := c.Describe(name)
		switch {
		case name == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		case !ok || d.Type == "consumer":
			rg.State = Dead.String()
			if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "Group " + name + " not found." // Kafka's words
				if ok {
					msg = "Group " + name + " is not a classic group."
				}
				rg.ErrorMessage = &msg
			}
		default:
			rg.State, rg.ProtocolType = d.State.String(), d.ProtocolType
			if d.State == Stable {
				rg.Protocol = d.Protocol
			}
			for _, m := range d.Members {
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID, rm.ClientID, rm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
				if m.InstanceID != "" {
					iid := m.InstanceID
					rm.InstanceID = &iid
				}
				if d.State == Stable {
					rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
				}
				rg.Members = append(rg.Members, rm)
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// DeleteGroups handles DeleteGroups v0-v2: only Empty groups can be deleted (their
// offsets go with them).
func (c *Coordinator) DeleteGroups(_ context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		rg.ErrorCode = c.deleteGroup(name)
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(name string) int16 {
	if name == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.lookup(name)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	defer g.mu.Unlock()
	if g.state != Empty || len(g.members) > 0 || (g.cg != nil && len(g.cg.members) > 0) {
		return kerr.NonEmptyGroup.Code
	}
	if err := c.store.Append([]Record{{Kind: KindGroupDelete, Group: name}}); err != nil {
		c.log.Error("cannot persist group deletion", "group", name, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	g.offsets = make(map[string]map[int32]OffsetValue)
	g.removeLocked()
	return 0
}
