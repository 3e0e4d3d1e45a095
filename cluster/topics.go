package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"

	"github.com/hashicorp/raft"
)

// Topic operations of the active controller: CreateTopics (with replica placement),
// CreatePartitions, ElectLeaders, AlterTopicConfigs, DeleteTopics.

// CreateTopics implements Controller.
func (n *Node) CreateTopics(ctx context.Context, specs []TopicSpec) ([]CreateTopicResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := n.lockController(); err != nil {
		return nil, err
	}
	defer n.ctl.mu.Unlock()
	names := map[string]int{}
	for _, s := range specs {
		names[s.Name]++
	}
	// Every topic is its own entry; the entries are handed to raft together, so a
	// request of many topics commits in a few pipelined rounds, not one per topic.
	// Topics are independent: each entry's TopicRecord conflicts only on its own name.
	im := n.Image()
	results := make([]CreateTopicResult, len(specs))
	futures := make([]raft.ApplyFuture, len(specs))
	for i, s := range specs {
		if names[s.Name] > 1 {
			results[i] = CreateTopicResult{Name: s.Name, Err: fmt.Errorf("cannot create topic %q: %w: named twice in one request", s.Name, ErrInvalidRequest)}
			continue
		}
		var recs []Record
		results[i], recs = n.planTopic(im, s)
		if results[i].Err != nil {
			continue
		}
		data, err := EncodeEntry(recs...)
		if err != nil {
			results[i].Err = fmt.Errorf("cannot create topic %q: %w", s.Name, err)
			continue
		}
		futures[i] = n.raft.Apply(data, applyTimeout)
	}
	var lost error
	for i, f := range futures {
		if f == nil {
			continue
		}
		if _, err := n.waitApplied(f); err != nil {
			var nc *NotControllerError
			switch {
			case errors.As(err, &nc):
				lost = err
			case errors.Is(err, ErrConflict):
				err = fmt.Errorf("cannot create topic %q: %w: %v", specs[i].Name, ErrTopicExists, err)
			}
			results[i].Err = err
		}
	}
	if lost != nil {
		return nil, lost
	}
	return results, nil
}

// planTopic checks one topic against im and returns the records that create it.
func (n *Node) planTopic(im *Image, s TopicSpec) (CreateTopicResult, []Record) {
	res := CreateTopicResult{Name: s.Name}
	fail := func(err error, format string, args ...any) (CreateTopicResult, []Record) {
		res.Err = fmt.Errorf("cannot create topic %q: %w: %s", s.Name, err, fmt.Sprintf(format, args...))
		return res, nil
	}
	if err := validTopicName(s.Name); err != nil {
		return fail(ErrInvalidTopic, "%v", err)
	}
	if _, ok := im.Topics[s.Name]; ok {
		return fail(ErrTopicExists, "exists")
	}
	assign := s.Assignments
	if len(assign) == 0 {
		if s.NumPartitions <= 0 {
			return fail(ErrInvalidPartitions, "%d partitions", s.NumPartitions)
		}
		var live []Broker
		for _, id := range im.BrokerIDs() {
			if b := im.Brokers[id]; !b.Fenced {
				live = append(live, b)
			}
		}
		if s.ReplicationFactor <= 0 || int(s.ReplicationFactor) > len(live) {
			return fail(ErrInvalidReplicationFactor, "replication factor %d with %d unfenced brokers", s.ReplicationFactor, len(live))
		}
		h := fnv.New32a()
		h.Write([]byte(s.Name))
		assign = placeReplicas(live, int(s.NumPartitions), int(s.ReplicationFactor), int(h.Sum32()%uint32(len(live))))
	}
	for p, replicas := range assign {
		if len(replicas) == 0 || hasDup(replicas) {
			return fail(ErrInvalidReplicaAssignment, "partition %d: replicas %v", p, replicas)
		}
		for _, id := range replicas {
			if _, ok := im.Brokers[id]; !ok {
				return fail(ErrInvalidReplicaAssignment, "partition %d: broker %d is not registered", p, id)
			}
		}
	}
	if _, err := rand.Read(res.ID[:]); err != nil {
		return fail(ErrInvalidRequest, "topic id: %v", err)
	}
	recs := []Record{TopicRecord{Name: s.Name, ID: res.ID, Configs: s.Configs}}
	for p, replicas := range assign {
		var isr []int32
		for _, id := range replicas {
			if im.Unfenced(id) {
				isr = append(isr, id)
			}
		}
		if len(isr) == 0 {
			return fail(ErrInvalidReplicaAssignment, "partition %d: no unfenced broker among %v", p, replicas)
		}
		recs = append(recs, PartitionRecord{TopicID: res.ID, Partition: int32(p), Replicas: slices.Clone(replicas),
			ISR: isr, Leader: isr[0]})
	}
	return res, recs
}

// CreatePartitions implements Controller.
func (n *Node) CreatePartitions(ctx context.Context, topic string, total int32, assignments [][]int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := n.lockController(); err != nil {
		return err
	}
	defer n.ctl.mu.Unlock()
	im := n.Image()
	t := im.Topics[topic]
	if t == nil {
		return fmt.Errorf("cannot create partitions of %q: %w", topic, ErrUnknownTopicOrPartition)
	}
	have := int32(len(t.Partitions))
	if total <= have {
		return fmt.Errorf("cannot grow %q to %d partitions: %w: it has %d", topic, total, ErrInvalidPartitions, have)
	}
	add := int(total - have)
	if len(assignments) == 0 {
		var live []Broker
		for _, id := range im.BrokerIDs() {
			if b := im.Brokers[id]; !b.Fenced {
				live = append(live, b)
			}
		}
		rf := len(t.Partitions[0].Replicas)
		if rf > len(live) {
			return fmt.Errorf("cannot grow %q: %w: replication factor %d with %d unfenced brokers", topic, ErrInvalidReplicationFactor, rf, len(live))
		}
		h := fnv.New32a()
		h.Write([]byte(topic))
		assignments = placeReplicas(live, add, rf, int((h.Sum32()+uint32(have))%uint32(len(live))))
	}
	if len(assignments) != add {
		return fmt.Errorf("cannot grow %q: %w: %d assignments for %d new partitions", topic, ErrInvalidReplicaAssignment, len(assignments), add)
	}
	var recs []Record
	for i, replicas := range assignments {
		if len(replicas) == 0 || hasDup(replicas) {
			return fmt.Errorf("cannot grow %q: %w: replicas %v", topic, ErrInvalidReplicaAssignment, replicas)
		}
		var isr []int32
		for _, id := range replicas {
			if _, ok := im.Brokers[id]; !ok {
				return fmt.Errorf("cannot grow %q: %w: broker %d is not registered", topic, ErrInvalidReplicaAssignment, id)
			}
			if im.Unfenced(id) {
				isr = append(isr, id)
			}
		}
		if len(isr) == 0 {
			return fmt.Errorf("cannot grow %q: %w: no unfenced broker among %v", topic, ErrInvalidReplicaAssignment, replicas)
		}
		recs = append(recs, PartitionRecord{TopicID: t.ID, Partition: have + int32(i), Replicas: slices.Clone(replicas), ISR: isr, Leader: isr[0]})
	}
	if _, err := n.writeLocked(recs...); err != nil {
		return fmt.Errorf("cannot grow %q to %d partitions: %w", topic, total, err)
	}
	return nil
}

// ElectLeaders implements Controller.
func (n *Node) ElectLeaders(ctx context.Context, typ ElectionType, parts []TopicPartition) (map[TopicPartition]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if typ != ElectPreferred && typ != ElectUnclean {
		return nil, fmt.Errorf("%w: election type %d", ErrInvalidRequest, typ)
	}
	if err := n.lockController(); err != nil {
		return nil, err
	}
	defer n.ctl.mu.Unlock()
	im := n.Image()
	if parts == nil {
		for _, name := range im.TopicNames() {
			for i := range im.Topics[name].Partitions {
				parts = append(parts, TopicPartition{Topic: name, Partition: int32(i)})
			}
		}
	}
	out := map[TopicPartition]error{}
	var recs []Record
	var changed []TopicPartition
	for _, tp := range parts {
		t := im.Topics[tp.Topic]
		if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			out[tp] = fmt.Errorf("%w: %s-%d", ErrUnknownTopicOrPartition, tp.Topic, tp.Partition)
			continue
		}
		p := t.Partitions[tp.Partition]
		leader, isr, err := electOne(typ, p, im.Unfenced)
		if err != nil {
			out[tp] = fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, err)
			continue
		}
		out[tp] = nil
		recs = append(recs, changeRecord(t, tp.Partition, p, leader, isr))
		changed = append(changed, tp)
	}
	if len(recs) > 0 {
		if _, err := n.writeLocked(recs...); err != nil {
			var nc *NotControllerError
			if errors.As(err, &nc) {
				return nil, err
			}
			for _, tp := range changed {
				out[tp] = err
			}
		}
	}
	return out, nil
}

// electOne decides one partition's election: the new leader and ISR, or why not.
func electOne(typ ElectionType, p Partition, live func(int32) bool) (int32, []int32, error) {
	if typ == ElectPreferred {
		pref := p.Replicas[0]
		switch {
		case p.Leader == pref:
			return 0, nil, ErrElectionNotNeeded
		case slices.Contains(p.ISR, pref) && live(pref):
			return pref, p.ISR, nil
		}
		return 0, nil, ErrPreferredLeaderNotAvailable
	}
	if p.Leader != -1 {
		return 0, nil, ErrElectionNotNeeded
	}
	for _, id := range p.Replicas {
		if slices.Contains(p.ISR, id) && live(id) {
			return id, p.ISR, nil
		}
	}
	for _, id := range p.Replicas {
		if live(id) {
			return id, []int32{id}, nil
		}
	}
	return 0, nil, ErrEligibleLeadersNotAvailable
}

// AlterTopicConfigs implements Controller.
func (n *Node) AlterTopicConfigs(ctx context.Context, topic string, configs map[string]*string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(configs) == 0 {
		return nil
	}
	if err := n.lockController(); err != nil {
		return err
	}
	defer n.ctl.mu.Unlock()
	t := n.Image().Topics[topic]
	if t == nil {
		return fmt.Errorf("cannot alter configs of %q: %w", topic, ErrUnknownTopicOrPartition)
	}
	keys := slices.Sorted(maps.Keys(configs))
	recs := make([]Record, 0, len(keys))
	for _, k := range keys {
		if k == "" {
			return fmt.Errorf("cannot alter configs of %q: %w: empty key", topic, ErrInvalidRequest)
		}
		recs = append(recs, TopicConfigRecord{ID: t.ID, Key: k, Value: configs[k]})
	}
	if _, err := n.writeLocked(recs...); err != nil {
		return fmt.Errorf("cannot alter configs of %q: %w", topic, err)
	}
	return nil
}

// placeReplicas assigns rf replicas to each of numPartitions partitions, round-robin over
// brokers ordered so that consecutive brokers are in different racks (rack by rack,
// taking one broker of each rack in turn). Partition p's replicas are the rf brokers
// from position start+p, so leaders and followers spread evenly and, when racks hold
// similar numbers of brokers, a partition's replicas land in min(rf, racks) racks.
func placeReplicas(brokers []Broker, numPartitions, rf, start int) [][]int32 {
	byRack := map[string][]int32{}
	var racks []string
	for _, b := range brokers {
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b.NodeID)
	}
	sort.Strings(racks)
	var order []int32
	for i := 0; len(order) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				order = append(order, byRack[r][i])
			}
		}
	}
	out := make([][]int32, numPartitions)
	for p := range out {
		for j := range rf {
			out[p] = append(out[p], order[(start+p+j)%len(order)])
		}
	}
	return out
}

// DeleteTopics implements Controller.
func (n *Node) DeleteTopics(ctx context.Context, names []string) (map[string]error, error) {
	if err := n.lockController(); err != nil {
		return nil, err
	}
	defer n.ctl.mu.Unlock()
	out := map[string]error{}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, ok := n.Image().Topics[name]
		if !ok {
			out[name] = fmt.Errorf("cannot delete topic %q: %w", name, ErrUnknownTopicOrPartition)
			continue
		}
		if _, err := n.writeLocked(RemoveTopicRecord{ID: t.ID}); err != nil {
			var nc *NotControllerError
			if errors.As(err, &nc) {
				return nil, err
			}
			out[name] = err
			continue
		}
		out[name] = nil
	}
	return out, nil
}
