package share

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// PartitionOffset is the share-partition start offset of one partition and the number of
// records still to deliver below the high watermark (Kafka's lag).
type PartitionOffset struct {
	Start, Lag int64
	OK         bool // the partition has share state in the group
}

// Offset returns the share-partition start and lag of tp in the group.
func (c *Coordinator) Offset(groupID string, tp TP) (PartitionOffset, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[groupID]
	if g == nil {
		return PartitionOffset{}, false
	}
	p := g.parts[tp]
	if p == nil {
		return PartitionOffset{Start: -1, Lag: -1}, true
	}
	_, hwm, ok := c.cfg.Offsets(tp)
	lag := int64(-1)
	if ok {
		done := int64(0)
		for o := p.start; o < p.end; o++ {
			if r := p.recs[o]; r != nil && (r.state == Acknowledged || r.state == Archived) {
				done++
			}
		}
		lag = max(0, hwm-p.start-done)
	}
	return PartitionOffset{Start: p.start, Lag: lag, OK: true}, true
}

// Partitions returns the partitions with share state in the group.
func (c *Coordinator) Partitions(groupID string) []TP {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[groupID]
	if g == nil {
		return nil
	}
	out := make([]TP, 0, len(g.parts))
	for tp := range g.parts {
		out = append(out, tp)
	}
	return out
}

// AlterOffset sets the start offset of tp in an empty group (creating the group): the
// in-flight state is dropped and delivery starts at off. Errors: GROUP_NOT_EMPTY,
// INVALID_REQUEST (off < 0). Call Sync before answering.
func (c *Coordinator) AlterOffset(groupID string, tp TP, off int64) *kerr.Error {
	if off < 0 {
		return kerr.InvalidRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.OtherGroup != nil && c.cfg.OtherGroup(groupID) {
		return kerr.GroupIDNotFound
	}
	g := c.groupLocked(groupID, true)
	if len(g.members) > 0 {
		return kerr.NonEmptyGroup
	}
	g.parts[tp] = newPartition(off)
	c.st.dirty(groupID)
	return nil
}

// DeleteOffsets forgets the share state of every partition of topic in an empty group.
func (c *Coordinator) DeleteOffsets(groupID string, topic [16]byte) *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[groupID]
	if g == nil {
		return kerr.GroupIDNotFound
	}
	if len(g.members) > 0 {
		return kerr.NonEmptyGroup
	}
	for tp := range g.parts {
		if tp.Topic == topic {
			delete(g.parts, tp)
		}
	}
	c.st.dirty(groupID)
	return nil
}

// GroupEmpty reports whether the group exists and has no members.
func (c *Coordinator) GroupEmpty(groupID string) (exists, empty bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[groupID]
	if g == nil {
		return false, false
	}
	return true, len(g.members) == 0
}

// TopicDeleted forgets the share state of a deleted topic in every group (written in the
// background: a topic id is never reused, so a restart that still finds the state only
// keeps dead entries).
func (c *Coordinator) TopicDeleted(topic [16]byte) {
	c.mu.Lock()
	for _, g := range c.groups {
		for tp := range g.parts {
			if tp.Topic == topic {
				delete(g.parts, tp)
				c.st.dirty(g.id)
			}
		}
	}
	c.mu.Unlock()
}
