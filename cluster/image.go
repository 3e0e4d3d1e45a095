package cluster

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// ErrConflict is what the image returns for a record whose precondition no longer holds
// (a stale partition epoch, a broker epoch that was replaced, a producer-id block already
// handed out). The entry changes nothing; replaying an entry is therefore harmless.
var ErrConflict = errors.New("cluster: record precondition does not hold")

// Image is the cluster metadata at one point of the Raft log. An Image is immutable once
// published: readers share it without locks and must not modify it (or any map, slice or
// Topic it reaches). Each applied entry produces a new Image that shares unchanged topics.
type Image struct {
	// Version is the Raft index of the last metadata entry applied (0: empty image).
	// Raft's own entries (configuration changes, no-ops) do not move it. Versions only
	// grow; Watch waits for a version greater than the caller's.
	Version        uint64                  `json:"version"`
	ClusterID      string                  `json:"clusterId,omitempty"` // "" until the first controller names it
	Brokers        map[int32]Broker        `json:"brokers"`
	Topics         map[string]*Topic       `json:"topics"` // by name
	NextProducerID int64                   `json:"nextProducerId"`
	ACLs           map[string][]byte       `json:"acls"`
	SCRAM          map[string]SCRAMPayload `json:"scram"` // key: mechanism + "/" + user

	byID map[TopicID]string // rebuilt on restore
}

// Broker is one registered broker as the quorum sees it.
type Broker struct {
	NodeID        int32      `json:"nodeId"`
	Epoch         int64      `json:"epoch"` // Raft index of its registration
	IncarnationID string     `json:"incarnationId"`
	Listeners     []Listener `json:"listeners"`
	Rack          string     `json:"rack,omitempty"`
	// Fenced brokers lead no partition and are not added to an ISR. A broker registers
	// fenced and is unfenced by its first heartbeat; it is fenced again when its session
	// times out or it asks to shut down.
	Fenced bool `json:"fenced"`
}

// Topic is one topic with its partitions, indexed by partition number.
type Topic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Configs    map[string]string `json:"configs,omitempty"`
	Partitions []Partition       `json:"partitions"`
}

// Partition is the replication state of one partition (Kafka's PartitionRegistration).
type Partition struct {
	Replicas       []int32 `json:"replicas"` // preferred leader first
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"` // -1: offline
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
}

// SCRAMPayload is one stored SCRAM credential.
type SCRAMPayload struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
	Payload   []byte `json:"payload"`
}

// NewImage returns the empty image (version 0).
func NewImage() *Image {
	return &Image{
		Brokers: map[int32]Broker{},
		Topics:  map[string]*Topic{},
		ACLs:    map[string][]byte{},
		SCRAM:   map[string]SCRAMPayload{},
		byID:    map[TopicID]string{},
	}
}

// TopicByID returns the topic with id, or nil.
func (im *Image) TopicByID(id TopicID) *Topic {
	if name, ok := im.byID[id]; ok {
		return im.Topics[name]
	}
	return nil
}

// TopicNames returns the topic names in order.
func (im *Image) TopicNames() []string {
	names := slices.Collect(maps.Keys(im.Topics))
	sort.Strings(names)
	return names
}

// BrokerIDs returns the registered broker ids in order.
func (im *Image) BrokerIDs() []int32 {
	ids := slices.Collect(maps.Keys(im.Brokers))
	slices.Sort(ids)
	return ids
}

// Unfenced reports whether broker id is registered and unfenced.
func (im *Image) Unfenced(id int32) bool {
	b, ok := im.Brokers[id]
	return ok && !b.Fenced
}

// next returns a shallow copy of im to apply one entry to: maps are copied, topics are
// shared until changed (copy on write by mutableTopic).
func (im *Image) next() *Image {
	return &Image{
		Version:        im.Version,
		ClusterID:      im.ClusterID,
		Brokers:        maps.Clone(im.Brokers),
		Topics:         maps.Clone(im.Topics),
		NextProducerID: im.NextProducerID,
		ACLs:           maps.Clone(im.ACLs),
		SCRAM:          maps.Clone(im.SCRAM),
		byID:           maps.Clone(im.byID),
	}
}

// mutableTopic replaces the named topic of a next() image with a private copy and
// returns it. Partition slices are never changed in place, only replaced.
func (im *Image) mutableTopic(name string) *Topic {
	t := *im.Topics[name]
	t.Configs = maps.Clone(t.Configs)
	t.Partitions = slices.Clone(t.Partitions)
	im.Topics[name] = &t
	return &t
}

// applyResult is what applying one entry returns to the writer (through raft's
// ApplyFuture.Response).
type applyResult struct {
	err   error
	epoch int64 // RegisterBroker: the assigned broker epoch
}

// apply returns the image after the entry at index, or im itself and an error when any
// record's precondition fails (the entry is all or nothing). Entries at or below
// im.Version were already applied and are skipped.
func (im *Image) apply(index uint64, recs []Record) (*Image, applyResult) {
	if index <= im.Version {
		return im, applyResult{err: fmt.Errorf("%w: entry %d already applied (image version %d)", ErrConflict, index, im.Version)}
	}
	n := im.next()
	n.Version = index
	var res applyResult
	for i, r := range recs {
		if err := n.applyRecord(index, r, &res); err != nil {
			// The failed entry still consumed its index: the version moves so that
			// watchers and snapshots agree with the log, but nothing else changes.
			skipped := *im
			skipped.Version = index
			return &skipped, applyResult{err: fmt.Errorf("record %d (type %d): %w", i, r.Type(), err)}
		}
	}
	return n, res
}

func (n *Image) applyRecord(index uint64, r Record, res *applyResult) error {
	if err := r.validate(); err != nil {
		return err
	}
	switch r := r.(type) {
	case RegisterBrokerRecord:
		n.Brokers[r.NodeID] = Broker{NodeID: r.NodeID, Epoch: int64(index), IncarnationID: r.IncarnationID,
			Listeners: slices.Clone(r.Listeners), Rack: r.Rack, Fenced: true}
		res.epoch = int64(index)
	case ClusterIDRecord:
		if n.ClusterID != "" {
			return fmt.Errorf("%w: cluster id is already %q", ErrConflict, n.ClusterID)
		}
		n.ClusterID = r.ID
	case FenceBrokerRecord:
		b, ok := n.Brokers[r.NodeID]
		if !ok || b.Epoch != r.Epoch {
			return fmt.Errorf("%w: fence broker %d epoch %d: registered epoch %d", ErrConflict, r.NodeID, r.Epoch, b.Epoch)
		}
		b.Fenced = true
		n.Brokers[r.NodeID] = b
	case UnfenceBrokerRecord:
		b, ok := n.Brokers[r.NodeID]
		if !ok || b.Epoch != r.Epoch {
			return fmt.Errorf("%w: unfence broker %d epoch %d: registered epoch %d", ErrConflict, r.NodeID, r.Epoch, b.Epoch)
		}
		b.Fenced = false
		n.Brokers[r.NodeID] = b
	case TopicRecord:
		if _, ok := n.Topics[r.Name]; ok {
			return fmt.Errorf("%w: topic %q exists", ErrConflict, r.Name)
		}
		if _, ok := n.byID[r.ID]; ok {
			return fmt.Errorf("%w: topic id %s in use", ErrConflict, r.ID)
		}
		n.Topics[r.Name] = &Topic{Name: r.Name, ID: r.ID, Configs: maps.Clone(r.Configs)}
		n.byID[r.ID] = r.Name
	case PartitionRecord:
		name, ok := n.byID[r.TopicID]
		if !ok {
			return fmt.Errorf("%w: partition of unknown topic id %s", ErrConflict, r.TopicID)
		}
		p := Partition{Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR), Leader: r.Leader,
			LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch}
		cur := n.Topics[name].Partitions
		switch {
		case int(r.Partition) == len(cur) && r.PartitionEpoch == 0:
			t := n.mutableTopic(name)
			t.Partitions = append(t.Partitions, p)
		case int(r.Partition) < len(cur) && r.PartitionEpoch == cur[r.Partition].PartitionEpoch+1:
			if r.LeaderEpoch < cur[r.Partition].LeaderEpoch {
				return fmt.Errorf("%w: partition %s-%d: leader epoch %d below %d", ErrConflict, name, r.Partition, r.LeaderEpoch, cur[r.Partition].LeaderEpoch)
			}
			t := n.mutableTopic(name)
			t.Partitions[r.Partition] = p
		default:
			have := int32(-1)
			if int(r.Partition) < len(cur) {
				have = cur[r.Partition].PartitionEpoch
			}
			return fmt.Errorf("%w: partition %s-%d: partition epoch %d does not follow %d (%d partitions)",
				ErrConflict, name, r.Partition, r.PartitionEpoch, have, len(cur))
		}
	case RemoveTopicRecord:
		name, ok := n.byID[r.ID]
		if !ok {
			return fmt.Errorf("%w: remove unknown topic id %s", ErrConflict, r.ID)
		}
		delete(n.Topics, name)
		delete(n.byID, r.ID)
	case TopicConfigRecord:
		name, ok := n.byID[r.ID]
		if !ok {
			return fmt.Errorf("%w: config of unknown topic id %s", ErrConflict, r.ID)
		}
		t := n.mutableTopic(name)
		if r.Value == nil {
			delete(t.Configs, r.Key)
		} else {
			if t.Configs == nil {
				t.Configs = map[string]string{}
			}
			t.Configs[r.Key] = *r.Value
		}
	case ProducerIDsRecord:
		if r.FirstID != n.NextProducerID {
			return fmt.Errorf("%w: producer id block at %d, next is %d", ErrConflict, r.FirstID, n.NextProducerID)
		}
		n.NextProducerID = r.FirstID + int64(r.Size)
	case ACLRecord:
		if r.Delete {
			delete(n.ACLs, r.Key)
		} else {
			n.ACLs[r.Key] = slices.Clone(r.Payload)
		}
	case SCRAMRecord:
		k := r.Mechanism + "/" + r.User
		if r.Delete {
			delete(n.SCRAM, k)
		} else {
			n.SCRAM[k] = SCRAMPayload{User: r.User, Mechanism: r.Mechanism, Payload: slices.Clone(r.Payload)}
		}
	default:
		return bad("record type %T", r)
	}
	return nil
}
