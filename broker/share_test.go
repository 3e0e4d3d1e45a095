package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shareClient drives the share-group protocol with raw requests, as a client would, on
// one connection of its own (share sessions belong to a connection).
type shareClient struct {
	t      *testing.T
	cl     *kgo.Client
	group  string
	member string
	epoch  int32 // share session epoch of the next request
}

func newShareClient(t *testing.T, b *Broker, group, member string) *shareClient {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &shareClient{t: t, cl: cl, group: group, member: member}
}

func (s *shareClient) heartbeat(epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
	s.t.Helper()
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = s.group, s.member, epoch, topics
	resp, err := req.RequestWith(context.Background(), s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

type shareAck struct {
	first, last int64
	types       []int8
}

// fetch sends a ShareFetch for topic partition p with the given acknowledgements and
// returns the partition's answer (zero if absent) and the top-level error.
func (s *shareClient) fetch(topic [16]byte, p int32, wait time.Duration, maxRecords int32, acks ...shareAck) (kmsg.ShareFetchResponseTopicPartition, int16) {
	s.t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &s.group, &s.member, s.epoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords, req.BatchSize = int32(wait/time.Millisecond), 1, 1<<20, maxRecords, maxRecords
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes = p, 1<<20
	for _, a := range acks {
		ab := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
		ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = a.first, a.last, a.types
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, ab)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.ErrorCode == 0 {
		s.epoch++
	}
	for _, t := range resp.Topics {
		for _, sp := range t.Partitions {
			if t.TopicID == topic && sp.Partition == p {
				return sp, resp.ErrorCode
			}
		}
	}
	return kmsg.ShareFetchResponseTopicPartition{}, resp.ErrorCode
}

// ack sends a ShareAcknowledge and returns the partition's error code.
func (s *shareClient) ack(topic [16]byte, p int32, acks ...shareAck) int16 {
	s.t.Helper()
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &s.group, &s.member, s.epoch
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	rp.Partition = p
	for _, a := range acks {
		ab := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
		ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = a.first, a.last, a.types
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, ab)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	s.epoch++
	return resp.Topics[0].Partitions[0].ErrorCode
}

// acquired flattens the acquired ranges to offset -> delivery count.
func acquired(sp kmsg.ShareFetchResponseTopicPartition) map[int64]int16 {
	out := map[int64]int16{}
	for _, a := range sp.AcquiredRecords {
		for o := a.FirstOffset; o <= a.LastOffset; o++ {
			out[o] = a.DeliveryCount
		}
	}
	return out
}

func produceValues(t *testing.T, b *Broker, topic string, from, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for i := from; i < from+n; i++ {
		rs = append(rs, kgo.StringRecord(strconv.Itoa(i)))
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func shareOffsets(t *testing.T, b *Broker, group, topic string) kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	req.Version = 1
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	rg.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}
	req.Groups = append(req.Groups, rg)
	resp := requestAt[*kmsg.DescribeShareGroupOffsetsResponse](t, b, req)
	if resp.Groups[0].ErrorCode != 0 {
		t.Fatalf("describe offsets: %v", kerr.ErrorForCode(resp.Groups[0].ErrorCode))
	}
	return resp.Groups[0].Topics[0].Partitions[0]
}

// TestShareGroupProtocol drives KIP-932 with raw requests: join, acquire, accept /
// release / reject, no record acknowledged twice, lock expiry redelivers to another
// member, the delivery count limit archives, session epochs are checked, and the state
// survives a broker restart.
func TestShareGroupProtocol(t *testing.T) {
	dir := t.TempDir()
	props := map[string]string{"log.dirs": dir, "group.share.record.lock.duration.ms": "1000", "group.share.delivery.count.limit": "2"}
	b := startCoreBroker(t, props)
	if _, err := b.createTopic("rq", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	a := newShareClient(t, b, "sg", "member-a")
	hr := a.heartbeat(0, "rq")
	if hr.ErrorCode != 0 || hr.MemberEpoch < 1 || hr.Assignment == nil || len(hr.Assignment.TopicPartitions) != 1 {
		t.Fatalf("join: %+v", hr)
	}
	topic := hr.Assignment.TopicPartitions[0].TopicID
	produceValues(t, b, "rq", 0, 10)

	if _, code := a.fetch(topic, 0, 0, 100, shareAck{0, 0, []int8{1}}); code != kerr.InvalidRequest.Code {
		t.Fatalf("acks on a new session: %v", kerr.ErrorForCode(code))
	}
	sp, code := a.fetch(topic, 0, 5*time.Second, 100)
	if code != 0 || sp.ErrorCode != 0 || len(sp.Records) == 0 {
		t.Fatalf("fetch: %v %+v", kerr.ErrorForCode(code), sp)
	}
	if got := acquired(sp); len(got) != 10 || got[0] != 1 || got[9] != 1 {
		t.Fatalf("acquired %v", got)
	}
	// accept 0-4, release 5, reject 6; 7-9 stay locked.
	if code := a.ack(topic, 0, shareAck{0, 4, []int8{1}}, shareAck{5, 6, []int8{2, 3}}); code != 0 {
		t.Fatalf("ack: %v", kerr.ErrorForCode(code))
	}
	if code := a.ack(topic, 0, shareAck{0, 0, []int8{1}}); code != kerr.InvalidRecordState.Code {
		t.Fatalf("second accept of offset 0: %v", kerr.ErrorForCode(code))
	}
	// A wrong session epoch is refused.
	a.epoch += 5
	if code := a.ack(topic, 0, shareAck{7, 7, []int8{1}}); code != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("wrong session epoch: %v", kerr.ErrorForCode(code))
	}
	a.epoch -= 5

	bm := newShareClient(t, b, "sg", "member-b")
	if hr := bm.heartbeat(0, "rq"); hr.ErrorCode != 0 {
		t.Fatalf("join b: %v", kerr.ErrorForCode(hr.ErrorCode))
	}
	sp, _ = bm.fetch(topic, 0, 0, 100)
	if got := acquired(sp); len(got) != 1 || got[5] != 2 {
		t.Fatalf("b got %v, want the released offset 5 at delivery 2", got)
	}
	// A holds 7-9 and B holds 5 without acknowledging: when the locks expire, 7-9 go to B
	// (delivery 2) and 5, delivered twice (the limit), is archived.
	deadline := time.Now().Add(30 * time.Second)
	var got map[int64]int16
	for len(got) == 0 && time.Now().Before(deadline) {
		sp, code = bm.fetch(topic, 0, 2*time.Second, 100)
		if code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		got = acquired(sp)
	}
	if len(got) != 3 || got[7] != 2 || got[8] != 2 || got[9] != 2 {
		t.Fatalf("after lock expiry b got %v, want 7-9 at delivery 2", got)
	}
	if code := a.ack(topic, 0, shareAck{7, 7, []int8{1}}); code != kerr.InvalidRecordState.Code {
		t.Fatalf("a acknowledging an expired lock: %v", kerr.ErrorForCode(code))
	}
	if o := shareOffsets(t, b, "sg", "rq"); o.StartOffset != 7 || o.Lag != 3 {
		t.Fatalf("offsets: start %d lag %d, want 7 and 3", o.StartOffset, o.Lag)
	}
	// B accepts 7-8 piggybacked on its next fetch and releases 9 (its last delivery).
	sp, code = bm.fetch(topic, 0, 0, 100, shareAck{7, 9, []int8{1, 1, 2}})
	if code != 0 || sp.AcknowledgeErrorCode != 0 || len(acquired(sp)) != 0 {
		t.Fatalf("piggybacked ack: %v %+v", kerr.ErrorForCode(code), sp)
	}
	if o := shareOffsets(t, b, "sg", "rq"); o.StartOffset != 10 || o.Lag != 0 {
		t.Fatalf("offsets: start %d lag %d, want 10 and 0", o.StartOffset, o.Lag)
	}

	// Restart: the state survives; records acquired at the stop are available again.
	produceValues(t, b, "rq", 10, 5)
	sp, _ = bm.fetch(topic, 0, 5*time.Second, 2) // acquires 10-11 (max 2 records)
	if got := acquired(sp); len(got) != 2 || got[10] != 1 {
		t.Fatalf("before restart b got %v", got)
	}
	if code := bm.ack(topic, 0, shareAck{10, 10, []int8{1}}); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	a.cl.Close()
	bm.cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startCoreBroker(t, props)
	if o := shareOffsets(t, b2, "sg", "rq"); o.StartOffset != 11 || o.Lag != 4 {
		t.Fatalf("after restart: start %d lag %d, want 11 and 4", o.StartOffset, o.Lag)
	}
	c := newShareClient(t, b2, "sg", "member-c")
	if hr := c.heartbeat(0, "rq"); hr.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(hr.ErrorCode))
	}
	sp, _ = c.fetch(topic, 0, 5*time.Second, 100)
	if got := acquired(sp); len(got) != 4 || got[11] != 2 || got[12] != 1 || got[14] != 1 {
		t.Fatalf("after restart c got %v, want 11 (delivery 2) and 12-14", got)
	}
}

// TestShareGroupConsumerDies: records held by a member whose connection closes are
// delivered to another member at once, long before their locks would expire.
func TestShareGroupConsumerDies(t *testing.T) {
	b := startCoreBroker(t, map[string]string{"group.share.record.lock.duration.ms": "600000"})
	if _, err := b.createTopic("dq", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	a := newShareClient(t, b, "dg", "a")
	topic := a.heartbeat(0, "dq").Assignment.TopicPartitions[0].TopicID
	produceValues(t, b, "dq", 0, 20)
	sp, _ := a.fetch(topic, 0, 5*time.Second, 100)
	if len(acquired(sp)) != 20 {
		t.Fatalf("a got %v", acquired(sp))
	}
	c := newShareClient(t, b, "dg", "c")
	c.heartbeat(0, "dq")
	if sp, _ := c.fetch(topic, 0, 0, 100); len(acquired(sp)) != 0 {
		t.Fatalf("c got locked records %v", acquired(sp))
	}
	a.cl.Close() // dies holding every lock
	deadline := time.Now().Add(60 * time.Second)
	got := map[int64]int16{}
	for len(got) < 20 && time.Now().Before(deadline) {
		sp, code := c.fetch(topic, 0, time.Second, 100)
		if code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
		for o, n := range acquired(sp) {
			got[o] = n
		}
	}
	for o := int64(0); o < 20; o++ {
		if got[o] != 2 {
			t.Fatalf("offset %d: delivery %d to c, want 2 (got %v)", o, got[o], got)
		}
	}
}

// TestShareGroupFranz: two franz-go share consumers in one group consume every record
// exactly once (accepting each), the group's start offsets reach the end, and
// ShareGroupDescribe lists both members with the topic's partitions.
func TestShareGroupFranz(t *testing.T) {
	b := startCoreBroker(t, nil)
	addr := b.ListenerAddr("PLAINTEXT").String()
	if _, err := b.createTopic("fq", 3, nil, false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var consumers []*kgo.Client
	for i := range 2 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ShareGroup("fg"), kgo.ConsumeTopics("fq"),
			kgo.ClientID(fmt.Sprintf("share-%d", i)), kgo.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		consumers = append(consumers, cl)
	}
	// Wait until both members hold the topic's three partitions (latest: records
	// produced before a partition's state exists are not delivered).
	for {
		d := b.shares.Describe(&kmsg.ShareGroupDescribeRequest{GroupIDs: []string{"fg"}})
		ok := len(d.Groups) == 1 && len(d.Groups[0].Members) == 2
		for _, m := range d.Groups[0].Members {
			ok = ok && len(m.Assignment.TopicPartitions) == 1 && len(m.Assignment.TopicPartitions[0].Partitions) == 3
		}
		if ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("members never assigned: %+v", d.Groups)
		}
		// The consumers join when they first poll.
		for _, cl := range consumers {
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			cl.PollFetches(pctx)
			pcancel()
		}
	}
	const n = 600
	produceValues(t, b, "fq", 0, n)
	var mu sync.Mutex
	seen := map[string]int{}
	perConsumer := make([]int, 2)
	var wg sync.WaitGroup
	for i, cl := range consumers {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				done := len(seen) == n
				mu.Unlock()
				if done {
					return
				}
				pctx, pcancel := context.WithTimeout(ctx, time.Second)
				fs := cl.PollFetches(pctx)
				pcancel()
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)]++
					perConsumer[i]++
					mu.Unlock()
					r.Ack(kgo.AckAccept)
				})
				if err := cl.FlushAcks(ctx); err != nil {
					t.Errorf("flush acks: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("saw %d of %d records", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Fatalf("record %s delivered %d times", v, c)
		}
	}
	t.Logf("records per consumer: %v", perConsumer)
	// Every partition's start offset reaches its end once the acks are durable.
	for {
		req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
		req.Version = 1
		req.Groups = []kmsg.DescribeShareGroupOffsetsRequestGroup{{GroupID: "fg"}}
		resp := requestAt[*kmsg.DescribeShareGroupOffsetsResponse](t, b, req)
		var start, lag int64
		for _, tt := range resp.Groups[0].Topics {
			for _, p := range tt.Partitions {
				start += p.StartOffset
				lag += p.Lag
			}
		}
		if start == n && lag == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("start offsets sum to %d, lag %d", start, lag)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func alterGroupConfig(t *testing.T, b *Broker, group, value string) int16 {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = "share.auto.offset.reset", kmsg.IncrementalAlterConfigOpSet, &value
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp := requestAt[*kmsg.IncrementalAlterConfigsResponse](t, b, req)
	return resp.Resources[0].ErrorCode
}

// TestShareGroupAutoOffsetReset: share.auto.offset.reset=earliest (a GROUP config set with
// IncrementalAlterConfigs) makes a new share group read records produced before it
// existed; the default (latest) does not.
func TestShareGroupAutoOffsetReset(t *testing.T) {
	b := startCoreBroker(t, nil)
	if _, err := b.createTopic("eq", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	produceValues(t, b, "eq", 0, 7)
	if code := alterGroupConfig(t, b, "early", "nonsense"); code != kerr.InvalidConfig.Code {
		t.Fatalf("bad value: %v", kerr.ErrorForCode(code))
	}
	if code := alterGroupConfig(t, b, "early", "earliest"); code != 0 {
		t.Fatalf("set earliest: %v", kerr.ErrorForCode(code))
	}
	for group, want := range map[string]int{"early": 7, "late": 0} {
		c := newShareClient(t, b, group, "m")
		topic := c.heartbeat(0, "eq").Assignment.TopicPartitions[0].TopicID
		sp, code := c.fetch(topic, 0, 200*time.Millisecond, 100)
		if code != 0 || len(acquired(sp)) != want {
			t.Fatalf("group %s: %v, acquired %v, want %d records", group, kerr.ErrorForCode(code), acquired(sp), want)
		}
	}
	// ListGroups v5 lists them as share groups.
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version, lg.TypesFilter = 5, []string{"share"}
	lr := requestAt[*kmsg.ListGroupsResponse](t, b, lg)
	if len(lr.Groups) != 2 || lr.Groups[0].Group != "early" || lr.Groups[0].GroupType != "share" || lr.Groups[0].GroupState != "Stable" || lr.Groups[1].Group != "late" {
		t.Fatalf("ListGroups(share): %+v", lr.Groups)
	}
	lg.TypesFilter = []string{"consumer"}
	if lr := requestAt[*kmsg.ListGroupsResponse](t, b, lg); len(lr.Groups) != 0 {
		t.Fatalf("ListGroups(consumer): %+v", lr.Groups)
	}
}

// TestShareGroupOffsetsAdmin: ShareGroupDescribe, AlterShareGroupOffsets (only on an empty
// group; delivery restarts at the new start offset) and DeleteShareGroupOffsets (the state
// is gone: start offset -1).
func TestShareGroupOffsetsAdmin(t *testing.T) {
	b := startCoreBroker(t, nil)
	if _, err := b.createTopic("aq", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c := newShareClient(t, b, "ag", "m1")
	hr := c.heartbeat(0, "aq")
	topic := hr.Assignment.TopicPartitions[0].TopicID
	produceValues(t, b, "aq", 0, 10)

	dreq := kmsg.NewPtrShareGroupDescribeRequest()
	dreq.Version, dreq.GroupIDs = 1, []string{"ag", "nosuch"}
	d := requestAt[*kmsg.ShareGroupDescribeResponse](t, b, dreq)
	if len(d.Groups) != 2 || d.Groups[0].ErrorCode != 0 || len(d.Groups[0].Members) != 1 || d.Groups[0].Members[0].MemberID != "m1" ||
		d.Groups[0].Members[0].MemberEpoch != hr.MemberEpoch || d.Groups[0].Members[0].Assignment.TopicPartitions[0].Topic != "aq" ||
		d.Groups[0].GroupState != "Stable" || d.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe: %+v", d.Groups)
	}

	alter := func(off int64) *kmsg.AlterShareGroupOffsetsResponse {
		req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
		req.GroupID = "ag"
		req.Topics = []kmsg.AlterShareGroupOffsetsRequestTopic{{Topic: "aq", Partitions: []kmsg.AlterShareGroupOffsetsRequestTopicPartition{{Partition: 0, StartOffset: off}}}}
		return requestAt[*kmsg.AlterShareGroupOffsetsResponse](t, b, req)
	}
	if r := alter(3); r.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("alter with a member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if hr := c.heartbeat(-1); hr.ErrorCode != 0 || hr.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", hr)
	}
	if r := alter(3); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", r)
	}
	if o := shareOffsets(t, b, "ag", "aq"); o.StartOffset != 3 || o.Lag != 7 {
		t.Fatalf("after alter: start %d lag %d", o.StartOffset, o.Lag)
	}
	c2 := newShareClient(t, b, "ag", "m2")
	c2.heartbeat(0, "aq")
	sp, _ := c2.fetch(topic, 0, 5*time.Second, 100)
	if got := acquired(sp); len(got) != 7 || got[3] != 1 || got[2] != 0 {
		t.Fatalf("after alter got %v, want 3-9", got)
	}
	c2.heartbeat(-1)

	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = "ag"
	del.Topics = []kmsg.DeleteShareGroupOffsetsRequestTopic{{Topic: "aq"}, {Topic: "nosuch"}}
	dr := requestAt[*kmsg.DeleteShareGroupOffsetsResponse](t, b, del)
	if dr.ErrorCode != 0 || dr.Topics[0].ErrorCode != 0 || dr.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("delete: %+v", dr)
	}
	if o := shareOffsets(t, b, "ag", "aq"); o.StartOffset != -1 {
		t.Fatalf("after delete: start %d", o.StartOffset)
	}
}
