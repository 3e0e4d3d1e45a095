package group

import (
	"testing"
	"testing/synctest"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStaticRejoinOwnedPartitionsChanged: a restarted Java consumer rejoins with the same
// instance id and topics, but its subscription no longer lists the partitions it owned
// (and its generation is -1). Kafka keeps the group Stable and the generation as it was;
// so must Strata.
func TestStaticRejoinOwnedPartitionsChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		owned := kmsg.NewConsumerMemberMetadata()
		owned.Version, owned.Topics, owned.Generation = 3, []string{"t"}, 1
		owned.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "t", Partitions: []int32{0, 1}}}
		resps := stableGroup(t, c, "g", joinOpts{instance: "a", metadata: owned.AppendTo(nil)}, joinOpts{instance: "b"})
		var old *kmsg.JoinGroupResponse
		for _, r := range resps {
			if r.MemberID[0] == 'a' {
				old = r
			}
		}
		restarted := kmsg.NewConsumerMemberMetadata()
		restarted.Version, restarted.Topics, restarted.Generation = 3, []string{"t"}, -1
		r := c.JoinGroup(t.Context(), joinReq("g", joinOpts{instance: "a", metadata: restarted.AppendTo(nil)}), Client{ID: "cli"})
		if r.ErrorCode != 0 || r.Generation != old.Generation || r.MemberID == old.MemberID {
			t.Fatalf("static rejoin: %+v", r)
		}
		if st := state(c, "g"); st != Stable {
			t.Fatalf("state %v after a static rejoin with the same topics", st)
		}
	})
}
