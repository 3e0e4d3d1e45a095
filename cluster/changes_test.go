package cluster

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestChanges(t *testing.T) {
	id2 := TopicID{2}
	im := func(index uint64, prev *Image, recs ...Record) *Image {
		t.Helper()
		if prev == nil {
			prev = NewImage()
		}
		next, res := prev.apply(index, recs)
		if res.err != nil {
			t.Fatal(res.err)
		}
		return next
	}
	a := im(1, nil, TopicRecord{Name: "t", ID: tid},
		PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		PartitionRecord{TopicID: tid, Partition: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2})
	p0 := Partition{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}
	p1 := Partition{Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2}
	f := func(old, cur *Image, broker int32, want ...PartitionChange) {
		t.Helper()
		if got := Changes(old, cur, broker); !reflect.DeepEqual(got, want) {
			t.Fatalf("Changes for broker %d:\n got %+v\nwant %+v", broker, got, want)
		}
	}
	// From nothing: the partitions the broker holds, with its role.
	f(nil, a, 1, PartitionChange{Topic: "t", TopicID: tid, Partition: 0, Role: RoleLeader, State: p0})
	f(nil, a, 2, PartitionChange{Topic: "t", TopicID: tid, Partition: 0, Role: RoleFollower, State: p0},
		PartitionChange{Topic: "t", TopicID: tid, Partition: 1, Role: RoleLeader, State: p1})
	f(nil, a, 9)
	f(a, a, 2)
	// Leadership of t-0 moves to 2: both brokers hear of it, 3 does not.
	b := im(2, a, PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1})
	p0b := Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1}
	f(a, b, 1, PartitionChange{Topic: "t", TopicID: tid, Partition: 0, Role: RoleFollower, State: p0b})
	f(a, b, 2, PartitionChange{Topic: "t", TopicID: tid, Partition: 0, Role: RoleLeader, State: p0b})
	f(a, b, 3)
	// Broker 3 is replaced by 1 in t-1 (a reassignment): 3 stops, 1 starts following.
	c := im(3, b, PartitionRecord{TopicID: tid, Partition: 1, Replicas: []int32{2, 1}, ISR: []int32{2}, Leader: 2, PartitionEpoch: 1})
	p1c := Partition{Replicas: []int32{2, 1}, ISR: []int32{2}, Leader: 2, PartitionEpoch: 1}
	f(b, c, 3, PartitionChange{Topic: "t", TopicID: tid, Partition: 1, Role: RoleNone})
	f(b, c, 1, PartitionChange{Topic: "t", TopicID: tid, Partition: 1, Role: RoleFollower, State: p1c})
	// t deleted and re-created under the same name: the old id stops, the new one starts.
	d := im(4, c, RemoveTopicRecord{ID: tid}, TopicRecord{Name: "t", ID: id2},
		PartitionRecord{TopicID: id2, Partition: 0, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3})
	f(c, d, 1, PartitionChange{Topic: "t", TopicID: tid, Partition: 0, Role: RoleNone}, PartitionChange{Topic: "t", TopicID: tid, Partition: 1, Role: RoleNone})
	f(c, d, 3, PartitionChange{Topic: "t", TopicID: id2, Partition: 0, Role: RoleLeader, State: Partition{Replicas: []int32{3}, ISR: []int32{3}, Leader: 3}})
	// Deleted for good.
	e := im(5, d, RemoveTopicRecord{ID: id2})
	f(d, e, 3, PartitionChange{Topic: "t", TopicID: id2, Partition: 0, Role: RoleNone})
}

// TestFollow follows a one-node quorum's images as a broker would.
func TestFollow(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, soloConfig())
	n := c.active()
	c.registerBrokers(1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	got := make(chan []PartitionChange, 16)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, n, 1, 0, func(im *Image, ch []PartitionChange) error {
			if len(ch) > 0 {
				got <- ch
			}
			return nil
		})
	}()
	c.createTopics(TopicSpec{Name: "f", NumPartitions: 2, ReplicationFactor: 1})
	var all []PartitionChange
	for len(all) < 2 {
		select {
		case ch := <-got:
			all = append(all, ch...)
		case <-ctx.Done():
			t.Fatalf("changes so far: %+v", all)
		}
	}
	for _, ch := range all {
		if ch.Topic != "f" || ch.Role != RoleLeader || ch.State.Leader != 1 {
			t.Fatalf("change %+v", ch)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow ended with %v", err)
	}
}
