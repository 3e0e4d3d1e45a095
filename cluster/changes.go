package cluster

import (
	"context"
	"slices"
)

// Role is what a broker is for one partition.
type Role int8

const (
	RoleNone     Role = iota // not a replica (any more): stop serving and fetching; the topic may be gone
	RoleLeader               // lead with LeaderEpoch: accept produce, serve fetches, track followers
	RoleFollower             // fetch from Leader (none when Leader is -1) with LeaderEpoch
)

// PartitionChange is one partition whose state changed for a broker between two images.
type PartitionChange struct {
	Topic     string
	TopicID   TopicID
	Partition int32
	Role      Role
	State     Partition // the new state (zero when Role is RoleNone)
}

// Changes returns, in topic and partition order, what broker must act on to go from
// image old to image cur (old nil: from nothing): every partition it holds a replica of
// in either image whose state (partition epoch) changed, appeared or went away. A topic
// deleted and re-created under the same name is a RoleNone for the old topic id and a new
// partition for the new one.
func Changes(old, cur *Image, broker int32) []PartitionChange {
	if old == nil {
		old = NewImage()
	}
	var out []PartitionChange
	names := cur.TopicNames()
	for _, name := range old.TopicNames() {
		if cur.Topics[name] == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		ot, nt := old.Topics[name], cur.Topics[name]
		if ot != nil && nt != nil && ot.ID != nt.ID {
			out = append(out, gone(ot, broker)...)
			ot = nil
		}
		if nt == nil {
			out = append(out, gone(ot, broker)...)
			continue
		}
		for i, p := range nt.Partitions {
			var op *Partition
			if ot != nil && i < len(ot.Partitions) {
				op = &ot.Partitions[i]
			}
			was := op != nil && slices.Contains(op.Replicas, broker)
			is := slices.Contains(p.Replicas, broker)
			if (!was && !is) || (op != nil && op.PartitionEpoch == p.PartitionEpoch && was == is) {
				continue
			}
			c := PartitionChange{Topic: name, TopicID: nt.ID, Partition: int32(i)}
			if is {
				c.State = p
				c.Role = RoleFollower
				if p.Leader == broker {
					c.Role = RoleLeader
				}
			}
			out = append(out, c)
		}
	}
	return out
}

func gone(t *Topic, broker int32) []PartitionChange {
	if t == nil {
		return nil
	}
	var out []PartitionChange
	for i, p := range t.Partitions {
		if slices.Contains(p.Replicas, broker) {
			out = append(out, PartitionChange{Topic: t.Name, TopicID: t.ID, Partition: int32(i), Role: RoleNone})
		}
	}
	return out
}

// Follow calls apply with every new image c publishes after version after and the
// changes it brings broker (for the first image: all of broker's partitions), until ctx
// ends or apply fails. A broker runs it to become leader or follower
// as the quorum decides; apply's image is the one Metadata should answer from.
func Follow(ctx context.Context, c Controller, broker int32, after uint64, apply func(im *Image, changes []PartitionChange) error) error {
	var prev *Image
	for {
		im, err := c.Watch(ctx, after)
		if err != nil {
			return err
		}
		if err := apply(im, Changes(prev, im, broker)); err != nil {
			return err
		}
		prev, after = im, im.Version
	}
}
