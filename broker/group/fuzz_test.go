package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func supportedKeys() []int16 { return sortedKeys(SupportedVersions()) }

// FuzzHandlers builds requests of every served key and version from fuzzed field values
// (group, member and instance ids, generation, timeouts, topic, partition, offset,
// protocol metadata) and runs a sequence of three of them on one coordinator.
// Invariants: no panic, a response of the request's version that encodes, and no handler
// blocking past its ctx. (Raw-byte request decoding is fuzzed by the broker; kmsg itself
// can spin for seconds on some flexible-version inputs, which would only slow this target.)
func FuzzHandlers(f *testing.F) {
	f.Add([]byte{11, 9, 8, 9, 12, 4}, "g", "", "", int32(-1), int32(10000), "t", int32(0), int64(5), []byte{0, 1})
	f.Add([]byte{11, 5, 14, 5, 13, 5}, "g", "m", "i", int32(1), int32(1), "t", int32(-1), int64(-1), []byte(nil))
	f.Add([]byte{8, 2, 9, 1, 47, 0}, "", "m", "", int32(0), int32(-5), "", int32(7), int64(1<<40), []byte("x"))
	f.Add([]byte{15, 6, 16, 5, 42, 2}, "g", "", "", int32(0), int32(0), "t", int32(0), int64(0), []byte(nil))
	f.Add([]byte{68, 1, 68, 1, 69, 1}, "g", "m", "", int32(0), int32(5000), "t", int32(-1), int64(0), []byte(nil))
	f.Add([]byte{68, 0, 8, 8, 68, 1}, "g", "m", "i", int32(1), int32(5000), "t", int32(0), int64(3), []byte("t|u"))
	topics := func() []TopicInfo {
		return []TopicInfo{{Name: "t", ID: [16]byte{1}, Partitions: 3}, {Name: "u", ID: [16]byte{2}, Partitions: 1}}
	}
	c, err := New(Config{InitialRebalanceDelay: -1, MinSessionTimeout: time.Millisecond, Topics: topics}, NewMemStore(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(c.stop)
	keys := supportedKeys()
	f.Fuzz(func(t *testing.T, ops []byte, group, member, instance string, gen, timeout int32, topic string, part int32, off int64, meta []byte) {
		for i := 0; i+1 < len(ops) && i < 6; i += 2 {
			k := int16(ops[i])
			vr, ok := SupportedVersions()[k]
			if !ok {
				k = keys[int(ops[i])%len(keys)]
				vr = SupportedVersions()[k]
			}
			v := vr[0] + int16(ops[i+1])%(vr[1]-vr[0]+1)
			req := buildRequest(k, group, member, instance, gen, timeout, topic, part, off, meta)
			req.SetVersion(v)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			done := make(chan kmsg.Response, 1)
			go func() {
				done <- c.Handle(ctx, req, Client{ID: "fuzz", Host: "/h"}, Node{NodeID: 1, Host: "h", Port: 1})
			}()
			select {
			case resp := <-done:
				cancel()
				if resp == nil || resp.GetVersion() != v {
					t.Fatalf("key %d v%d: response %v", k, v, resp)
				}
				resp.AppendTo(nil)
			case <-time.After(5 * time.Second):
				cancel()
				t.Fatalf("key %d v%d: handler ignored its ctx", k, v)
			}
		}
	})
}

func buildRequest(k int16, group, member, instance string, gen, timeout int32, topic string, part int32, off int64, meta []byte) kmsg.Request {
	var inst *string
	if instance != "" {
		inst = &instance
	}
	md := string(meta)
	switch kmsg.Key(k) {
	case kmsg.FindCoordinator:
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.CoordinatorKey, r.CoordinatorKeys, r.CoordinatorType = group, []string{group, member}, int8(gen)
		return r
	case kmsg.JoinGroup:
		r := kmsg.NewPtrJoinGroupRequest()
		r.Group, r.MemberID, r.InstanceID, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = group, member, inst, timeout, timeout
		r.ProtocolType = "consumer"
		if len(meta) > 0 {
			r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: topic, Metadata: meta}, {Name: "range", Metadata: meta}}
		}
		return r
	case kmsg.SyncGroup:
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.MemberID, r.InstanceID, r.Generation = group, member, inst, gen
		r.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: member, MemberAssignment: meta}}
		return r
	case kmsg.Heartbeat:
		r := kmsg.NewPtrHeartbeatRequest()
		r.Group, r.MemberID, r.InstanceID, r.Generation = group, member, inst, gen
		return r
	case kmsg.LeaveGroup:
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Group, r.MemberID = group, member
		r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: member, InstanceID: inst}}
		return r
	case kmsg.OffsetCommit:
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.MemberID, r.InstanceID, r.Generation = group, member, inst, gen
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: part, Offset: off, LeaderEpoch: timeout, Metadata: &md}}}}
		return r
	case kmsg.OffsetFetch:
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Group = group
		if part >= 0 {
			r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{part}}}
			r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{part}}}}}
		} else {
			r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group}}
		}
		return r
	case kmsg.ListGroups:
		r := kmsg.NewPtrListGroupsRequest()
		if topic != "" {
			r.StatesFilter, r.TypesFilter = []string{topic}, []string{member}
		}
		return r
	case kmsg.DescribeGroups:
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Groups = []string{group, member}
		return r
	case kmsg.DeleteGroups:
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = []string{group}
		return r
	case kmsg.ConsumerGroupHeartbeat:
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Group, r.MemberID, r.MemberEpoch, r.InstanceID, r.RebalanceTimeoutMillis = group, member, gen, inst, timeout
		r.SubscribedTopicNames = []string{topic}
		if len(meta) > 0 {
			r.SubscribedTopicRegex = &md
		}
		if part >= 0 {
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: [16]byte{byte(part)}, Partitions: []int32{part}}}
		} else {
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		return r
	case kmsg.ConsumerGroupDescribe:
		r := kmsg.NewPtrConsumerGroupDescribeRequest()
		r.Groups = []string{group, member}
		return r
	case kmsg.OffsetDelete:
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: part}}}}
		return r
	}
	panic("unserved key")
}
