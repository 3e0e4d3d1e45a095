package group

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, named as Kafka names it in DescribeGroups/ListGroups.
type State int8

// Group states.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	default:
		return "Dead"
	}
}

// Coordinator is the classic group coordinator of a single-node broker: it coordinates
// every group. Handlers are safe for concurrent use; JoinGroup and SyncGroup block until
// their response is ready (or ctx is done).
//
// Lock order: group.mu before Coordinator.mu (the latter guards only the map and is never
// held while acquiring a group lock).
type Coordinator struct {
	cfg   Config
	store OffsetStore
	log   *slog.Logger

	mu     sync.Mutex
	groups map[string]*group
	closed bool
}

type member struct {
	id               string
	instanceID       string // "" = dynamic
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte

	joinCh      chan *kmsg.JoinGroupResponse // non-nil while awaiting a join response
	joinVersion int16
	syncCh      chan syncResult // non-nil while awaiting a sync response
	synced      bool            // sent SyncGroup in the current generation
	isNew       bool

	hbSeq   uint64 // incremented on every heartbeat; a firing timer with an older seq is stale
	hbTimer *time.Timer
}

type syncResult struct {
	code       int16
	assignment []byte
}

type group struct {
	c    *Coordinator
	name string

	mu           sync.Mutex
	state        State
	stateTime    time.Time
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string      // instance id -> member id
	pending      map[string]*time.Timer // member ids handed out with MEMBER_ID_REQUIRED
	offsets      map[string]map[int32]OffsetValue

	rebalanceTimer *time.Timer
	rebalanceSeq   uint64
	initialDelay   bool          // the current rebalance is the initial delayed join
	delayRemaining time.Duration // initial delay still allowed (bounded by rebalance timeout)
	newDuringDelay bool
	syncTimer      *time.Timer

	cg *consumerGroup // non-nil: a KIP-848 consumer group (consumer.go)
}

// New returns a Coordinator whose durable state is loaded from store. logger nil = discard.
func New(cfg Config, store OffsetStore, logger *slog.Logger) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if store == nil {
		return nil, fmt.Errorf("group: nil OffsetStore")
	}
	c := &Coordinator{cfg: cfg, store: store, log: logger, groups: make(map[string]*group)}
	now := time.Now()
	err := store.Load(func(r Record) {
		g := c.groups[r.Group]
		if g == nil {
			// No state time until metadata says otherwise: offsets-only groups expire
			// by commit time, not by the time of the last restart.
			g = c.newGroup(r.Group, time.Time{})
			c.groups[r.Group] = g
		}
		switch r.Kind {
		case KindOffset:
			g.setOffset(r.Topic, r.Partition, r.Offset)
		case KindGroup:
			g.cg = nil
			g.restore(r.Meta, now)
		case KindConsumerGroup:
			g.restoreConsumer(r.Consumer)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cannot load groups: %w", err)
	}
	for _, g := range c.groups {
		g.mu.Lock()
		for _, m := range g.members {
			g.heartbeatLocked(m)
		}
		if g.cg != nil {
			g.c.cfg.Metrics.transition(g.state, Dead, false) // not a classic group
			g.consumerMetricLocked(g.cg.stateName())
			g.startConsumerTimersLocked()
		}
		g.mu.Unlock()
	}
	logger.Info("group coordinator loaded", "groups", len(c.groups))
	return c, nil
}

func (c *Coordinator) newGroup(name string, now time.Time) *group {
	c.cfg.Metrics.transition(Empty, Empty, true)
	return &group{
		c: c, name: name, state: Empty, stateTime: now,
		members: make(map[string]*member), static: make(map[string]string),
		pending: make(map[string]*time.Timer), offsets: make(map[string]map[int32]OffsetValue),
	}
}

// restore applies persisted group metadata (load time).
func (g *group) restore(m *GroupMeta, now time.Time) {
	g.protocolType, g.protocol, g.generation, g.leader = m.ProtocolType, m.Protocol, m.Generation, m.Leader
	if m.StateTime > 0 {
		g.stateTime = time.UnixMilli(m.StateTime)
	}
	g.members = make(map[string]*member)
	g.static = make(map[string]string)
	for _, mm := range m.Members {
		mem := &member{
			id: mm.MemberID, instanceID: mm.InstanceID, clientID: mm.ClientID, clientHost: mm.ClientHost,
			sessionTimeout:   time.Duration(mm.SessionTimeout) * time.Millisecond,
			rebalanceTimeout: time.Duration(mm.RebalanceTimeout) * time.Millisecond,
			protocolType:     m.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: m.Protocol, Metadata: mm.Metadata}},
			assignment:       mm.Assignment, synced: true,
		}
		g.members[mem.id] = mem
		if mem.instanceID != "" {
			g.static[mem.instanceID] = mem.id
		}
	}
	if len(g.members) > 0 {
		g.c.cfg.Metrics.transition(g.state, Stable, false)
		g.state = Stable
		g.stateTime = now
	}
}

// Run expires offsets (offsets.retention.minutes) until ctx is done, then stops every
// timer. Handlers keep working after Run returns, without timers.
func (c *Coordinator) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.stop()
			return nil
		case <-t.C:
			c.ExpireOffsets()
		}
	}
}

func (c *Coordinator) stop() {
	c.mu.Lock()
	c.closed = true
	groups := c.groupList()
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.stopTimersLocked()
		g.mu.Unlock()
	}
}

func (g *group) stopTimersLocked() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	for _, t := range g.pending {
		t.Stop()
	}
	for _, m := range g.members {
		if m.hbTimer != nil {
			m.hbTimer.Stop()
		}
	}
	g.stopConsumerTimersLocked()
}

// groupList returns the groups sorted by name. c.mu must be held.
func (c *Coordinator) groupList() []*group {
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// lookup returns the group, locked, or nil. A group found Dead was deleted meanwhile.
func (c *Coordinator) lookup(name string) *group {
	c.mu.Lock()
	g := c.groups[name]
	c.mu.Unlock()
	if g == nil {
		return nil
	}
	g.mu.Lock()
	if g.state == Dead {
		g.mu.Unlock()
		return nil
	}
	return g
}

// getOrCreate returns the group, locked, creating an Empty one if needed.
func (c *Coordinator) getOrCreate(name string) *group {
	for {
		c.mu.Lock()
		g := c.groups[name]
		if g == nil {
			g = c.newGroup(name, time.Now())
			c.groups[name] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state != Dead {
			return g
		}
		g.mu.Unlock()
	}
}

// removeLocked marks g Dead and drops it from the coordinator. g.mu must be held.
func (g *group) removeLocked() {
	g.stopTimersLocked()
	g.transitionLocked(Dead)
	g.c.mu.Lock()
	if g.c.groups[g.name] == g {
		delete(g.c.groups, g.name)
	}
	g.c.mu.Unlock()
}

func (g *group) transitionLocked(s State) {
	if g.cg != nil { // a consumer group: counted by its own state (consumer.go)
		if s == Dead {
			g.consumerMetricLocked("")
		}
		g.state, g.stateTime = s, time.Now()
		return
	}
	g.c.cfg.Metrics.transition(g.state, s, false)
	g.state = s
	g.stateTime = time.Now()
}

func (g *group) setOffset(topic string, partition int32, v OffsetValue) {
	m := g.offsets[topic]
	if m == nil {
		m = make(map[int32]OffsetValue)
		g.offsets[topic] = m
	}
	m[partition] = v
}

func (g *group) deleteOffset(topic string, partition int32) {
	if m := g.offsets[topic]; m != nil {
		delete(m, partition)
		if len(m) == 0 {
			delete(g.offsets, topic)
		}
	}
}

// metaLocked is the durable form of the group.
func (g *group) metaLocked() *GroupMeta {
	m := &GroupMeta{ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation,
		Leader: g.leader, StateTime: g.stateTime.UnixMilli()}
	for _, id := range g.memberIDsLocked() {
		mem := g.members[id]
		m.Members = append(m.Members, MemberMeta{
			MemberID: mem.id, InstanceID: mem.instanceID, ClientID: mem.clientID, ClientHost: mem.clientHost,
			SessionTimeout: int32(mem.sessionTimeout / time.Millisecond), RebalanceTimeout: int32(mem.rebalanceTimeout / time.Millisecond),
			Metadata: mem.metadataFor(g.protocol), Assignment: mem.assignment,
		})
	}
	return m
}

// persistMetaLocked writes the group metadata; failures are logged (the group keeps
// working; a restart would fall back to the previous metadata and members rejoin).
func (g *group) persistMetaLocked() {
	if err := g.c.store.Append([]Record{{Kind: KindGroup, Group: g.name, Meta: g.metaLocked()}}); err != nil {
		g.c.log.Error("cannot persist group metadata", "group", g.name, "err", err)
	}
}

func (g *group) memberIDsLocked() []string {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) supports(protocols []kmsg.JoinGroupRequestProtocol) bool {
	for _, p := range protocols {
		if m.metadataFor(p.Name) != nil || m.hasProtocol(p.Name) {
			return true
		}
	}
	return false
}

func (m *member) hasProtocol(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || string(a[i].Metadata) != string(b[i].Metadata) {
			return false
		}
	}
	return true
}
