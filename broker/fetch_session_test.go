package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// sessClient is a raw Fetch client for the session tests: kgo only carries the requests.
type sessClient struct {
	t     *testing.T
	addr  string
	cl    *kgo.Client           // produces
	byVer map[int16]*kgo.Client // fetches, at the version of their key
	topic string
	id    [16]byte
}

// client returns a client whose Fetch requests go out at exactly version (kgo otherwise
// sends the highest version both sides know).
func (c *sessClient) client(version int16) *kgo.Client {
	c.t.Helper()
	if cl := c.byVer[version]; cl != nil {
		return cl
	}
	v := kversion.Stable()
	v.SetMaxKeyVersion(int16(kmsg.Fetch), version)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr), kgo.MaxVersions(v))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	c.byVer[version] = cl
	return cl
}

func newSessClient(t *testing.T, b *Broker, topic string, partitions int32) *sessClient {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	return &sessClient{t: t, addr: b.ListenerAddr("PLAINTEXT").String(), cl: cl, byVer: make(map[int16]*kgo.Client),
		topic: topic, id: b.lookupTopic(topic).ID}
}

func (c *sessClient) produce(partition int32, value string) {
	c.t.Helper()
	r := &kgo.Record{Topic: c.topic, Partition: partition, Value: []byte(value)}
	if err := c.cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		c.t.Fatal(err)
	}
}

// fetchReq builds a fetch of the given partitions at the given offsets (partition -> offset).
func (c *sessClient) fetchReq(version int16, id, epoch int32, offsets map[int32]int64, forget ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxBytes = 1 << 20
	req.SessionID, req.SessionEpoch = id, epoch
	if len(offsets) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = c.topic, c.id
		for p := int32(0); p < 1000; p++ {
			off, ok := offsets[p]
			if !ok {
				continue
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = c.topic, c.id, forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

func (c *sessClient) do(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	c.t.Helper()
	resp, err := req.RequestWith(context.Background(), c.client(req.Version))
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.Version != req.Version {
		c.t.Fatalf("fetch went out at v%d, not v%d", resp.Version, req.Version)
	}
	return resp
}

// parts summarises a response: partition -> high watermark, with records marked by a "+".
func parts(resp *kmsg.FetchResponse) map[int32]string {
	m := make(map[int32]string)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			s := fmt.Sprintf("hw%d", p.HighWatermark)
			if len(p.RecordBatches) > 0 {
				s += "+"
			}
			if p.ErrorCode != 0 {
				s = kerr.ErrorForCode(p.ErrorCode).Error()
			}
			m[p.Partition] = s
		}
	}
	return m
}

func wantParts(t *testing.T, step string, resp *kmsg.FetchResponse, want map[int32]string) {
	t.Helper()
	if resp.ErrorCode != 0 {
		t.Fatalf("%s: error %v", step, kerr.ErrorForCode(resp.ErrorCode))
	}
	if got := parts(resp); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: partitions %v, want %v", step, got, want)
	}
}

// TestFetchSessionlessFullFetch: a full fetch is answered with the data whatever session
// id it names (issue 19: SessionID=-1 with SessionEpoch=-1, as some clients send it, got
// FETCH_SESSION_ID_NOT_FOUND and no topics); epoch -1 never creates a session, epoch 0
// does, and an incremental fetch of a session the broker does not have is
// FETCH_SESSION_ID_NOT_FOUND, as in Kafka's FetchManager.
func TestFetchSessionlessFullFetch(t *testing.T) {
	b := startCoreBroker(t, nil)
	c := newSessClient(t, b, "sessions", 1)
	c.produce(0, "v")
	for _, tc := range []struct {
		id, epoch   int32
		wantSession bool
	}{{-1, -1, false}, {0, -1, false}, {12345, -1, false}, {0, 0, true}, {12345, 0, true}} {
		resp := c.do(c.fetchReq(12, tc.id, tc.epoch, map[int32]int64{0: 0}))
		if resp.ErrorCode != 0 || (resp.SessionID != 0) != tc.wantSession {
			t.Fatalf("session %d epoch %d: error %d, session %d", tc.id, tc.epoch, resp.ErrorCode, resp.SessionID)
		}
		wantParts(t, fmt.Sprintf("session %d epoch %d", tc.id, tc.epoch), resp, map[int32]string{0: "hw1+"})
	}
	for _, tc := range []struct{ id, epoch int32 }{{12345, 1}, {0, 1}, {-1, 5}} {
		if resp := c.do(c.fetchReq(12, tc.id, tc.epoch, map[int32]int64{0: 0})); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 || resp.SessionID != 0 {
			t.Fatalf("incremental session %d epoch %d: error %d, session %d, %d topics", tc.id, tc.epoch, resp.ErrorCode, resp.SessionID, len(resp.Topics))
		}
	}
	// Fetch v4-v6 has no session fields: always sessionless.
	if resp := c.do(c.fetchReq(6, 0, 0, map[int32]int64{0: 0})); resp.ErrorCode != 0 || len(resp.Topics) != 1 {
		t.Fatalf("v6: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
	}
}

// TestFetchSessionIncremental walks a session through Kafka's rules at Fetch v12 (topic
// names) and v13+ (topic ids): a full fetch creates it with every partition; incremental
// fetches answer only partitions with records, a new high watermark or an error; added
// partitions are answered once; forgotten ones are no longer read.
func TestFetchSessionIncremental(t *testing.T) {
	for _, version := range []int16{12, 13, 18} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			b := startCoreBroker(t, nil)
			c := newSessClient(t, b, "incr", 4)
			c.produce(0, "a")
			full := c.do(c.fetchReq(version, 0, 0, map[int32]int64{0: 0, 1: 0, 2: 0}))
			wantParts(t, "full", full, map[int32]string{0: "hw1+", 1: "hw0", 2: "hw0"})
			id := full.SessionID
			if id <= 0 {
				t.Fatalf("full fetch created no session: id %d", id)
			}
			step := func(name string, epoch int32, offsets map[int32]int64, forget []int32, want map[int32]string) {
				t.Helper()
				resp := c.do(c.fetchReq(version, id, epoch, offsets, forget...))
				if resp.SessionID != id {
					t.Fatalf("%s: session %d, want %d", name, resp.SessionID, id)
				}
				wantParts(t, name, resp, want)
			}
			// The client moves partition 0 past its record: nothing changed anywhere.
			step("idle", 1, map[int32]int64{0: 1}, nil, map[int32]string{})
			step("idle again", 2, nil, nil, map[int32]string{})
			c.produce(1, "b")
			step("new record in 1", 3, nil, nil, map[int32]string{1: "hw1+"})
			// Partition 1 still at offset 0 in the session: its record again.
			step("not advanced", 4, nil, nil, map[int32]string{1: "hw1+"})
			step("advanced", 5, map[int32]int64{1: 1}, nil, map[int32]string{})
			// Forget 2, add 3 (answered once: the session had no high watermark for it).
			step("forget 2 add 3", 6, map[int32]int64{3: 0}, []int32{2}, map[int32]string{3: "hw0"})
			c.produce(2, "c")
			step("forgotten not read", 7, nil, nil, map[int32]string{})
			// An offset out of range is an error, answered every time.
			step("error", 8, map[int32]int64{0: 99}, nil, map[int32]string{0: kerr.OffsetOutOfRange.Error()})
			step("error again", 9, nil, nil, map[int32]string{0: kerr.OffsetOutOfRange.Error()})
			// Once the error is gone the partition is answered again, then not.
			step("error gone", 10, map[int32]int64{0: 1}, nil, map[int32]string{0: "hw1"})
			step("quiet", 11, nil, nil, map[int32]string{})

			// Errors at the top level, with no partitions and session id 0.
			for _, tc := range []struct {
				name    string
				req     *kmsg.FetchRequest
				code    int16
				session int32
			}{
				{"stale epoch", c.fetchReq(version, id, 11, nil), kerr.InvalidFetchSessionEpoch.Code, 0},
				{"future epoch", c.fetchReq(version, id, 13, nil), kerr.InvalidFetchSessionEpoch.Code, 0},
				{"unknown id", c.fetchReq(version, id+1, 12, nil), kerr.FetchSessionIDNotFound.Code, 0},
				{"topic id mode", c.fetchReq(map[bool]int16{true: 12, false: 13}[version >= 13], id, 12, nil), kerr.FetchSessionTopicIDError.Code, 0},
			} {
				resp := c.do(tc.req)
				if resp.ErrorCode != tc.code || len(resp.Topics) != 0 || resp.SessionID != tc.session {
					t.Fatalf("%s: error %v, session %d, %d topics; want %v", tc.name, kerr.ErrorForCode(resp.ErrorCode), resp.SessionID, len(resp.Topics), kerr.ErrorForCode(tc.code))
				}
			}
			// Those errors left the session as it was.
			step("after errors", 12, nil, nil, map[int32]string{})

			// Forgetting every partition closes the session; the fetch is answered
			// without one.
			resp := c.do(c.fetchReq(version, id, 13, nil, 0, 1, 3))
			if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 0 {
				t.Fatalf("forget all: error %d, session %d, %d topics", resp.ErrorCode, resp.SessionID, len(resp.Topics))
			}
			if resp := c.do(c.fetchReq(version, id, 14, nil)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("closed session: error %v", kerr.ErrorForCode(resp.ErrorCode))
			}
		})
	}
}

// TestFetchSessionClose: a full fetch naming a session closes it (epoch 0 opens a new
// one, epoch -1 none), as Kafka's FetchManager does.
func TestFetchSessionClose(t *testing.T) {
	b := startCoreBroker(t, nil)
	c := newSessClient(t, b, "close", 1)
	open := func() int32 {
		resp := c.do(c.fetchReq(13, 0, 0, map[int32]int64{0: 0}))
		if resp.SessionID == 0 {
			t.Fatal("no session")
		}
		return resp.SessionID
	}
	id := open()
	resp := c.do(c.fetchReq(13, id, 0, map[int32]int64{0: 0}))
	if resp.SessionID == 0 || resp.SessionID == id {
		t.Fatalf("full fetch of session %d: new session %d", id, resp.SessionID)
	}
	if r := c.do(c.fetchReq(13, id, 1, nil)); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("replaced session: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	id = resp.SessionID
	if r := c.do(c.fetchReq(13, id, -1, map[int32]int64{0: 0})); r.ErrorCode != 0 || r.SessionID != 0 || len(r.Topics) != 1 {
		t.Fatalf("final epoch: error %d session %d topics %d", r.ErrorCode, r.SessionID, len(r.Topics))
	}
	if r := c.do(c.fetchReq(13, id, 1, nil)); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if n, _ := b.fetchSessions.len(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

// TestFetchSessionUnknownTopicID: a session keeps partitions of unknown topic ids and
// answers them UNKNOWN_TOPIC_ID on every fetch (errors are always sent).
func TestFetchSessionUnknownTopicID(t *testing.T) {
	b := startCoreBroker(t, nil)
	c := newSessClient(t, b, "ids", 1)
	c.id = [16]byte{1, 2, 3}
	resp := c.do(c.fetchReq(13, 0, 0, map[int32]int64{0: 0}))
	want := map[int32]string{0: kerr.UnknownTopicID.Error()}
	wantParts(t, "full", resp, want)
	for epoch := int32(1); epoch <= 2; epoch++ {
		wantParts(t, "incremental", c.do(c.fetchReq(13, resp.SessionID, epoch, nil)), want)
	}
}

// TestFetchSessionSlotsZero: max.incremental.fetch.session.cache.slots=0 turns sessions
// off: full fetches are answered with session id 0.
func TestFetchSessionSlotsZero(t *testing.T) {
	b := startCoreBroker(t, map[string]string{"max.incremental.fetch.session.cache.slots": "0"})
	c := newSessClient(t, b, "off", 1)
	if resp := c.do(c.fetchReq(13, 0, 0, map[int32]int64{0: 0})); resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 {
		t.Fatalf("error %d session %d topics %d", resp.ErrorCode, resp.SessionID, len(resp.Topics))
	}
}

// TestFetchSessionCacheEviction: Kafka's eviction rules on a cache of two slots with a
// clock the test moves.
func TestFetchSessionCacheEviction(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newFetchSessionCache(2, time.Minute, nil)
	c.now = func() time.Time { return now }
	full := func(n int) int32 {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		for p := range n {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = int32(p)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		return c.create(req, resp)
	}
	touch := func(id int32) {
		c.mu.Lock()
		s := c.sessions[id]
		c.touchLocked(s, s.size)
		c.mu.Unlock()
	}
	has := func(id int32) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.sessions[id] != nil
	}
	a, b := full(2), full(3)
	if a == 0 || b == 0 {
		t.Fatal("room for two sessions")
	}
	// Full, nothing stale or old enough: no session, whatever its size.
	if id := full(10); id != 0 {
		t.Fatal("young sessions evicted")
	}
	// Older than the eviction time but used recently: evictable only for a bigger
	// session, and the smallest goes first.
	now = now.Add(50 * time.Second)
	touch(a)
	touch(b)
	now = now.Add(20 * time.Second)
	touch(a)
	touch(b)
	if id := full(2); id != 0 {
		t.Fatal("a session of 2 evicted one of 2")
	}
	c3 := full(4)
	if c3 == 0 || has(a) || !has(b) {
		t.Fatalf("session of 4: id %d; a kept %v, b kept %v", c3, has(a), has(b))
	}
	// b is evictable but c3 is not (created just now, as of its last use); a stale
	// session goes whatever its size: idle over a minute.
	now = now.Add(61 * time.Second)
	touch(c3)
	d := full(1)
	if d == 0 || has(b) || !has(c3) {
		t.Fatalf("stale b: new id %d, b kept %v, c3 kept %v", d, has(b), has(c3))
	}
	if n, p := c.len(); n != 2 || p != 5 {
		t.Fatalf("%d sessions of %d partitions, want 2 of 5", n, p)
	}
}

// TestFetchSessionFranz: franz-go uses sessions by default; a consumer of many partitions
// reads every record and its fetches are incremental.
func TestFetchSessionFranz(t *testing.T) {
	b := startCoreBroker(t, nil)
	addr := b.ListenerAddr("PLAINTEXT").String()
	c := newSessClient(t, b, "franz-sess", 20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("franz-sess"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	got := make(map[string]bool)
	const rounds, per = 5, 20
	for r := range rounds {
		for p := range int32(per) {
			c.produce(p, fmt.Sprintf("%d-%d", r, p))
		}
		for len(got) < (r+1)*per {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("round %d: %d of %d records", r, len(got), (r+1)*per)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
			fs.EachRecord(func(rec *kgo.Record) {
				if got[string(rec.Value)] {
					t.Fatalf("record %s twice", rec.Value)
				}
				got[string(rec.Value)] = true
			})
		}
	}
	n, parts := b.fetchSessions.len()
	if n != 1 || parts != per {
		t.Fatalf("%d sessions of %d partitions, want 1 of %d", n, parts, per)
	}
	b.fetchSessions.mu.Lock()
	for _, s := range b.fetchSessions.sessions {
		s.mu.Lock()
		if s.epoch < rounds {
			t.Errorf("session epoch %d after %d rounds: fetches were not incremental", s.epoch, rounds)
		}
		s.mu.Unlock()
	}
	b.fetchSessions.mu.Unlock()
}

// TestFetchSessionRace: two fetches of one session epoch: the one that comes second is
// INVALID_FETCH_SESSION_EPOCH, and the first, still waiting when a third moved the session
// on, is too.
func TestFetchSessionRace(t *testing.T) {
	b := startCoreBroker(t, nil)
	c := newSessClient(t, b, "race", 1)
	id := c.do(c.fetchReq(13, 0, 0, map[int32]int64{0: 0})).SessionID
	long := c.fetchReq(13, id, 1, nil)
	long.MaxWaitMillis, long.MinBytes = 20000, 1
	done := make(chan *kmsg.FetchResponse, 1)
	// Its own connection: a connection's responses go back in request order.
	other, err := kgo.NewClient(kgo.SeedBrokers(c.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		resp, err := long.RequestWith(context.Background(), other)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	// Wait until the long poll has taken epoch 1.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.fetchSessions.mu.Lock()
		s := b.fetchSessions.sessions[id]
		b.fetchSessions.mu.Unlock()
		s.mu.Lock()
		e := s.epoch
		s.mu.Unlock()
		if e == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("long poll never began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := c.do(c.fetchReq(13, id, 1, nil)); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("second fetch of epoch 1: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	r2 := c.fetchReq(13, id, 2, nil)
	r2.MaxWaitMillis = 0
	if r := c.do(r2); r.ErrorCode != 0 {
		t.Fatalf("epoch 2: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	c.produce(0, "wake")
	if r := <-done; r == nil || r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("overtaken long poll: %+v", r)
	}
}
