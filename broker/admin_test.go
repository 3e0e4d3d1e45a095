package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newAdminBroker opens a broker (not serving) for calling handlers directly.
func newAdminBroker(t *testing.T, props map[string]string) *Broker {
	t.Helper()
	p := map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()}
	for k, v := range props {
		p[k] = v
	}
	cfg, err := ParseConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestMetadataVersions(t *testing.T) {
	b := newAdminBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	a, err := b.createTopic("a", 2, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for v := int16(0); v <= 13; v++ {
		// All topics: v0 empty list, v1+ null list.
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(v)
		if v == 0 {
			req.Topics = []kmsg.MetadataRequestTopic{}
		}
		r, _ := b.handleMetadata(ctx, req)
		resp := r.(*kmsg.MetadataResponse)
		// The internal topic is listed too (internaltopics.go), last.
		if n := len(resp.Topics); n != 2 || *resp.Topics[1].Topic != offsetsTopicName || !resp.Topics[1].IsInternal {
			t.Fatalf("v%d all topics: %d, no internal topic last", v, n)
		}
		resp.Topics = resp.Topics[:1]
		if len(resp.Topics) != 1 || *resp.Topics[0].Topic != "a" || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d all topics: %+v", v, resp.Topics)
		}
		if v >= 1 {
			req.Topics = []kmsg.MetadataRequestTopic{} // v1+: empty list = no topics
			r, _ = b.handleMetadata(ctx, req)
			if n := len(r.(*kmsg.MetadataResponse).Topics); n != 0 {
				t.Errorf("v%d empty list: %d topics", v, n)
			}
		}
	}
	// v12: by topic ID, known and unknown.
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.Topics = []kmsg.MetadataRequestTopic{{TopicID: a.ID}, {TopicID: [16]byte{1}}, {Topic: kmsg.StringPtr("nope")}, {Topic: kmsg.StringPtr("bad name")}}
	r, _ := b.handleMetadata(ctx, req)
	ts := r.(*kmsg.MetadataResponse).Topics
	if len(ts) != 4 || ts[0].ErrorCode != 0 || *ts[0].Topic != "a" || ts[1].ErrorCode != kerr.UnknownTopicID.Code ||
		ts[2].ErrorCode != kerr.UnknownTopicOrPartition.Code || ts[3].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("by id: %+v", ts)
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	b := newAdminBroker(t, map[string]string{"num.partitions": "3"})
	ctx := context.Background()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("auto")}}
	r, _ := b.handleMetadata(ctx, req) // AllowAutoTopicCreation false
	if c := r.(*kmsg.MetadataResponse).Topics[0].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("without allow: %d", c)
	}
	req.AllowAutoTopicCreation = true
	r, _ = b.handleMetadata(ctx, req)
	if mt := r.(*kmsg.MetadataResponse).Topics[0]; mt.ErrorCode != 0 || len(mt.Partitions) != 3 {
		t.Fatalf("with allow: %+v", mt)
	}
	req.SetVersion(3) // v0-3 always allow
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("auto3")}}
	r, _ = b.handleMetadata(ctx, req)
	if mt := r.(*kmsg.MetadataResponse).Topics[0]; mt.ErrorCode != 0 {
		t.Fatalf("v3: %+v", mt)
	}
}

func TestCreateTopicsRequestValidation(t *testing.T) {
	b := newAdminBroker(t, nil)
	ctx := context.Background()
	topic := func(name string, np int32, rf int16, assign ...[]int32) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, np, rf
		for i, r := range assign {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), r
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		return rt
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	req.Topics = []kmsg.CreateTopicsRequestTopic{
		topic("ok", -1, -1),
		topic("assigned", -1, -1, []int32{0}, []int32{0}),
		topic("assigned-elsewhere", -1, -1, []int32{1}),
		topic("assigned-and-count", 2, -1, []int32{0}),
		topic("zero", 0, 1),
		topic("rf0", 1, 0),
		topic("twice", 1, 1),
		topic("twice", 1, 1),
	}
	nullCfg := topic("nullcfg", 1, 1)
	nullCfg.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms"}}
	req.Topics = append(req.Topics, nullCfg)
	r, _ := b.handleCreateTopics(ctx, req)
	want := []int16{0, 0, kerr.InvalidReplicaAssignment.Code, kerr.InvalidRequest.Code, kerr.InvalidPartitions.Code,
		kerr.InvalidReplicationFactor.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidConfig.Code}
	for i, st := range r.(*kmsg.CreateTopicsResponse).Topics {
		if st.ErrorCode != want[i] {
			t.Errorf("%s: code %d, want %d (%v)", st.Topic, st.ErrorCode, want[i], st.ErrorMessage)
		}
		if st.ErrorCode == 0 && (st.NumPartitions < 1 || st.ReplicationFactor != 1 || st.TopicID == [16]byte{} || len(st.Configs) == 0) {
			t.Errorf("%s: %+v", st.Topic, st)
		}
	}
	if a := b.lookupTopic("assigned"); a == nil || a.numPartitions() != 2 {
		t.Errorf("assigned topic: %+v", a)
	}
}

func TestDescribeConfigsBrokerAndSynonyms(t *testing.T) {
	b := newAdminBroker(t, map[string]string{"log.retention.ms": "5000"})
	if _, err := b.createTopic("t", 1, map[string]string{"retention.ms": "1000"}, false); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.SetVersion(4)
	req.IncludeSynonyms = true
	req.IncludeDocumentation = true
	req.Resources = []kmsg.DescribeConfigsRequestResource{
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t", ConfigNames: []string{"retention.ms", "retention.bytes"}},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "0"},
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "5"},
		{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "missing"},
		{ResourceType: kmsg.ConfigResourceTypeBrokerLogger, ResourceName: "0"},
	}
	r, _ := b.handleDescribeConfigs(context.Background(), req)
	rs := r.(*kmsg.DescribeConfigsResponse).Resources
	if len(rs) != 5 {
		t.Fatalf("%d resources", len(rs))
	}
	tc := rs[0].Configs
	if rs[0].ErrorCode != 0 || len(tc) != 2 {
		t.Fatalf("topic: %+v", rs[0])
	}
	for _, c := range tc {
		switch c.Name {
		case "retention.ms":
			if *c.Value != "1000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig || len(c.ConfigSynonyms) != 3 ||
				c.ConfigSynonyms[1].Source != kmsg.ConfigSourceStaticBrokerConfig || *c.ConfigSynonyms[1].Value != "5000" ||
				c.ConfigType != kmsg.ConfigTypeLong {
				t.Errorf("retention.ms %+v", c)
			}
		case "retention.bytes":
			if *c.Value != "-1" || c.Source != kmsg.ConfigSourceDefaultConfig || !c.IsDefault {
				t.Errorf("retention.bytes %+v", c)
			}
		}
	}
	got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range rs[1].Configs {
		got[c.Name] = c
	}
	if c := got["log.retention.ms"]; c.Value == nil || *c.Value != "5000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig || !c.ReadOnly {
		t.Errorf("broker log.retention.ms %+v", c)
	}
	if c := got["num.partitions"]; c.Value == nil || *c.Value != "1" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("broker num.partitions %+v", c)
	}
	if _, ok := got["process.roles"]; ok {
		t.Errorf("ignored key described")
	}
	if rs[2].ErrorCode != kerr.InvalidRequest.Code || rs[3].ErrorCode != kerr.UnknownTopicOrPartition.Code || rs[4].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("errors %d %d %d", rs[2].ErrorCode, rs[3].ErrorCode, rs[4].ErrorCode)
	}
}

func TestAlterConfigsValidateOnlyAndErrors(t *testing.T) {
	b := newAdminBroker(t, nil)
	tp, err := b.createTopic("t", 1, map[string]string{"retention.ms": "1000"}, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	inc.ValidateOnly = true
	inc.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{
		ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t",
		Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Op: kmsg.IncrementalAlterConfigOpSet, Value: kmsg.StringPtr("2000")}},
	}}
	r, _ := b.handleIncrementalAlterConfigs(ctx, inc)
	if c := r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode; c != 0 || tp.Config().RetentionMs != 1000 {
		t.Fatalf("validate only: code %d, retention %d", c, tp.Config().RetentionMs)
	}
	f := func(cfgs []kmsg.IncrementalAlterConfigsRequestResourceConfig, typ kmsg.ConfigResourceType, name string, want int16) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: typ, ResourceName: name, Configs: cfgs}}
		r, _ := b.handleIncrementalAlterConfigs(ctx, req)
		if c := r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode; c != want {
			t.Errorf("%v on %s: code %d, want %d", cfgs, name, c, want)
		}
	}
	set := func(n, v string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		return kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: n, Op: kmsg.IncrementalAlterConfigOpSet, Value: kmsg.StringPtr(v)}
	}
	topic := kmsg.ConfigResourceTypeTopic
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{set("retention.ms", "1"), set("retention.ms", "2")}, topic, "t", kerr.InvalidConfig.Code)
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{set("nope", "1")}, topic, "t", kerr.InvalidConfig.Code)
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "nope", Op: kmsg.IncrementalAlterConfigOpDelete}}, topic, "t", kerr.InvalidConfig.Code)
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Op: 9}}, topic, "t", kerr.InvalidRequest.Code)
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{set("retention.ms", "1")}, topic, "missing", kerr.UnknownTopicOrPartition.Code)
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{set("num.partitions", "1")}, kmsg.ConfigResourceTypeBroker, "0", kerr.InvalidRequest.Code)
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{set("local.retention.ms", "5000")}, topic, "t", kerr.InvalidConfig.Code)
	// SUBTRACT to an empty cleanup.policy is invalid; SUBTRACT of one of two is fine.
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "cleanup.policy", Op: kmsg.IncrementalAlterConfigOpSubtract, Value: kmsg.StringPtr("delete")}}, topic, "t", kerr.InvalidConfig.Code)
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{set("cleanup.policy", "delete,compact")}, topic, "t", 0)
	f([]kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "cleanup.policy", Op: kmsg.IncrementalAlterConfigOpSubtract, Value: kmsg.StringPtr("compact")}}, topic, "t", 0)
	if tc := tp.Config(); tc.CleanupPolicy != "delete" || tc.RetentionMs != 1000 {
		t.Errorf("after alters: %+v", tc)
	}

	// Legacy AlterConfigs: null value and duplicate resource.
	alt := kmsg.NewPtrAlterConfigsRequest()
	alt.Resources = []kmsg.AlterConfigsRequestResource{
		{ResourceType: topic, ResourceName: "t", Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms"}}},
	}
	r, _ = b.handleAlterConfigs(ctx, alt)
	if c := r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode; c != kerr.InvalidConfig.Code {
		t.Errorf("null value: %d", c)
	}
	alt.Resources = append(alt.Resources, alt.Resources[0])
	r, _ = b.handleAlterConfigs(ctx, alt)
	for _, rr := range r.(*kmsg.AlterConfigsResponse).Resources {
		if rr.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("duplicate resource: %d", rr.ErrorCode)
		}
	}
}

func TestDeleteTopicsAndCreatePartitionsRequests(t *testing.T) {
	b := newAdminBroker(t, nil)
	ctx := context.Background()
	a, _ := b.createTopic("a", 1, nil, false)
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.SetVersion(6)
	del.Topics = []kmsg.DeleteTopicsRequestTopic{
		{Topic: kmsg.StringPtr("a"), TopicID: a.ID}, // both: invalid
		{},                              // neither: invalid
		{TopicID: [16]byte{9}},          // unknown id
		{Topic: kmsg.StringPtr("nope")}, // unknown name
	}
	r, _ := b.handleDeleteTopics(ctx, del)
	want := []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.UnknownTopicID.Code, kerr.UnknownTopicOrPartition.Code}
	for i, st := range r.(*kmsg.DeleteTopicsResponse).Topics {
		if st.ErrorCode != want[i] {
			t.Errorf("delete %d: %d, want %d", i, st.ErrorCode, want[i])
		}
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Topics = []kmsg.CreatePartitionsRequestTopic{
		{Topic: "a", Count: 3, Assignment: []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{0}}}}, // 1 assignment for 2 new
	}
	r, _ = b.handleCreatePartitions(ctx, cp)
	if c := r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; c != kerr.InvalidReplicaAssignment.Code {
		t.Errorf("bad assignment: %d", c)
	}
	cp.ValidateOnly = true
	cp.Topics[0].Assignment = nil
	r, _ = b.handleCreatePartitions(ctx, cp)
	if c := r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; c != 0 || a.numPartitions() != 1 {
		t.Errorf("validate only: %d, %d partitions", c, a.numPartitions())
	}
	cp.ValidateOnly = false
	cp.Topics[0].Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{0}}, {Replicas: []int32{0}}}
	r, _ = b.handleCreatePartitions(ctx, cp)
	if c := r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; c != 0 || a.numPartitions() != 3 {
		t.Errorf("grow: %d, %d partitions", c, a.numPartitions())
	}
	r, _ = b.handleCreatePartitions(ctx, cp) // same count again
	if c := r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; c != kerr.InvalidPartitions.Code {
		t.Errorf("same count: %d", c)
	}
}

// Every implemented key and version answers a default (empty) request with a response
// that encodes, without panicking or closing the connection.
func TestHandlersAnswerDefaultRequests(t *testing.T) {
	b := newAdminBroker(t, nil)
	if _, err := b.createTopic("t", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, e := range apiTable() {
		for v := e.min; v <= e.max; v++ {
			req := kmsg.RequestForKey(int16(e.key))
			req.SetVersion(v)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			buf, err := b.handleRequest(ctx, &request{key: int16(e.key), version: v, correlationID: 3, req: req}, "127.0.0.1", "127.0.0.1", nil)
			cancel()
			if err != nil {
				t.Errorf("%s v%d: %v", e.key.Name(), v, err)
				continue
			}
			if e.key == kmsg.Produce && buf == nil {
				continue // acks=0 default: no response
			}
			resp := kmsg.ResponseForKey(int16(e.key))
			resp.SetVersion(v)
			body := buf[8:]
			if resp.IsFlexible() && e.key != kmsg.ApiVersions {
				body = body[1:]
			}
			if err := resp.ReadFrom(body); err != nil {
				t.Errorf("%s v%d: response does not decode: %v", e.key.Name(), v, err)
			}
		}
	}
}
