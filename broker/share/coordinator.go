package share

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment"
)

// TP names one topic partition by topic id.
type TP struct {
	Topic     [16]byte
	Partition int32
}

// Config configures a Coordinator. Zero durations and limits take Kafka's defaults.
type Config struct {
	Dir                string        // <data>/meta/share
	FS                 segment.FS    // the filesystem seam (segment.OSFS in production)
	LockDuration       time.Duration // group.share.record.lock.duration.ms (30s)
	DeliveryCountLimit int16         // group.share.delivery.count.limit (5)
	MaxRecordLocks     int           // group.share.partition.max.record.locks (2000)
	SessionTimeout     time.Duration // group.share.session.timeout.ms (45s)
	HeartbeatInterval  time.Duration // group.share.heartbeat.interval.ms (5s)
	// Topic resolves a topic name to its id and partition count.
	Topic func(name string) (id [16]byte, partitions int32, ok bool)
	// TopicName resolves a topic id; "" if unknown.
	TopicName func(id [16]byte) string
	// Offsets returns a partition's log start offset and high watermark.
	Offsets func(tp TP) (logStart, hwm int64, ok bool)
	// OtherGroup reports whether name is a group of another type (classic or consumer).
	OtherGroup func(name string) bool
	Logger     *slog.Logger
}

type member struct {
	id, clientID, host string
	rack               *string
	epoch              int32
	topics             []string
	assigned           []TP // sorted
	lastSeen           time.Time
}

type group struct {
	id      string
	epoch   int32
	members map[string]*member
	parts   map[TP]*Partition
	reset   string // share.auto.offset.reset: "latest" (default) or "earliest"
}

type sessKey struct{ group, member string }

type session struct {
	epoch int32 // the epoch the next request must carry
	parts []TP
	stop  func() bool // stops the connection-close hook
}

// Coordinator is the share-group coordinator of this node: membership (ShareGroup-
// Heartbeat), share-partition state and share sessions. Safe for concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	groups   map[string]*group
	sessions map[sessKey]*session

	st *store
}

// New opens the durable state in cfg.Dir and returns the coordinator. Close it.
func New(cfg Config) (*Coordinator, error) {
	if cfg.LockDuration <= 0 {
		cfg.LockDuration = 30 * time.Second
	}
	if cfg.DeliveryCountLimit <= 0 {
		cfg.DeliveryCountLimit = 5
	}
	if cfg.MaxRecordLocks <= 0 {
		cfg.MaxRecordLocks = 2000
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 45 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger, groups: make(map[string]*group), sessions: make(map[sessKey]*session)}
	st, groups, err := openStore(cfg.FS, cfg.Dir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c.st = st
	for _, g := range groups {
		c.groups[g.id] = g
	}
	go st.run(c.encodeDirty)
	return c, nil
}

// Close stops the background writer after a last flush.
func (c *Coordinator) Close() error { return c.st.close() }

// LockDuration is the acquisition lock duration, as ShareFetch reports it.
func (c *Coordinator) LockDuration() time.Duration { return c.cfg.LockDuration }

// Run expires members whose session timed out and acquisition locks, until ctx ends.
func (c *Coordinator) Run(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		c.mu.Lock()
		for _, g := range c.groups {
			for id, m := range g.members {
				if now.Sub(m.lastSeen) > c.cfg.SessionTimeout {
					c.log.Info("share group member session timed out", "group", g.id, "member", id)
					c.removeMemberLocked(g, id)
				}
			}
			for _, p := range g.parts {
				if p.expire(now, c.cfg.DeliveryCountLimit) {
					c.st.dirty(g.id)
				}
			}
		}
		c.mu.Unlock()
	}
}

func (c *Coordinator) groupLocked(id string, create bool) *group {
	g := c.groups[id]
	if g == nil && create {
		g = &group{id: id, members: make(map[string]*member), parts: make(map[TP]*Partition), reset: "latest"}
		c.groups[id] = g
	}
	return g
}

func (c *Coordinator) removeMemberLocked(g *group, id string) {
	delete(g.members, id)
	g.epoch++
	for _, p := range g.parts {
		p.releaseMember(id, c.cfg.DeliveryCountLimit)
	}
	if s := c.sessions[sessKey{g.id, id}]; s != nil {
		s.stop()
		delete(c.sessions, sessKey{g.id, id})
	}
	c.st.dirty(g.id)
}

// partitionLocked returns the state of tp in g, initialising it at the log's end
// (share.auto.offset.reset=latest) or start (earliest) the first time.
func (c *Coordinator) partitionLocked(g *group, tp TP) *Partition {
	p := g.parts[tp]
	if p == nil {
		logStart, hwm, ok := c.cfg.Offsets(tp)
		if !ok {
			return nil
		}
		start := hwm
		if g.reset == "earliest" {
			start = logStart
		}
		p = newPartition(start)
		g.parts[tp] = p
		c.st.dirty(g.id)
	}
	return p
}

// assignmentOf returns every partition of the member's subscribed topics. Share
// partitions may be consumed by many members at once, so every member subscribed to a
// topic is assigned all of its partitions: records are spread by acquisition, not by
// partition ownership.
func (c *Coordinator) assignmentOf(m *member) []TP {
	var out []TP
	for _, t := range m.topics {
		id, n, ok := c.cfg.Topic(t)
		if !ok {
			continue
		}
		for i := int32(0); i < n; i++ {
			out = append(out, TP{id, i})
		}
	}
	slices.SortFunc(out, func(a, b TP) int {
		if d := strings.Compare(string(a.Topic[:]), string(b.Topic[:])); d != 0 {
			return d
		}
		return int(a.Partition - b.Partition)
	})
	return slices.Compact(out)
}

// Heartbeat answers ShareGroupHeartbeat (v1: the member id is chosen by the client).
func (c *Coordinator) Heartbeat(req *kmsg.ShareGroupHeartbeatRequest, clientID, host string) *kmsg.ShareGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = int32(c.cfg.HeartbeatInterval / time.Millisecond)
	fail := func(err *kerr.Error, msg string) *kmsg.ShareGroupHeartbeatResponse {
		resp.ErrorCode = err.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	switch {
	case req.GroupID == "":
		return fail(kerr.InvalidRequest, "GroupId can't be empty.")
	case req.MemberID == "":
		return fail(kerr.InvalidRequest, "MemberId can't be empty.")
	case req.MemberEpoch < -1:
		return fail(kerr.InvalidRequest, "MemberEpoch is invalid.")
	case req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0:
		return fail(kerr.InvalidRequest, "SubscribedTopicNames must be set in first request.")
	}
	if c.cfg.OtherGroup != nil && c.cfg.OtherGroup(req.GroupID) {
		return fail(kerr.GroupIDNotFound, "Group "+req.GroupID+" is not a share group.")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(req.GroupID, req.MemberEpoch == 0)
	var m *member
	if g != nil {
		m = g.members[req.MemberID]
	}
	memberID := req.MemberID
	resp.MemberID = &memberID
	if req.MemberEpoch == -1 {
		if m == nil {
			return fail(kerr.UnknownMemberID, "")
		}
		c.removeMemberLocked(g, m.id)
		resp.MemberEpoch = -1
		return resp
	}
	if m == nil {
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID, "")
		}
		m = &member{id: req.MemberID}
		g.members[m.id] = m
		g.epoch++
		m.epoch = g.epoch
	} else if req.MemberEpoch != 0 && req.MemberEpoch != m.epoch {
		return fail(kerr.FencedMemberEpoch, "")
	}
	m.lastSeen = time.Now()
	m.clientID, m.host = clientID, host
	if req.RackID != nil {
		m.rack = req.RackID
	}
	if req.SubscribedTopicNames != nil {
		m.topics = slices.Clone(req.SubscribedTopicNames)
		slices.Sort(m.topics)
		m.topics = slices.Compact(m.topics)
	}
	send := req.MemberEpoch == 0 || req.SubscribedTopicNames != nil
	if a := c.assignmentOf(m); !slices.Equal(a, m.assigned) {
		if m.assigned != nil || req.MemberEpoch != 0 {
			g.epoch++
			m.epoch = g.epoch
		}
		m.assigned = a
		send = true
		for _, tp := range a {
			c.partitionLocked(g, tp)
		}
		c.st.dirty(g.id)
	}
	resp.MemberEpoch = m.epoch
	if send {
		resp.Assignment = assignmentResp(m.assigned)
	}
	return resp
}

func assignmentResp(tps []TP) *kmsg.ShareGroupHeartbeatResponseAssignment {
	a := kmsg.NewShareGroupHeartbeatResponseAssignment()
	a.TopicPartitions = []kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition{}
	for _, tp := range tps {
		n := len(a.TopicPartitions)
		if n == 0 || a.TopicPartitions[n-1].TopicID != tp.Topic {
			t := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
			t.TopicID = tp.Topic
			a.TopicPartitions = append(a.TopicPartitions, t)
			n++
		}
		a.TopicPartitions[n-1].Partitions = append(a.TopicPartitions[n-1].Partitions, tp.Partition)
	}
	return &a
}

// Describe answers ShareGroupDescribe.
func (c *Coordinator) Describe(req *kmsg.ShareGroupDescribeRequest) *kmsg.ShareGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.GroupIDs {
		sg := kmsg.NewShareGroupDescribeResponseGroup()
		sg.GroupID = id
		sg.AuthorizedOperations = -2147483648
		g := c.groups[id]
		if g == nil {
			sg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			sg.ErrorMessage = &msg
			resp.Groups = append(resp.Groups, sg)
			continue
		}
		sg.GroupEpoch, sg.AssignmentEpoch, sg.Assignor = g.epoch, g.epoch, "simple"
		sg.GroupState = "Empty"
		if len(g.members) > 0 {
			sg.GroupState = "Stable"
		}
		ids := make([]string, 0, len(g.members))
		for mid := range g.members {
			ids = append(ids, mid)
		}
		slices.Sort(ids)
		for _, mid := range ids {
			m := g.members[mid]
			sm := kmsg.NewShareGroupDescribeResponseGroupMember()
			sm.MemberID, sm.RackID, sm.MemberEpoch, sm.ClientID, sm.ClientHost = m.id, m.rack, m.epoch, m.clientID, m.host
			sm.SubscribedTopicNames = slices.Clone(m.topics)
			for _, tp := range m.assigned {
				tps := sm.Assignment.TopicPartitions
				if n := len(tps); n == 0 || tps[n-1].TopicID != tp.Topic {
					t := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
					t.TopicID, t.Topic = tp.Topic, c.cfg.TopicName(tp.Topic)
					sm.Assignment.TopicPartitions = append(tps, t)
				}
				n := len(sm.Assignment.TopicPartitions)
				sm.Assignment.TopicPartitions[n-1].Partitions = append(sm.Assignment.TopicPartitions[n-1].Partitions, tp.Partition)
			}
			sg.Members = append(sg.Members, sm)
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}

// IsGroup reports whether id is a share group.
func (c *Coordinator) IsGroup(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[id] != nil
}

// Groups lists the share groups and whether each has members.
func (c *Coordinator) Groups() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.groups))
	for id, g := range c.groups {
		out[id] = len(g.members) > 0
	}
	return out
}

// SetAutoOffsetReset sets share.auto.offset.reset of group id ("latest" or "earliest"),
// creating the group if needed.
func (c *Coordinator) SetAutoOffsetReset(id, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groupLocked(id, true)
	g.reset = v
	c.st.dirty(id)
}

// AutoOffsetReset returns share.auto.offset.reset of group id.
func (c *Coordinator) AutoOffsetReset(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[id]; g != nil {
		return g.reset
	}
	return "latest"
}

// Sync waits until every change made before the call is durable.
func (c *Coordinator) Sync(ctx context.Context) error { return c.st.sync(ctx) }
