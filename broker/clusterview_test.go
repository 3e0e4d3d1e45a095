package broker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakeClusterAdmin struct {
	mu      sync.Mutex
	created []string
}

func (f *fakeClusterAdmin) CreateTopic(_ context.Context, name string, partitions int32, rf int16, _ [][]int32, _ map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, fmt.Sprintf("%s/%d/%d", name, partitions, rf))
	return nil
}

func (f *fakeClusterAdmin) CreatePartitions(_ context.Context, topic string, total int32, assignments [][]int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, fmt.Sprintf("+%s/%d/%v", topic, total, assignments))
	return nil
}

func (f *fakeClusterAdmin) DeleteTopic(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, "-"+name)
	return nil
}

// TestClusterViewFollowsImage: a clustered broker (node 2 of brokers 1-3, broker 3
// fenced) answers Metadata, Produce, Fetch, CreateTopics and FindCoordinator from the
// state it was given.
func TestClusterViewFollowsImage(t *testing.T) {
	b := newAdminBroker(t, map[string]string{"node.id": "2", "num.partitions": "2"})
	id := newTopicID()
	if err := b.EnsureTopic("t", id, 3, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureTopic("t", id, 3, nil); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := b.EnsureTopic("t", newTopicID(), 3, nil); err == nil {
		t.Fatal("EnsureTopic under another topic id succeeded")
	}
	admin := &fakeClusterAdmin{}
	b.SetCluster(&ClusterState{Version: 7, ClusterID: "cid", ControllerID: 2,
		Brokers: []ClusterBroker{{NodeID: 1, Host: "h1", Port: 1}, {NodeID: 2, Host: "h2", Port: 2, Rack: "r2"}},
		Topics: map[string]ClusterTopic{"t": {ID: id, Partitions: []ClusterPartition{
			{Leader: 2, LeaderEpoch: 5, Replicas: []int32{2, 1, 3}, ISR: []int32{2, 1}},
			{Leader: 1, LeaderEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}},
			{Leader: -1, LeaderEpoch: 4, Replicas: []int32{3, 2, 1}, ISR: []int32{3}},
		}}}}, admin)

	// Metadata: every topic.
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version = 12
	r, err := b.handleMetadata(t.Context(), mreq)
	if err != nil {
		t.Fatal(err)
	}
	mresp := r.(*kmsg.MetadataResponse)
	var brokers []string
	for _, br := range mresp.Brokers {
		brokers = append(brokers, fmt.Sprintf("%d@%s:%d", br.NodeID, br.Host, br.Port))
	}
	if got, want := fmt.Sprint(brokers), "[1@h1:1 2@h2:2]"; got != want {
		t.Errorf("brokers %s, want %s", got, want)
	}
	if mresp.ClusterID == nil || *mresp.ClusterID != "cid" || mresp.ControllerID != 2 {
		t.Errorf("cluster id %v controller %d", mresp.ClusterID, mresp.ControllerID)
	}
	var parts []string
	for _, mt := range mresp.Topics {
		if *mt.Topic != "t" {
			continue
		}
		if mt.TopicID != id {
			t.Errorf("topic id %x, want %x", mt.TopicID, id)
		}
		for _, p := range mt.Partitions {
			parts = append(parts, fmt.Sprintf("%d:e%d l%d e%d r%v i%v o%v", p.Partition, p.ErrorCode, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.OfflineReplicas))
		}
	}
	want := []string{
		"0:e0 l2 e5 r[2 1 3] i[2 1] o[3]",
		"1:e0 l1 e3 r[1 2 3] i[1 2] o[3]",
		fmt.Sprintf("2:e%d l-1 e4 r[3 2 1] i[3] o[3]", kerr.LeaderNotAvailable.Code),
	}
	if !slices.Equal(parts, want) {
		t.Errorf("partitions\n got %q\nwant %q", parts, want)
	}

	// Produce: only the led partition accepts.
	preq := kmsg.NewPtrProduceRequest()
	preq.Version, preq.Acks, preq.TimeoutMillis = 9, -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "t"
	for i := range int32(3) {
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Partition = i
		pp.Records = testBatch(t, 0, time.Now().UnixMilli(), []int64{0}, false)
		pt.Partitions = append(pt.Partitions, pp)
	}
	preq.Topics = append(preq.Topics, pt)
	r, err = b.handleProduce(t.Context(), preq)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, p := range r.(*kmsg.ProduceResponse).Topics[0].Partitions {
		codes = append(codes, p.ErrorCode)
	}
	nl := kerr.NotLeaderForPartition.Code
	if want := []int16{0, nl, nl}; !slices.Equal(codes, want) {
		t.Errorf("produce codes %v, want %v", codes, want)
	}

	// A topic of the image this broker holds no replica of: NOT_LEADER_OR_FOLLOWER.
	if _, err := b.produceTopic(t.Context(), "elsewhere"); err != kerr.LeaderNotAvailable {
		t.Fatalf("auto-create before the image has the topic: %v, want LEADER_NOT_AVAILABLE", err)
	}
	s := *b.cluster().state
	s.Topics = map[string]ClusterTopic{"elsewhere": {ID: newTopicID(), Partitions: []ClusterPartition{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}}}
	for k, v := range b.cluster().state.Topics {
		s.Topics[k] = v
	}
	b.SetCluster(&s, admin)
	if _, err := b.produceTopic(t.Context(), "elsewhere"); err != kerr.NotLeaderForPartition {
		t.Fatalf("produce to a topic led elsewhere: %v", err)
	}
	admin.created = nil

	// Fetch: leader epochs are checked against the image.
	for _, c := range []struct {
		part, epoch int32
		want        int16
	}{
		{0, -1, 0}, {0, 5, 0}, {0, 4, kerr.FencedLeaderEpoch.Code}, {0, 6, kerr.UnknownLeaderEpoch.Code},
		{1, -1, nl}, {1, 3, nl},
	} {
		freq := kmsg.NewPtrFetchRequest()
		freq.Version, freq.ReplicaID, freq.MaxWaitMillis, freq.MaxBytes = 12, -1, 0, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "t"
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.CurrentLeaderEpoch, fp.PartitionMaxBytes = c.part, c.epoch, 1<<20
		ft.Partitions = append(ft.Partitions, fp)
		freq.Topics = append(freq.Topics, ft)
		r, err := b.handleFetch(t.Context(), freq)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode; got != c.want {
			t.Errorf("fetch %d epoch %d: code %d, want %d", c.part, c.epoch, got, c.want)
		}
	}

	// CreateTopics and auto-creation go to the controller.
	creq := kmsg.NewPtrCreateTopicsRequest()
	creq.Version = 7
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "n", 4, 3
	creq.Topics = append(creq.Topics, ct)
	r, err = b.handleCreateTopics(t.Context(), creq)
	if err != nil {
		t.Fatal(err)
	}
	if st := r.(*kmsg.CreateTopicsResponse).Topics[0]; st.ErrorCode != 0 || st.NumPartitions != 4 || st.ReplicationFactor != 3 {
		t.Errorf("create: %+v", st)
	}
	if b.lookupTopic("n") != nil {
		t.Error("CreateTopics created the topic locally; it must wait for the image")
	}
	mreq = kmsg.NewPtrMetadataRequest()
	mreq.Version, mreq.AllowAutoTopicCreation = 12, true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("auto")
	mreq.Topics = append(mreq.Topics, rt)
	r, err = b.handleMetadata(t.Context(), mreq)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.(*kmsg.MetadataResponse).Topics[0].ErrorCode; got != kerr.LeaderNotAvailable.Code {
		t.Errorf("auto-created topic: code %d, want LEADER_NOT_AVAILABLE", got)
	}
	if got, want := fmt.Sprint(admin.created), "[n/4/3 auto/2/-1]"; got != want {
		t.Errorf("controller got %s, want %s", got, want)
	}

	// CreatePartitions is checked against the image and goes to the controller.
	cpreq := kmsg.NewPtrCreatePartitionsRequest()
	cpreq.Version = 3
	for _, c := range []struct {
		topic string
		count int32
	}{{"t", 5}, {"t", 3}, {"nope", 2}} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = c.topic, c.count
		cpreq.Topics = append(cpreq.Topics, rt)
	}
	r, err = b.handleCreatePartitions(t.Context(), cpreq)
	if err != nil {
		t.Fatal(err)
	}
	var cpCodes []int16
	for _, st := range r.(*kmsg.CreatePartitionsResponse).Topics {
		cpCodes = append(cpCodes, st.ErrorCode)
	}
	// "t" twice in one request is INVALID_REQUEST for both, as without a cluster.
	if want := []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.UnknownTopicOrPartition.Code}; !slices.Equal(cpCodes, want) {
		t.Errorf("create partitions codes %v, want %v", cpCodes, want)
	}
	cpreq.Topics = cpreq.Topics[:1]
	if r, err = b.handleCreatePartitions(t.Context(), cpreq); err != nil || r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions t/5: %+v %v", r, err)
	}
	cpreq.Topics[0].Count = 3
	if r, err = b.handleCreatePartitions(t.Context(), cpreq); err != nil || r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode != kerr.InvalidPartitions.Code {
		t.Fatalf("create partitions t/3 (not growing): %+v %v", r, err)
	}

	// DeleteTopics goes to the controller; the local copy stays until the image drops it.
	dreq := kmsg.NewPtrDeleteTopicsRequest()
	dreq.Version = 6
	for _, dt := range []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("t")}, {Topic: kmsg.StringPtr("nope")}} {
		dreq.Topics = append(dreq.Topics, dt)
	}
	r, err = b.handleDeleteTopics(t.Context(), dreq)
	if err != nil {
		t.Fatal(err)
	}
	dr := r.(*kmsg.DeleteTopicsResponse)
	if dr.Topics[0].ErrorCode != 0 || dr.Topics[0].TopicID != id || dr.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("delete: %+v", dr.Topics)
	}
	if got, want := fmt.Sprint(admin.created), "[n/4/3 auto/2/-1 +t/5/[] -t]"; got != want {
		t.Errorf("controller got %s, want %s", got, want)
	}
	if b.lookupTopic("t") == nil {
		t.Error("DeleteTopics dropped the local copy before the image did")
	}

	// FindCoordinator: both brokers are used, and v3 and v4 agree.
	seen := map[int32]bool{}
	for i := range 20 {
		key := fmt.Sprint("group-", i)
		f3 := kmsg.NewPtrFindCoordinatorRequest()
		f3.Version, f3.CoordinatorKey = 3, key
		r3, err := b.handleFindCoordinator(t.Context(), f3)
		if err != nil {
			t.Fatal(err)
		}
		f4 := kmsg.NewPtrFindCoordinatorRequest()
		f4.Version, f4.CoordinatorKeys = 4, []string{key}
		r4, err := b.handleFindCoordinator(t.Context(), f4)
		if err != nil {
			t.Fatal(err)
		}
		a, c := r3.(*kmsg.FindCoordinatorResponse), r4.(*kmsg.FindCoordinatorResponse).Coordinators[0]
		if a.ErrorCode != 0 || c.ErrorCode != 0 || a.NodeID != c.NodeID || a.Port != c.Port {
			t.Errorf("%s: v3 %d@%d (code %d), v4 %d@%d (code %d)", key, a.NodeID, a.Port, a.ErrorCode, c.NodeID, c.Port, c.ErrorCode)
		}
		seen[a.NodeID] = true
	}
	if !seen[1] || !seen[2] || len(seen) != 2 {
		t.Errorf("coordinators %v, want brokers 1 and 2", seen)
	}
}

// TestSingleBrokerLeaderEpoch: without SetCluster the broker leads every partition with
// leader epoch 0, as before clustered mode.
func TestSingleBrokerLeaderEpoch(t *testing.T) {
	b := newAdminBroker(t, nil)
	if _, err := b.createTopic("s", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		epoch int32
		want  error
	}{{-1, nil}, {0, nil}, {1, kerr.UnknownLeaderEpoch}} {
		if err := b.leaderCheck("s", 0, c.epoch); err != c.want {
			t.Errorf("epoch %d: %v, want %v", c.epoch, err, c.want)
		}
	}
}
