package broker

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// requestAt sends req at exactly its version (kgo otherwise sends the highest both sides
// know) on a client of its own.
func requestAt[R kmsg.Response](t *testing.T, b *Broker, req kmsg.Request) R {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(req.Key(), req.GetVersion())
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r, err := cl.Request(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetVersion() != req.GetVersion() {
		t.Fatalf("%s went out at v%d, not v%d", kmsg.NameForKey(req.Key()), r.GetVersion(), req.GetVersion())
	}
	return r.(R)
}

// singleNode starts a broker with topic "t" of two partitions and returns a kadm client.
func singleNode(t *testing.T) (*Broker, *kgo.Client, *kadm.Client) {
	t.Helper()
	b := startCoreBroker(t, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(context.Background(), 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	return b, cl, adm
}

// TestElectLeadersSingleNode: a single replica is always the preferred leader: named
// partitions need no election, unknown ones are UNKNOWN_TOPIC_OR_PARTITION, and "all
// partitions" answers none (Kafka leaves out those that need no election).
func TestElectLeadersSingleNode(t *testing.T) {
	b, cl, adm := singleNode(t)
	ctx := context.Background()
	for _, how := range []kadm.ElectLeadersHow{kadm.ElectPreferredReplica, kadm.ElectLiveReplica} {
		res, err := adm.ElectLeaders(ctx, how, kadm.TopicsSet{"t": {0: {}, 1: {}}, "nosuch": {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []int32{0, 1} {
			if r := res["t"][p]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Fatalf("how %d: t-%d: %v", how, p, r.Err)
			}
		}
		if r := res["nosuch"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("how %d: nosuch-0: %v", how, r.Err)
		}
	}
	all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil || len(all) != 0 {
		t.Fatalf("all partitions: %v, %v", all, err)
	}
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrElectLeadersRequest()
		req.Version = v
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = "t", []int32{0, 7}
		req.Topics = append(req.Topics, rt)
		resp := requestAt[*kmsg.ElectLeadersResponse](t, b, req)
		got := resp.Topics[0].Partitions
		if resp.ErrorCode != 0 || len(got) != 2 || got[0].ErrorCode != kerr.ElectionNotNeeded.Code || got[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = 5
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("election type 5: %+v %v", resp, err)
	}
}

// TestPartitionReassignmentsSingleNode: the only valid assignment is this node, which
// every partition has; other brokers, empty lists and duplicates are
// INVALID_REPLICA_ASSIGNMENT; cancelling is NO_REASSIGNMENT_IN_PROGRESS; nothing is ever
// listed as reassigning.
func TestPartitionReassignmentsSingleNode(t *testing.T) {
	b, cl, adm := singleNode(t)
	ctx := context.Background()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("t", 0, []int32{b.cfg.NodeID})
	req.Assign("t", 1, []int32{b.cfg.NodeID, 5})
	req.Assign("nosuch", 0, []int32{b.cfg.NodeID})
	req.CancelAssign("t", 9)
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic string
		p     int32
		want  error
	}{{"t", 0, nil}, {"t", 1, kerr.InvalidReplicaAssignment}, {"nosuch", 0, kerr.UnknownTopicOrPartition}, {"t", 9, kerr.UnknownTopicOrPartition}} {
		if r := res[c.topic][c.p]; !errors.Is(r.Err, c.want) && !(c.want == nil && r.Err == nil) {
			t.Fatalf("%s-%d: %v (%s), want %v", c.topic, c.p, r.Err, r.ErrMessage, c.want)
		}
	}
	var cancel kadm.AlterPartitionAssignmentsReq
	cancel.CancelAssign("t", 0)
	cancel.Assign("t", 1, []int32{})
	res, err = adm.AlterPartitionAssignments(ctx, cancel)
	if err != nil {
		t.Fatal(err)
	}
	if r := res["t"][0]; !errors.Is(r.Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel: %v", r.Err)
	}
	if r := res["t"][1]; !errors.Is(r.Err, kerr.InvalidReplicaAssignment) {
		t.Fatalf("empty replicas: %v", r.Err)
	}
	raw := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, []int32{b.cfg.NodeID, b.cfg.NodeID}
	rt.Partitions = append(rt.Partitions, rp)
	raw.Topics = append(raw.Topics, rt)
	if resp, err := raw.RequestWith(ctx, cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("duplicate replica: %+v %v", resp, err)
	}

	for _, s := range []kadm.TopicsSet{nil, {"t": {0: {}}, "nosuch": {0: {}}}} {
		list, err := adm.ListPartitionReassignments(ctx, s)
		if err != nil || len(list) != 0 {
			t.Fatalf("list %v: %v, %v", s, list, err)
		}
	}
}

// TestDescribeQuorumSingleNode: the node is the only voter and the leader of
// __cluster_metadata-0; any other partition is INVALID_REQUEST.
func TestDescribeQuorumSingleNode(t *testing.T) {
	b, _, _ := singleNode(t)
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Version = v
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
		req.Topics = append(req.Topics, rt)
		resp := requestAt[*kmsg.DescribeQuorumResponse](t, b, req)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.LeaderID != b.cfg.NodeID || len(p.CurrentVoters) != 1 || p.CurrentVoters[0].ReplicaID != b.cfg.NodeID || len(p.Observers) != 0 {
			t.Fatalf("v%d: partition %+v", v, p)
		}
		if v >= 1 && p.CurrentVoters[0].LastCaughtUpTimestamp <= 0 {
			t.Fatalf("v%d: caught-up time %d", v, p.CurrentVoters[0].LastCaughtUpTimestamp)
		}
		if v >= 2 && (len(resp.Nodes) != 1 || resp.Nodes[0].NodeID != b.cfg.NodeID || len(resp.Nodes[0].Listeners) != 1 ||
			resp.Nodes[0].Listeners[0].Name != "PLAINTEXT" || p.CurrentVoters[0].ReplicaDirectoryID == [16]byte{}) {
			t.Fatalf("v2: nodes %+v, voter %+v", resp.Nodes, p.CurrentVoters[0])
		}
		req.Topics[0].Topic = "t"
		if resp := requestAt[*kmsg.DescribeQuorumResponse](t, b, req); resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("v%d other topic: %+v", v, resp)
		}
	}
}

// TestFeaturesSingleNode: ApiVersions (v3+) lists metadata.version as supported and
// finalized; UpdateFeatures accepts only the finalized level and refuses the rest as a
// Kafka 4.x controller does.
func TestFeaturesSingleNode(t *testing.T) {
	b, _, adm := singleNode(t)
	ctx := context.Background()
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		raw := v.Raw()
		if len(raw.SupportedFeatures) != 1 || raw.SupportedFeatures[0].Name != "metadata.version" ||
			raw.SupportedFeatures[0].MinVersion != 7 || raw.SupportedFeatures[0].MaxVersion != 25 ||
			len(raw.FinalizedFeatures) != 1 || raw.FinalizedFeatures[0].MaxVersionLevel != 25 || raw.FinalizedFeaturesEpoch != 0 {
			t.Fatalf("features: supported %+v finalized %+v epoch %d", raw.SupportedFeatures, raw.FinalizedFeatures, raw.FinalizedFeaturesEpoch)
		}
	}
	for _, c := range []struct {
		name string
		u    kadm.FeatureUpdate
		want error
	}{
		{"same level", kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 25, UpgradeType: 1}, nil},
		{"above supported", kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 26, UpgradeType: 1}, kerr.InvalidUpdateVersion},
		{"downgrade as upgrade", kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 20, UpgradeType: 1}, kerr.InvalidUpdateVersion},
		{"safe downgrade", kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 20, UpgradeType: 2}, kerr.InvalidUpdateVersion},
		{"unknown feature", kadm.FeatureUpdate{Feature: "no.such.feature", MaxVersionLevel: 1, UpgradeType: 1}, kerr.InvalidUpdateVersion},
		{"bad upgrade type", kadm.FeatureUpdate{Feature: "metadata.version", MaxVersionLevel: 25, UpgradeType: 9}, kerr.InvalidUpdateVersion},
	} {
		for _, validate := range []bool{false, true} {
			res, err := adm.UpdateFeatures(ctx, validate, c.u)
			got := err
			if got == nil {
				got = res.Error()
			}
			if !errors.Is(got, c.want) && !(c.want == nil && got == nil) {
				t.Fatalf("%s (validate %v): %v, want %v", c.name, validate, got, c.want)
			}
		}
	}
	// v0/v1 answer per feature; v2 at the top level.
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrUpdateFeaturesRequest()
		req.Version = v
		for _, lvl := range []int16{25, 30} {
			u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			u.Feature, u.MaxVersionLevel, u.UpgradeType = "metadata.version", lvl, 1
			if lvl == 30 {
				u.Feature = "other"
			}
			req.FeatureUpdates = append(req.FeatureUpdates, u)
		}
		resp := requestAt[*kmsg.UpdateFeaturesResponse](t, b, req)
		if v < 2 && (resp.ErrorCode != 0 || len(resp.Results) != 2 || resp.Results[0].ErrorCode != 0 || resp.Results[1].ErrorCode != kerr.InvalidUpdateVersion.Code) {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if v == 2 && (resp.ErrorCode != kerr.InvalidUpdateVersion.Code || len(resp.Results) != 0) {
			t.Fatalf("v2: %+v", resp)
		}
		req.FeatureUpdates[1].Feature = "metadata.version"
		if resp := requestAt[*kmsg.UpdateFeaturesResponse](t, b, req); resp.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("v%d twice: %+v", v, resp)
		}
	}
}
