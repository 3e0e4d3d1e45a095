package broker

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// Kafka's precedence (KIP-55): for each quota key, the first entity in the order
// user+client, user+<default client>, user, <default user>+client, <default>+<default>,
// <default user>, client, <default client> that sets the key gives the limit, and the
// matched entity's components name the sensor (shared by the clients it covers).
func TestQuotaPrecedence(t *testing.T) {
	U := func(n string) quotaEntity { return quotaEntity{HasUser: true, User: n} }
	UD := quotaEntity{HasUser: true, UserDefault: true}
	C := func(n string) quotaEntity { return quotaEntity{HasClient: true, Client: n} }
	CD := quotaEntity{HasClient: true, ClientDefault: true}
	UC := func(u, c string) quotaEntity { return quotaEntity{HasUser: true, User: u, HasClient: true, Client: c} }
	UCD := func(u string) quotaEntity {
		return quotaEntity{HasUser: true, User: u, HasClient: true, ClientDefault: true}
	}
	UDC := func(c string) quotaEntity {
		return quotaEntity{HasUser: true, UserDefault: true, HasClient: true, Client: c}
	}
	UDCD := quotaEntity{HasUser: true, UserDefault: true, HasClient: true, ClientDefault: true}
	all := []quotaEntity{UC("alice", "app"), UCD("alice"), U("alice"), UDC("app"), UDCD, UD, C("app"), CD}
	f := func(set []quotaEntity, user, client string, want float64, wantUser, wantClient string) {
		t.Helper()
		c := quotaConfigs{}
		for i, e := range set {
			c[e] = map[string]float64{quotaProduce: float64(100 * (i + 1))}
		}
		if c[UC("alice", "app")] == nil && want != 0 {
			// An entity with only another key does not stop the search for this one.
			c[UC("alice", "app")] = map[string]float64{quotaFetch: 7}
		}
		limit, sk, ok := c.resolve(quotaProduce, user, client)
		if want == 0 {
			if ok {
				t.Fatalf("%s/%s: limit %v, want none", user, client, limit)
			}
			return
		}
		if !ok || limit != want || sk.user != wantUser || sk.client != wantClient {
			t.Fatalf("%s/%s: limit %v (ok %v) sensor %q/%q; want %v %q/%q", user, client, limit, ok, sk.user, sk.client, want, wantUser, wantClient)
		}
	}
	f(all, "alice", "app", 100, "alice", "app")
	f(all[1:], "alice", "app", 100, "alice", "app") // user + default client: per client
	f(all[2:], "alice", "other", 100, "alice", "")  // user alone: shared by the user's clients
	f(all[3:], "bob", "app", 100, "bob", "app")
	f(all[4:], "bob", "x", 100, "bob", "x")
	f(all[5:], "bob", "x", 100, "bob", "")
	f(all[6:], "bob", "app", 100, "", "app")
	f(all[7:], "bob", "x", 100, "", "x")
	f(all[2:], "bob", "x", 300, "bob", "x") // alice's own quotas do not apply to bob
	f([]quotaEntity{UC("alice", "app")}, "alice", "other", 0, "", "")
	f(nil, "alice", "app", 0, "", "")
}

// The sampled rate and Kafka's throttle formula: (rate - limit) / limit x span.
func TestQuotaRateThrottle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := newQuotaRate(3, time.Second, t0)
	// Within the first windows the span counts as (samples-1) windows: 2 s.
	if got := r.record(1000, t0.Add(100*time.Millisecond)); got != 500 {
		t.Fatalf("rate %v, want 500", got)
	}
	rate := r.record(1000, t0.Add(200*time.Millisecond)) // 2000 B over 2 s
	if d := r.throttle(rate, 500, t0.Add(200*time.Millisecond)); d != 2*time.Second {
		t.Fatalf("throttle %v, want (1000-500)/500 x 2 s = 2 s", d)
	}
	if d := r.throttle(rate, 2000, t0); d != 0 {
		t.Fatalf("within the limit: throttle %v", d)
	}
	// Windows older than samples x window are forgotten.
	if got := r.rate(t0.Add(10 * time.Second)); got != 0 {
		t.Fatalf("rate after 10 s of silence: %v", got)
	}
	// A huge rate is throttled at most for every window's span.
	rate = r.record(1e9, t0.Add(11*time.Second))
	if d := r.throttle(rate, 1, t0.Add(11*time.Second)); d != 3*time.Second {
		t.Fatalf("throttle %v, want the cap of 3 s", d)
	}
}

func alterQuotas(t *testing.T, b *Broker, validateOnly bool, entries ...kmsg.AlterClientQuotasRequestEntry) []kmsg.AlterClientQuotasResponseEntry {
	t.Helper()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.Version, req.Entries, req.ValidateOnly = 1, entries, validateOnly
	r, err := b.handleAlterClientQuotas(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*kmsg.AlterClientQuotasResponse).Entries
}

func quotaEntry(ops map[string]float64, comps ...string) kmsg.AlterClientQuotasRequestEntry {
	e := kmsg.NewAlterClientQuotasRequestEntry()
	for i := 0; i+1 < len(comps); i += 2 {
		c := kmsg.NewAlterClientQuotasRequestEntryEntity()
		c.Type = comps[i]
		if comps[i+1] != "<default>" {
			name := comps[i+1]
			c.Name = &name
		}
		e.Entity = append(e.Entity, c)
	}
	for k, v := range ops {
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value, op.Remove = k, v, v < 0
		e.Ops = append(e.Ops, op)
	}
	return e
}

// describeQuotas renders the described entries as "entity: key=value ..." lines.
func describeQuotas(t *testing.T, b *Broker, strict bool, comps ...kmsg.DescribeClientQuotasRequestComponent) string {
	t.Helper()
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	req.Version, req.Components, req.Strict = 1, comps, strict
	r, err := b.handleDescribeClientQuotas(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := r.(*kmsg.DescribeClientQuotasResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("describe: error %d", resp.ErrorCode)
	}
	var lines []string
	for _, e := range resp.Entries {
		var ps []string
		for _, c := range e.Entity {
			n := "<default>"
			if c.Name != nil {
				n = *c.Name
			}
			ps = append(ps, c.Type+"="+n)
		}
		s := strings.Join(ps, ",") + ":"
		for _, v := range e.Values {
			s += " " + v.Key + "=" + strconv.FormatFloat(v.Value, 'f', -1, 64)
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

// AlterClientQuotas validates each entry on its own, applies the valid ones, persists
// them (meta/quotas.json and the bucket), and DescribeClientQuotas filters them as Kafka
// does; a broker restored onto an empty data dir gets them back from the bucket.
func TestAlterDescribeClientQuotas(t *testing.T) {
	store := memstore.New()
	dir := t.TempDir()
	open := func(dir string) *Broker {
		t.Helper()
		bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir})
		if err != nil {
			t.Fatal(err)
		}
		bc.RemoteStore = store
		b, err := New(bc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open(dir)
	res := alterQuotas(t, b, false,
		quotaEntry(map[string]float64{quotaProduce: 1024, quotaFetch: 2048}, "user", "alice"),
		quotaEntry(map[string]float64{quotaRequest: 12.5}, "user", "alice", "client-id", "<default>"),
		quotaEntry(map[string]float64{quotaProduce: 500}, "client-id", "<default>"),
		quotaEntry(map[string]float64{quotaProduce: 1.5}, "user", "bad-value"),
		quotaEntry(map[string]float64{"connection_creation_rate": 3}, "ip", "1.2.3.4"),
		quotaEntry(map[string]float64{"controller_mutation_rate": 3}, "user", "carol"),
		quotaEntry(map[string]float64{"no_such_key": 3}, "user", "carol"),
		quotaEntry(map[string]float64{quotaProduce: 1}, "user", "a", "user", "b"),
		quotaEntry(map[string]float64{quotaProduce: 1}),
	)
	wantCodes := []int16{0, 0, 0, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code,
		kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}
	for i, r := range res {
		if r.ErrorCode != wantCodes[i] {
			msg := ""
			if r.ErrorMessage != nil {
				msg = *r.ErrorMessage
			}
			t.Errorf("entry %d: code %d %q, want %d", i, r.ErrorCode, msg, wantCodes[i])
		}
	}
	// validate_only changes nothing.
	alterQuotas(t, b, true, quotaEntry(map[string]float64{quotaProduce: 9}, "user", "dave"))

	all := "client-id=<default>: producer_byte_rate=500\n" +
		"user=alice: consumer_byte_rate=2048 producer_byte_rate=1024\n" +
		"user=alice,client-id=<default>: request_percentage=12.5"
	if got := describeQuotas(t, b, false); got != all {
		t.Fatalf("describe all:\n%s\nwant:\n%s", got, all)
	}
	alice := "alice"
	f := func(strict bool, want string, comps ...kmsg.DescribeClientQuotasRequestComponent) {
		t.Helper()
		if got := describeQuotas(t, b, strict, comps...); got != want {
			t.Errorf("describe %+v strict=%v:\n%s\nwant:\n%s", comps, strict, got, want)
		}
	}
	user := func(match kmsg.QuotasMatchType, name *string) kmsg.DescribeClientQuotasRequestComponent {
		return kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: match, Match: name}
	}
	client := func(match kmsg.QuotasMatchType) kmsg.DescribeClientQuotasRequestComponent {
		return kmsg.DescribeClientQuotasRequestComponent{EntityType: "client-id", MatchType: match}
	}
	f(false, "user=alice: consumer_byte_rate=2048 producer_byte_rate=1024\nuser=alice,client-id=<default>: request_percentage=12.5", user(0, &alice))
	f(true, "user=alice: consumer_byte_rate=2048 producer_byte_rate=1024", user(0, &alice))
	f(false, "user=alice,client-id=<default>: request_percentage=12.5", user(2, nil), client(1))
	f(true, "client-id=<default>: producer_byte_rate=500", client(2))
	f(false, "", user(1, nil))
	f(true, "")

	// Removing a key; an entity without keys is gone.
	alterQuotas(t, b, false, quotaEntry(map[string]float64{quotaProduce: -1, quotaFetch: -1}, "user", "alice"))
	want := "client-id=<default>: producer_byte_rate=500\nuser=alice,client-id=<default>: request_percentage=12.5"
	if got := describeQuotas(t, b, false); got != want {
		t.Fatalf("after remove:\n%s", got)
	}
	if _, err := store.Stat(t.Context(), tiering.QuotasKey("")); err != nil {
		t.Fatalf("quotas not in the bucket: %v", err)
	}
	b.Close()

	b = open(dir) // restart: meta/quotas.json
	if got := describeQuotas(t, b, false); got != want {
		t.Fatalf("after restart:\n%s", got)
	}
	b.Close()
	b = open(t.TempDir()) // restore onto an empty data dir: from the bucket
	defer b.Close()
	if got := describeQuotas(t, b, false); got != want {
		t.Fatalf("after restore:\n%s", got)
	}
}

// A request over a quota is answered at once with throttle_time_ms (request_percentage
// counts handler time; producer_byte_rate the request's bytes), and the connection is
// muted for that time: the next request, even an exempt ApiVersions, is answered only after it.
func TestQuotaThrottleMutesConnection(t *testing.T) {
	b := startCoreBroker(t, map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"})
	if _, err := b.createTopic("qt", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, r := range alterQuotas(t, b, false,
		quotaEntry(map[string]float64{quotaRequest: 0.0001}, "client-id", "busy"),
		quotaEntry(map[string]float64{quotaProduce: 1}, "client-id", "writer"),
	) {
		if r.ErrorCode != 0 {
			t.Fatalf("alter: %d", r.ErrorCode)
		}
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", b.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(c net.Conn, req kmsg.Request, client string, corr int32) (kmsg.Response, time.Duration) {
		t.Helper()
		start := time.Now()
		if _, err := c.Write(encodeRequest(req, corr, client)); err != nil {
			t.Fatal(err)
		}
		got, body := readResponse(t, c, req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions))
		if got != corr {
			t.Fatalf("correlation %d, want %d", got, corr)
		}
		resp := req.ResponseKind()
		resp.SetVersion(req.GetVersion())
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return resp, time.Since(start)
	}
	apiVersions := func(c net.Conn, client string) time.Duration {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 3
		req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
		_, d := send(c, req, client, 99)
		return d
	}
	check := func(c net.Conn, client string, resp kmsg.Response) {
		t.Helper()
		ms, _ := resp.(kmsg.ThrottleResponse).Throttle()
		if ms < 500 {
			t.Fatalf("%s: throttle_time_ms %d, want about the 2 s cap", client, ms)
		}
		if d := apiVersions(c, client); d < time.Duration(ms)*time.Millisecond*9/10 {
			t.Fatalf("%s: the next request was answered after %v, within the throttle of %d ms", client, d, ms)
		}
	}

	c := dial()
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	resp, _ := send(c, md, "busy", 1)
	check(c, "busy", resp)

	c = dial()
	pr := kmsg.NewPtrProduceRequest()
	pr.Version, pr.Acks, pr.TimeoutMillis = 9, 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "qt"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = testBatch(t, codecNone, 1000, []int64{0, 1, 2}, false)
	rt.Partitions = append(rt.Partitions, rp)
	pr.Topics = append(pr.Topics, rt)
	resp, _ = send(c, pr, "writer", 2)
	if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce: error %d", code)
	}
	check(c, "writer", resp)

	// Another client on its own connection is not throttled.
	md2 := kmsg.NewPtrMetadataRequest()
	md2.Version = 12
	if resp, _ := send(dial(), md2, "other", 3); resp.(*kmsg.MetadataResponse).ThrottleMillis != 0 {
		t.Fatalf("unthrottled client: throttle_time_ms %d", resp.(*kmsg.MetadataResponse).ThrottleMillis)
	}
}

// Sensors of clients gone quiet for an hour are dropped with their metric series.
func TestQuotaSensorsExpire(t *testing.T) {
	b := startCoreBroker(t, nil)
	q := b.quotas
	t0 := time.Now()
	a := quotaSensorKey{key: quotaProduce, client: "a"}
	q.sensor(a, t0).record(10, t0)
	q.bytes.WithLabelValues(a.key, a.user, a.client).Add(10)
	q.sensor(quotaSensorKey{key: quotaProduce, client: "b"}, t0.Add(30*time.Minute)) // too soon to sweep a
	if _, ok := q.sensors.Load(a); !ok {
		t.Fatal("sensor dropped before it was idle for an hour")
	}
	q.sensor(quotaSensorKey{key: quotaProduce, client: "c"}, t0.Add(61*time.Minute))
	if _, ok := q.sensors.Load(a); ok {
		t.Fatal("idle sensor kept")
	}
	if _, ok := q.sensors.Load(quotaSensorKey{key: quotaProduce, client: "b"}); !ok {
		t.Fatal("sensor b (idle 31 minutes) dropped")
	}
	if n := testutil.CollectAndCount(q.bytes); n != 0 {
		t.Fatalf("%d metric series left", n)
	}
}

// request_percentage counts a fetch's handler time without its long-poll wait, and a
// request version from before KIP-219 (Metadata v5) gets its response delayed by the
// throttle time instead of answered at once.
func TestQuotaRequestTimeAndOldVersions(t *testing.T) {
	b := startCoreBroker(t, map[string]string{"quota.window.num": "2", "quota.window.size.seconds": "1"})
	tp, err := b.createTopic("qf", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range alterQuotas(t, b, false,
		quotaEntry(map[string]float64{quotaRequest: 5}, "client-id", "poller"), // 50 ms of handler time per second
		quotaEntry(map[string]float64{quotaRequest: 0.0001}, "client-id", "old"),
	) {
		if r.ErrorCode != 0 {
			t.Fatalf("alter: %d", r.ErrorCode)
		}
	}
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	call := func(req kmsg.Request, client string, corr int32) (kmsg.Response, time.Duration) {
		t.Helper()
		start := time.Now()
		if _, err := c.Write(encodeRequest(req, corr, client)); err != nil {
			t.Fatal(err)
		}
		_, body := readResponse(t, c, req.IsFlexible())
		resp := req.ResponseKind()
		resp.SetVersion(req.GetVersion())
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return resp, time.Since(start)
	}
	// Three empty long polls of 300 ms: 900 ms of wall time, far over 50 ms a second,
	// but waiting is not handler time.
	for i := range 3 {
		fr := kmsg.NewPtrFetchRequest()
		fr.Version, fr.MaxWaitMillis, fr.MinBytes, fr.MaxBytes = 13, 300, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = tp.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		fr.Topics = append(fr.Topics, rt)
		resp, d := call(fr, "poller", int32(i))
		if d < 250*time.Millisecond {
			t.Fatalf("fetch %d returned after %v, before its max wait", i, d)
		}
		if ms := resp.(*kmsg.FetchResponse).ThrottleMillis; ms != 0 {
			t.Fatalf("long poll %d throttled %d ms: its wait was counted as handler time", i, ms)
		}
	}
	// Metadata v5 (before KIP-219): throttled responses come after the throttle time.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 5
	resp, d := call(md, "old", 10)
	ms := resp.(*kmsg.MetadataResponse).ThrottleMillis
	if ms < 500 || d < time.Duration(ms)*time.Millisecond*9/10 {
		t.Fatalf("old-version response: throttle %d ms, answered after %v; want it delayed by the throttle", ms, d)
	}
}

// User quotas apply to the authenticated principal's name: alice's request_percentage
// throttles her, and bob (no quota of his own, no default) is not throttled.
func TestQuotaByUser(t *testing.T) {
	b := newTestBroker(t)
	for _, r := range alterQuotas(t, b, false, quotaEntry(map[string]float64{quotaRequest: 0.0001}, "user", "alice")) {
		if r.ErrorCode != 0 {
			t.Fatalf("alter: %d", r.ErrorCode)
		}
	}
	throttle := func(principal string) int32 {
		t.Helper()
		ctx := withConnState(t.Context(), &connState{principal: principal})
		var ms int32
		for i := range 3 {
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 12
			buf, err := b.handleRequest(ctx, &request{key: md.Key(), version: md.Version, correlationID: int32(i), clientID: "app", req: md}, "127.0.0.1", "127.0.0.1", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp := kmsg.NewPtrMetadataResponse()
			resp.Version = md.Version
			if err := resp.ReadFrom(buf[4+4+1:]); err != nil { // size, correlation id, header tags
				t.Fatal(err)
			}
			ms = max(ms, resp.ThrottleMillis)
		}
		return ms
	}
	if ms := throttle("User:alice"); ms == 0 {
		t.Fatal("alice's request quota did not throttle her")
	}
	if ms := throttle("User:bob"); ms != 0 {
		t.Fatalf("bob throttled %d ms by alice's quota", ms)
	}
}
