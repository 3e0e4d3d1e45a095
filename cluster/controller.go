package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Errors of controller operations; each maps to one Kafka error code in the broker.
var (
	ErrStaleBrokerEpoch            = errors.New("cluster: stale broker epoch")             // STALE_BROKER_EPOCH
	ErrTopicExists                 = errors.New("cluster: topic already exists")           // TOPIC_ALREADY_EXISTS
	ErrInvalidTopic                = errors.New("cluster: invalid topic")                  // INVALID_TOPIC_EXCEPTION
	ErrInvalidPartitions           = errors.New("cluster: invalid partition count")        // INVALID_PARTITIONS
	ErrInvalidReplicationFactor    = errors.New("cluster: invalid replication factor")     // INVALID_REPLICATION_FACTOR
	ErrInvalidReplicaAssignment    = errors.New("cluster: invalid replica assignment")     // INVALID_REPLICA_ASSIGNMENT
	ErrUnknownTopicOrPartition     = errors.New("cluster: unknown topic or partition")     // UNKNOWN_TOPIC_OR_PARTITION
	ErrNotLeaderOrFollower         = errors.New("cluster: not the partition leader")       // NOT_LEADER_OR_FOLLOWER
	ErrFencedLeaderEpoch           = errors.New("cluster: fenced leader epoch")            // FENCED_LEADER_EPOCH
	ErrInvalidUpdateVersion        = errors.New("cluster: stale partition epoch")          // INVALID_UPDATE_VERSION
	ErrIneligibleReplica           = errors.New("cluster: replica not eligible for ISR")   // INELIGIBLE_REPLICA
	ErrInvalidRequest              = errors.New("cluster: invalid request")                // INVALID_REQUEST
	ErrElectionNotNeeded           = errors.New("cluster: election not needed")            // ELECTION_NOT_NEEDED
	ErrPreferredLeaderNotAvailable = errors.New("cluster: preferred leader not available") // PREFERRED_LEADER_NOT_AVAILABLE
	ErrEligibleLeadersNotAvailable = errors.New("cluster: no eligible leader available")   // ELIGIBLE_LEADERS_NOT_AVAILABLE
)

// Controller is what a broker calls. Node implements it on the quorum's leader; a node
// that is not the ready leader returns a *NotControllerError (ErrNotController) and the
// caller retries on the leader it names. Writes return once the change is committed by a
// majority and applied to this node's image.
type Controller interface {
	// RegisterBroker (re)registers a broker and returns its broker epoch. The broker is
	// fenced until its first heartbeat. Re-registering with the same incarnation id is
	// a retry and returns the same epoch; a new incarnation (restart) first moves the
	// old incarnation's leaderships away.
	RegisterBroker(ctx context.Context, reg BrokerRegistration) (epoch int64, err error)
	// Heartbeat keeps a broker's session alive (broker.session.timeout.ms), unfences a
	// fenced broker and, with WantShutDown, moves its leaderships away (controlled
	// shutdown).
	Heartbeat(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error)
	// CreateTopics creates each topic in its own entry; per-topic errors are in the
	// results, the error only for the whole call (ErrNotController, ctx).
	CreateTopics(ctx context.Context, specs []TopicSpec) ([]CreateTopicResult, error)
	// DeleteTopics removes topics by name; per-topic errors are in the map (nil: deleted).
	DeleteTopics(ctx context.Context, names []string) (map[string]error, error)
	// CreatePartitions grows a topic to total partitions; assignments (optional) give
	// the new partitions' replicas, else they are placed like CreateTopics'.
	CreatePartitions(ctx context.Context, topic string, total int32, assignments [][]int32) error
	// ElectLeaders runs Kafka's preferred or unclean election for each partition (nil:
	// every partition) in one entry; per-partition outcomes are in the map.
	ElectLeaders(ctx context.Context, typ ElectionType, parts []TopicPartition) (map[TopicPartition]error, error)
	// AlterTopicConfigs sets (non-nil) or removes (nil) topic configs in one entry.
	AlterTopicConfigs(ctx context.Context, topic string, configs map[string]*string) error
	// AlterPartition changes a partition's ISR on behalf of its leader, with Kafka's
	// checks: broker epoch, leader, leader epoch, partition epoch, ISR eligibility.
	AlterPartition(ctx context.Context, req AlterPartitionRequest) (Partition, error)
	// AllocateProducerIDs hands the broker a block of ProducerIDBlockSize ids no other
	// call ever returns.
	AllocateProducerIDs(ctx context.Context, nodeID int32, brokerEpoch int64) (ProducerIDBlock, error)
	// AlterACLs and AlterSCRAM store opaque security records in one entry each call.
	AlterACLs(ctx context.Context, recs []ACLRecord) error
	AlterSCRAM(ctx context.Context, recs []SCRAMRecord) error
	// Image returns this node's newest image; Watch waits for one newer than after.
	Image() *Image
	Watch(ctx context.Context, after uint64) (*Image, error)
}

var _ Controller = (*Node)(nil)

// ElectionType is Kafka's ElectLeaders election type.
type ElectionType int8

const (
	// ElectPreferred moves leadership to the first replica if it is a live ISR member.
	ElectPreferred ElectionType = 0
	// ElectUnclean elects a leader for a partition that has none, out of sync if need
	// be (records the old leader had and the new one lacks are lost).
	ElectUnclean ElectionType = 1
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// ProducerIDBlockSize is how many producer ids one allocation hands out (Kafka's 1000).
const ProducerIDBlockSize = 1000

// BrokerRegistration is what a starting broker announces.
type BrokerRegistration struct {
	NodeID        int32
	IncarnationID string // unique per process start (a UUID)
	Listeners     []Listener
	Rack          string // broker.rack
}

// HeartbeatRequest is a broker's periodic heartbeat.
type HeartbeatRequest struct {
	NodeID       int32
	BrokerEpoch  int64
	WantFence    bool // the broker cannot serve (e.g. its log dirs failed)
	WantShutDown bool // controlled shutdown: move leadership away
}

// HeartbeatResponse tells the broker its state.
type HeartbeatResponse struct {
	Fenced         bool
	ShouldShutDown bool   // controlled shutdown done: the broker leads nothing
	Version        uint64 // the controller's image version; the broker should reach it
}

// TopicSpec is one topic to create. Assignments, when set, gives each partition's
// replicas (and overrides NumPartitions and ReplicationFactor).
type TopicSpec struct {
	Name              string
	NumPartitions     int32
	ReplicationFactor int16
	Assignments       [][]int32
	Configs           map[string]string
}

// CreateTopicResult is one topic's outcome.
type CreateTopicResult struct {
	Name string
	ID   TopicID
	Err  error
}

// AlterPartitionRequest is Kafka's AlterPartition for one partition.
type AlterPartitionRequest struct {
	BrokerID       int32
	BrokerEpoch    int64
	TopicID        TopicID
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	NewISR         []int32
}

// ProducerIDBlock is [FirstID, FirstID+Size).
type ProducerIDBlock struct {
	FirstID int64
	Size    int32
}

// controllerState is the active controller's soft state, rebuilt whenever this node
// becomes leader: heartbeat times are not replicated, so a new controller gives every
// broker a full session before fencing it.
type controllerState struct {
	mu              sync.Mutex // serializes decisions: read image, decide, write, wait
	ready           bool       // leader for term, and the image has every committed entry
	term            uint64
	lastHeartbeat   map[int32]time.Time
	lastTick        time.Time // last reconcile as the active controller
	warnedClusterID bool
}

const applyTimeout = 10 * time.Second

func (n *Node) tickInterval() time.Duration {
	return min(max(n.cfg.SessionTimeout/5, 10*time.Millisecond), 250*time.Millisecond)
}

// controllerLoop follows leadership and, while leader, fences brokers whose sessions
// expired and elects leaders for offline partitions.
func (n *Node) controllerLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.tickInterval())
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-n.raft.LeaderCh():
		case <-t.C:
		}
		n.reconcile(time.Now())
	}
}

func (n *Node) reconcile(now time.Time) {
	c := &n.ctl
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.raft.State() != raft.Leader {
		if c.ready {
			n.logger.Info("no longer the active controller")
		}
		c.ready = false
		return
	}
	if term := n.raft.CurrentTerm(); !c.ready || term != c.term {
		c.ready = false
		// The barrier returns once every entry of earlier terms is applied here, so
		// decisions read a complete image.
		if err := n.raft.Barrier(applyTimeout).Error(); err != nil {
			n.logger.Warn("controller barrier failed", "err", err)
			return
		}
		c.term, c.ready = term, true
		c.lastTick = time.Time{}
		c.lastHeartbeat = map[int32]time.Time{}
		for id := range n.Image().Brokers {
			c.lastHeartbeat[id] = now
		}
		n.logger.Info("became the active controller", "term", term, "version", n.Image().Version)
	}
	// A controller that did not run for a large part of a session (a stalled process,
	// a paused VM) has not been able to hear heartbeats: it restarts every session
	// rather than fencing brokers that did nothing wrong.
	if !c.lastTick.IsZero() && now.Sub(c.lastTick) > n.cfg.SessionTimeout/2 {
		n.logger.Warn("controller stalled: restarting broker sessions", "stall", now.Sub(c.lastTick))
		for id := range c.lastHeartbeat {
			c.lastHeartbeat[id] = now
		}
	}
	if now.After(c.lastTick) {
		c.lastTick = now
	}
	im := n.Image()
	if im.ClusterID == "" {
		id := n.cfg.ClusterID
		if id == "" {
			var b [16]byte
			rand.Read(b[:])
			id = base64.RawURLEncoding.EncodeToString(b[:])
		}
		if _, err := n.writeLocked(ClusterIDRecord{ID: id}); err != nil {
			n.logger.Warn("cannot write the cluster id", "err", err)
			return
		}
		n.logger.Info("named the cluster", "cluster_id", id)
		im = n.Image()
	} else if n.cfg.ClusterID != "" && n.cfg.ClusterID != im.ClusterID && !c.warnedClusterID {
		c.warnedClusterID = true
		n.logger.Error("configured cluster.id differs from the quorum's; the quorum's wins", "configured", n.cfg.ClusterID, "cluster_id", im.ClusterID)
	}
	for _, id := range im.BrokerIDs() {
		b := im.Brokers[id]
		last, ok := c.lastHeartbeat[id]
		if !ok {
			c.lastHeartbeat[id] = now
			continue
		}
		if b.Fenced || now.Sub(last) <= n.cfg.SessionTimeout {
			continue
		}
		recs := append(n.leaveRecords(im, id), FenceBrokerRecord{NodeID: id, Epoch: b.Epoch})
		if _, err := n.writeLocked(recs...); err != nil {
			n.logger.Warn("cannot fence broker", "broker", id, "err", err)
			return
		}
		n.logger.Info("fenced broker: session expired", "broker", id, "epoch", b.Epoch, "partition_changes", len(recs)-1)
		im = n.Image()
	}
	if recs := n.electRecords(im); len(recs) > 0 {
		if _, err := n.writeLocked(recs...); err != nil {
			n.logger.Warn("cannot elect leaders", "err", err)
		}
	}
}

// IsActiveController reports whether this node is the leader and ready to serve
// controller operations.
func (n *Node) IsActiveController() bool {
	if err := n.lockController(); err != nil {
		return false
	}
	n.ctl.mu.Unlock()
	return true
}

// lockController takes the controller lock if this node is the ready leader.
func (n *Node) lockController() error {
	n.ctl.mu.Lock()
	if n.ctl.ready && n.raft.State() == raft.Leader && n.raft.CurrentTerm() == n.ctl.term {
		return nil
	}
	n.ctl.mu.Unlock()
	id, addr := n.Leader()
	if id == n.cfg.NodeID {
		id, addr = -1, "" // leader but not ready yet: retry shortly
	}
	return &NotControllerError{LeaderID: id, LeaderAddr: addr}
}

// writeLocked commits one entry and waits until it is applied here. A lost leadership
// becomes a *NotControllerError; the entry may still commit, and every operation is
// conditional, so the caller's retry is safe.
func (n *Node) writeLocked(recs ...Record) (applyResult, error) {
	data, err := EncodeEntry(recs...)
	if err != nil {
		return applyResult{}, err
	}
	return n.waitApplied(n.raft.Apply(data, applyTimeout))
}

// waitApplied waits for an entry handed to raft.Apply and returns the image's answer.
func (n *Node) waitApplied(f raft.ApplyFuture) (applyResult, error) {
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
			errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, raft.ErrEnqueueTimeout) {
			n.ctl.ready = false
			id, addr := n.Leader()
			return applyResult{}, fmt.Errorf("cannot commit metadata entry: %w (%v)", &NotControllerError{LeaderID: id, LeaderAddr: addr}, err)
		}
		return applyResult{}, fmt.Errorf("cannot commit metadata entry: %w", err)
	}
	res, _ := f.Response().(applyResult)
	return res, res.err
}

func (n *Node) uncleanFor(t *Topic) bool {
	if v, ok := t.Configs["unclean.leader.election.enable"]; ok {
		return v == "true"
	}
	return n.cfg.UncleanLeaderElection
}

// leaveRecords returns the partition changes that take broker gone out of every ISR and
// leadership: the ISR drops it (unless it is the last member, which keeps the partition
// electable when it returns), a partition it led gets the first live ISR member in
// replica order as leader with a bumped leader epoch, or no leader (-1) when none is
// live and unclean election is off.
func (n *Node) leaveRecords(im *Image, gone int32) []Record {
	live := func(id int32) bool { return id != gone && im.Unfenced(id) }
	var recs []Record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for i, p := range t.Partitions {
			if p.Leader != gone && !slices.Contains(p.ISR, gone) {
				continue
			}
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return id == gone })
			if len(isr) == 0 {
				isr = slices.Clone(p.ISR)
			}
			leader := p.Leader
			if leader == gone {
				leader, isr = n.chooseLeader(t, p.Replicas, isr, live)
			}
			if leader == p.Leader && slices.Equal(isr, p.ISR) {
				continue
			}
			recs = append(recs, changeRecord(t, int32(i), p, leader, isr))
		}
	}
	return recs
}

// electRecords returns leader elections for every offline partition that has an
// eligible live replica.
func (n *Node) electRecords(im *Image) []Record {
	var recs []Record
	for _, name := range im.TopicNames() {
		t := im.Topics[name]
		for i, p := range t.Partitions {
			if p.Leader != -1 {
				continue
			}
			leader, isr := n.chooseLeader(t, p.Replicas, p.ISR, im.Unfenced)
			if leader == -1 {
				continue
			}
			recs = append(recs, changeRecord(t, int32(i), p, leader, isr))
		}
	}
	return recs
}

// chooseLeader picks the first live ISR member in replica order; failing that, with
// unclean election enabled, the first live replica with an ISR of only itself.
func (n *Node) chooseLeader(t *Topic, replicas, isr []int32, live func(int32) bool) (int32, []int32) {
	for _, id := range replicas {
		if slices.Contains(isr, id) && live(id) {
			return id, isr
		}
	}
	if n.uncleanFor(t) {
		for _, id := range replicas {
			if live(id) {
				return id, []int32{id}
			}
		}
	}
	return -1, isr
}

func changeRecord(t *Topic, partition int32, p Partition, leader int32, isr []int32) PartitionRecord {
	le := p.LeaderEpoch
	if leader != p.Leader {
		le++
	}
	return PartitionRecord{TopicID: t.ID, Partition: partition, Replicas: slices.Clone(p.Replicas), ISR: isr,
		Leader: leader, LeaderEpoch: le, PartitionEpoch: p.PartitionEpoch + 1}
}

// RegisterBroker implements Controller.
func (n *Node) RegisterBroker(ctx context.Context, reg BrokerRegistration) (int64, error) {
	if reg.NodeID < 0 || reg.IncarnationID == "" {
		return 0, fmt.Errorf("%w: register broker %d: node id and incarnation id are required", ErrInvalidRequest, reg.NodeID)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := n.lockController(); err != nil {
		return 0, err
	}
	defer n.ctl.mu.Unlock()
	im := n.Image()
	var recs []Record
	if b, ok := im.Brokers[reg.NodeID]; ok {
		if b.IncarnationID == reg.IncarnationID {
			return b.Epoch, nil
		}
		recs = n.leaveRecords(im, reg.NodeID)
	}
	recs = append(recs, RegisterBrokerRecord{NodeID: reg.NodeID, IncarnationID: reg.IncarnationID,
		Listeners: reg.Listeners, Rack: reg.Rack})
	res, err := n.writeLocked(recs...)
	if err != nil {
		return 0, fmt.Errorf("cannot register broker %d: %w", reg.NodeID, err)
	}
	n.ctl.lastHeartbeat[reg.NodeID] = time.Now()
	return res.epoch, nil
}

// Heartbeat implements Controller.
func (n *Node) Heartbeat(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error) {
	if err := ctx.Err(); err != nil {
		return HeartbeatResponse{}, err
	}
	if err := n.lockController(); err != nil {
		return HeartbeatResponse{}, err
	}
	defer n.ctl.mu.Unlock()
	im := n.Image()
	b, ok := im.Brokers[req.NodeID]
	if !ok || b.Epoch != req.BrokerEpoch {
		return HeartbeatResponse{}, fmt.Errorf("%w: broker %d epoch %d (registered: %d)", ErrStaleBrokerEpoch, req.NodeID, req.BrokerEpoch, b.Epoch)
	}
	n.ctl.lastHeartbeat[req.NodeID] = time.Now()
	var recs []Record
	switch {
	case req.WantShutDown || req.WantFence:
		recs = n.leaveRecords(im, req.NodeID)
		if !b.Fenced {
			recs = append(recs, FenceBrokerRecord{NodeID: b.NodeID, Epoch: b.Epoch})
		}
	case b.Fenced:
		recs = append(recs, UnfenceBrokerRecord{NodeID: b.NodeID, Epoch: b.Epoch})
		// Offline partitions this broker can lead come back with it, in the same entry.
		after := im.next()
		nb := b
		nb.Fenced = false
		after.Brokers[b.NodeID] = nb
		recs = append(recs, n.electRecords(after)...)
	}
	if len(recs) > 0 {
		if _, err := n.writeLocked(recs...); err != nil {
			return HeartbeatResponse{}, fmt.Errorf("cannot process heartbeat of broker %d: %w", req.NodeID, err)
		}
		im = n.Image()
	}
	resp := HeartbeatResponse{Fenced: im.Brokers[req.NodeID].Fenced, Version: im.Version}
	if req.WantShutDown {
		resp.ShouldShutDown = len(n.leaveRecords(im, req.NodeID)) == 0
	}
	return resp, nil
}

// AlterPartition implements Controller.
func (n *Node) AlterPartition(ctx context.Context, req AlterPartitionRequest) (Partition, error) {
	if err := ctx.Err(); err != nil {
		return Partition{}, err
	}
	if err := n.lockController(); err != nil {
		return Partition{}, err
	}
	defer n.ctl.mu.Unlock()
	im := n.Image()
	if b, ok := im.Brokers[req.BrokerID]; !ok || b.Epoch != req.BrokerEpoch {
		return Partition{}, fmt.Errorf("%w: broker %d epoch %d", ErrStaleBrokerEpoch, req.BrokerID, req.BrokerEpoch)
	}
	t := im.TopicByID(req.TopicID)
	if t == nil || req.Partition < 0 || int(req.Partition) >= len(t.Partitions) {
		return Partition{}, fmt.Errorf("%w: %s-%d", ErrUnknownTopicOrPartition, req.TopicID, req.Partition)
	}
	p := t.Partitions[req.Partition]
	switch {
	case p.Leader != req.BrokerID:
		return p, fmt.Errorf("%w: %s-%d is led by %d, not %d", ErrNotLeaderOrFollower, t.Name, req.Partition, p.Leader, req.BrokerID)
	case req.LeaderEpoch != p.LeaderEpoch:
		return p, fmt.Errorf("%w: %s-%d leader epoch %d, current %d", ErrFencedLeaderEpoch, t.Name, req.Partition, req.LeaderEpoch, p.LeaderEpoch)
	case req.PartitionEpoch != p.PartitionEpoch:
		return p, fmt.Errorf("%w: %s-%d partition epoch %d, current %d", ErrInvalidUpdateVersion, t.Name, req.Partition, req.PartitionEpoch, p.PartitionEpoch)
	case !slices.Contains(req.NewISR, req.BrokerID) || hasDup(req.NewISR):
		return p, fmt.Errorf("%w: ISR %v must hold the leader %d once", ErrInvalidRequest, req.NewISR, req.BrokerID)
	}
	for _, id := range req.NewISR {
		if !slices.Contains(p.Replicas, id) {
			return p, fmt.Errorf("%w: %d is not a replica of %s-%d %v", ErrInvalidRequest, id, t.Name, req.Partition, p.Replicas)
		}
		if !slices.Contains(p.ISR, id) && !im.Unfenced(id) {
			return p, fmt.Errorf("%w: broker %d is fenced or unregistered", ErrIneligibleReplica, id)
		}
	}
	isr := slices.Clone(req.NewISR)
	if slices.Equal(isr, p.ISR) {
		return p, nil
	}
	if _, err := n.writeLocked(changeRecord(t, req.Partition, p, p.Leader, isr)); err != nil {
		return p, fmt.Errorf("cannot alter partition %s-%d: %w", t.Name, req.Partition, err)
	}
	return n.Image().TopicByID(req.TopicID).Partitions[req.Partition], nil
}

// AllocateProducerIDs implements Controller.
func (n *Node) AllocateProducerIDs(ctx context.Context, nodeID int32, brokerEpoch int64) (ProducerIDBlock, error) {
	if err := ctx.Err(); err != nil {
		return ProducerIDBlock{}, err
	}
	if err := n.lockController(); err != nil {
		return ProducerIDBlock{}, err
	}
	defer n.ctl.mu.Unlock()
	im := n.Image()
	if b, ok := im.Brokers[nodeID]; !ok || b.Epoch != brokerEpoch {
		return ProducerIDBlock{}, fmt.Errorf("%w: broker %d epoch %d", ErrStaleBrokerEpoch, nodeID, brokerEpoch)
	}
	blk := ProducerIDBlock{FirstID: im.NextProducerID, Size: ProducerIDBlockSize}
	if _, err := n.writeLocked(ProducerIDsRecord{NodeID: nodeID, BrokerEpoch: brokerEpoch, FirstID: blk.FirstID, Size: blk.Size}); err != nil {
		return ProducerIDBlock{}, fmt.Errorf("cannot allocate producer ids: %w", err)
	}
	return blk, nil
}

// AlterACLs implements Controller.
func (n *Node) AlterACLs(ctx context.Context, recs []ACLRecord) error {
	rs := make([]Record, len(recs))
	for i, r := range recs {
		rs[i] = r
	}
	return n.writeAll(ctx, "acls", rs)
}

// AlterSCRAM implements Controller.
func (n *Node) AlterSCRAM(ctx context.Context, recs []SCRAMRecord) error {
	rs := make([]Record, len(recs))
	for i, r := range recs {
		rs[i] = r
	}
	return n.writeAll(ctx, "scram credentials", rs)
}

func (n *Node) writeAll(ctx context.Context, what string, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := n.lockController(); err != nil {
		return err
	}
	defer n.ctl.mu.Unlock()
	if _, err := n.writeLocked(recs...); err != nil {
		return fmt.Errorf("cannot alter %s: %w", what, err)
	}
	return nil
}
