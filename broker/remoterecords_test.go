package broker

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// Records served from the bucket reach franz-go intact, in order, over plain TCP (writev
// of cached chunk slices) and over TLS (buffered writes), with 1000-byte chunks so that
// batches straddle chunks and responses are made of many slices; the bytes-out metric
// counts every record byte sent.
func TestRemoteRecordsEndToEnd(t *testing.T) {
	pki := newTestPKI(t)
	b, _ := startChunkedTierBroker(t, map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"ssl.keystore.location":   pki.serverFile,
		"ssl.truststore.location": pki.caFile,
	})

	const n = 3000
	topic, err := b.createTopic("cold", 1, map[string]string{
		"segment.bytes": "16384", "remote.storage.enable": "true",
		"local.retention.bytes": "1", "local.retention.ms": "0",
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	value := func(i int) []byte {
		return fmt.Appendf(nil, "%06d-%s", i, bytes.Repeat([]byte{byte('a' + i%26)}, i%300))
	}
	pcl := newKgo(t, b.ListenerAddr("PLAINTEXT").String(), kgo.DefaultProduceTopic("cold"), kgo.ProducerBatchMaxBytes(4000), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var want int
	for i := range n {
		pcl.Produce(t.Context(), &kgo.Record{Value: value(i)}, nil)
		want += len(value(i))
	}
	if err := pcl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	waitOffloaded(t, p, n)

	consume := func(name string, opts ...kgo.Opt) {
		t.Helper()
		before := testutil.ToFloat64(b.ops().topicOut.WithLabelValues("cold"))
		remoteBefore := testutil.ToFloat64(b.metrics().fetchBytes.WithLabelValues("remote"))
		cl := newKgo(t, b.ListenerAddr(name).String(), append(opts, kgo.ConsumeTopics("cold"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(20_000))...)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		next := 0
		for next < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s: %d of %d records", name, next, n)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Logf("%s: fetch error: %v", name, err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != int64(next) || !bytes.Equal(r.Value, value(next)) {
					t.Fatalf("%s: record at offset %d (%q), want offset %d", name, r.Offset, r.Value[:min(len(r.Value), 10)], next)
				}
				next++
			})
		}
		cl.Close()
		if out := testutil.ToFloat64(b.ops().topicOut.WithLabelValues("cold")) - before; out < float64(want) {
			t.Fatalf("%s: bytes out %v, below the %d value bytes consumed", name, out, want)
		}
		if remote := testutil.ToFloat64(b.metrics().fetchBytes.WithLabelValues("remote")) - remoteBefore; remote < float64(want) {
			t.Fatalf("%s: %v bytes read from the tier, want all %d", name, remote, want)
		}
	}
	consume("PLAINTEXT")
	consume("SSL", kgo.DialTLSConfig(pki.clientTLS(t, nil)))
}

// offload5 appends 6 one-batch segments to p, uploads the first 5 to ft (t wraps ft) and
// applies local retention: offsets 0-4 are only in the bucket, 5 is local.
func offload5(t *testing.T, p *Partition, tier tiering.PartitionTier, ft *fakeTier) {
	t.Helper()
	p.setTier(tier)
	appendN(t, p, 6, 1000)
	ft.upload(t, p, 5)
	p.runMaintenance(time.Now())
	if got := p.LocalLogStartOffset(); got != 5 {
		t.Fatalf("local start %d, want 5", got)
	}
}

// After a fetch takes a remote read, the read a sequential consumer asks for next is
// already running: its fetch joins it instead of starting one; nothing is read past the
// remote end; a consumer asking for another offset still gets its own read.
func TestRemoteReadsAheadOfSequentialConsumer(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	ft := &countingTier{fakeTier: &fakeTier{}}
	offload5(t, p, ft, ft.fakeTier)
	pending := func() *remoteRead {
		p.remoteMu.Lock()
		defer p.remoteMu.Unlock()
		return p.remotePending
	}
	read := func(off int64) {
		t.Helper()
		data, done, err := p.readRemote(t.Context(), ft, off, 1, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != off {
			t.Fatalf("read at %d: offsets %v, done %v, %v", off, got, done, err)
		}
	}
	waitNext := func(off int64) {
		t.Helper()
		r := pending()
		if r == nil || r.offset != off {
			t.Fatalf("pending read %+v, want one at %d", r, off)
		}
		<-r.done
	}
	read(0)
	waitNext(1)
	if n := ft.reads.Load(); n != 2 {
		t.Fatalf("%d reads after the first fetch, want 2 (its own and the next)", n)
	}
	read(1) // joins the read already done
	waitNext(2)
	if n := ft.reads.Load(); n != 3 {
		t.Fatalf("%d reads, want 3", n)
	}
	read(0) // another consumer, behind
	read(2) // the first one again: its read was replaced, so it reads anew
	for off := int64(3); off <= 4; off++ {
		read(off)
	}
	if r := pending(); r != nil {
		t.Fatalf("a read at %d pending past the remote end (5)", r.offset)
	}
	// Reads: 0, 1, 2, 0 (+1 next), 2 (+3 next), 3 (joined, +4 next), 4 (joined). The
	// read at 1 that the consumer at 2 replaced may still be starting: wait for it.
	p.remoteWG.Wait()
	if n := ft.reads.Load(); n != 8 {
		t.Fatalf("%d reads, want 8", n)
	}
}

// A fetch over plain TCP naming a tiered topic the client may read and one it may not:
// the remote records (written as chunk slices) arrive intact, and the authorizer's
// TOPIC_AUTHORIZATION_FAILED entry for the other topic is in the same response.
func TestRemoteRecordsWithDeniedTopic(t *testing.T) {
	pki := newTestPKI(t)
	b, _ := startChunkedTierBroker(t, map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"ssl.keystore.location":   pki.serverFile,
		"ssl.truststore.location": pki.caFile,
		"ssl.client.auth":         "requested",
		"authorizer.class.name":   "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":             "User:CN=admin,O=Acme",
	})
	for _, name := range []string{"cold", "secret"} {
		if _, err := b.createTopic(name, 1, map[string]string{
			"segment.bytes": "8192", "remote.storage.enable": "true", "local.retention.bytes": "1", "local.retention.ms": "0",
		}, false); err != nil {
			t.Fatal(err)
		}
	}
	admin := newKgo(t, b.ListenerAddr("SSL").String(), kgo.DialTLSConfig(pki.clientTLS(t, pki.clientCert(t, "admin", time.Now().Add(time.Hour)))),
		kgo.ProducerBatchMaxBytes(3000))
	const n = 400
	for i := range n {
		for _, topic := range []string{"cold", "secret"} {
			admin.Produce(t.Context(), &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d-%s", topic, i, bytes.Repeat([]byte{'v'}, 100))}, nil)
		}
	}
	if err := admin.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	acl := kadm.NewACLs().Allow("User:ANONYMOUS").Topics("cold").Operations(kadm.OpRead).AllowHosts("*")
	if r, err := kadm.NewClient(admin).CreateACLs(t.Context(), acl); err != nil || r[0].Err != nil {
		t.Fatalf("create acl: %v %+v", err, r)
	}
	waitOffloaded(t, b.lookupTopic("cold").partition(0), n)

	cl := newKgo(t, b.ListenerAddr("PLAINTEXT").String())
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 10
	req.MaxBytes = 1 << 20
	ids := map[[16]byte]string{}
	for _, name := range []string{"cold", "secret"} {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = name, b.lookupTopic(name).ID
		ids[rt.TopicID] = name
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 20_000
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	for attempt := 0; ; attempt++ {
		resp, err := req.RequestWith(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]kmsg.FetchResponseTopicPartition{}
		for _, rt := range resp.Topics {
			got[ids[rt.TopicID]] = rt.Partitions[0]
		}
		if p, ok := got["secret"]; !ok || p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.RecordBatches) != 0 {
			t.Fatalf("denied topic: %v code %d, %d bytes", ok, p.ErrorCode, len(p.RecordBatches))
		}
		p := got["cold"]
		if p.ErrorCode != 0 {
			t.Fatalf("allowed topic: code %d", p.ErrorCode)
		}
		if len(p.RecordBatches) == 0 && attempt < 50 {
			continue // the remote read was still running: the client asks again
		}
		if offs := batchOffsets(t, p.RecordBatches); len(offs) == 0 || offs[0] != 0 {
			t.Fatalf("allowed topic: batches at %v", offs)
		}
		break
	}
}

// A finished remote read that no fetch takes (its consumer went away) is dropped after
// remoteReadKeep instead of holding its records, and the chunks they pin, for the life
// of the partition; the early-read charge goes back with it.
func TestUntakenRemoteReadIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
		ft := &fakeTier{}
		offload5(t, p, ft, ft)
		pending := func() *remoteRead {
			p.remoteMu.Lock()
			defer p.remoteMu.Unlock()
			return p.remotePending
		}
		if _, done, err := p.readRemote(t.Context(), ft, 0, 1, true, 5*time.Second); err != nil || !done {
			t.Fatalf("read at 0: done %v, %v", done, err)
		}
		synctest.Wait() // the early read at 1 is done and kept
		if r := pending(); r == nil || r.offset != 1 || r.data.Len() == 0 {
			t.Fatalf("pending read %+v, want the early read at 1 with its records", r)
		}
		if p.early.held.Load() == 0 {
			t.Fatal("the early read is not charged to the budget")
		}
		time.Sleep(remoteReadKeep - time.Second)
		synctest.Wait()
		if pending() == nil {
			t.Fatal("dropped before remoteReadKeep")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if r := pending(); r != nil {
			t.Fatalf("read at %d still held %v after it finished, nobody took it", r.offset, remoteReadKeep+time.Second)
		}
		if n := p.early.held.Load(); n != 0 {
			t.Fatalf("%d bytes still charged to the early-read budget", n)
		}
		// A consumer coming back reads again.
		data, done, err := p.readRemote(t.Context(), ft, 1, 1, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != 1 {
			t.Fatalf("read at 1: offsets %v, done %v, %v", got, done, err)
		}
	})
}

// Early reads of all partitions share earlyReadBudget: a consumer reading many tiered
// partitions gets early reads for as many as fit, not one per partition; the charge goes
// back when a read is taken or its partition closes.
func TestEarlyReadsShareABudget(t *testing.T) {
	bc, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	bc.RemoteChunkBytes = 30 << 20 // an early read may pin two chunks: 60 MiB
	b := &Broker{cfg: bc}
	topic := &Topic{Name: "t"}
	cfg := effectiveTopicConfig(&bc, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	topic.cfg.Store(&cfg)
	const maxBytes = 1 // one batch a read
	charge := int64(maxBytes) + 2*bc.RemoteChunkBytes
	fits := int(earlyReadBudget / charge)
	if fits < 1 || fits >= 5 {
		t.Fatalf("test assumes 1 to 4 early reads of %d bytes fit in %d", charge, earlyReadBudget)
	}
	var parts []*Partition
	var tiers []*fakeTier
	for i := range 6 {
		p, err := openPartition(b, topic, int32(i), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.close() })
		ft := &fakeTier{}
		offload5(t, p, ft, ft)
		parts, tiers = append(parts, p), append(tiers, ft)
	}
	early := func() (n int, offsets []int64) {
		for _, p := range parts {
			p.remoteMu.Lock()
			if r := p.remotePending; r != nil && r.early {
				n++
				offsets = append(offsets, r.offset)
			}
			p.remoteMu.Unlock()
		}
		return n, offsets
	}
	read := func(i int, off int64) {
		t.Helper()
		data, done, err := parts[i].readRemote(t.Context(), tiers[i], off, maxBytes, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != off {
			t.Fatalf("partition %d read at %d: offsets %v, done %v, %v", i, off, got, done, err)
		}
	}
	check := func(what string, want int) {
		t.Helper()
		n, offs := early()
		if held := b.earlyReads.held.Load(); n != want || held != int64(want)*charge {
			t.Fatalf("%s: %d early reads (at %v) holding %d bytes, want %d holding %d (budget %d)",
				what, n, offs, held, want, int64(want)*charge, earlyReadBudget)
		}
	}
	for i := range parts {
		read(i, 0)
	}
	check("one read in each of 6 partitions", fits)
	read(0, 1) // partition 0's consumer takes its early read; the next one takes its charge
	check("an early read taken", fits)
	if _, offs := early(); offs[0] != 2 {
		t.Fatalf("early reads at %v, want partition 0's at 2", offs)
	}
	parts[0].close() // its charge goes back
	check("a partition closed", fits-1)
	read(5, 0) // partition 5 had none: now one fits
	check("after the budget freed up", fits)
	for _, p := range parts {
		p.close()
	}
	check("every partition closed", 0)
}

// Offsets at or above the local log start are read locally even when the bucket has them
// too (fillFetch), so no early read is started for them: it would only hold memory.
func TestNoEarlyReadOfLocalOffsets(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	ft := &fakeTier{}
	p.setTier(ft)
	appendN(t, p, 6, 1000)
	ft.upload(t, p, 3) // offsets 0-2 only in the bucket
	p.runMaintenance(time.Now())
	ft.upload(t, p, 2) // 3 and 4 (the first two local segments now) in the bucket too
	if got := p.LocalLogStartOffset(); got != 3 {
		t.Fatalf("local start %d, want 3", got)
	}
	if _, end, _ := ft.Bounds(); end != 5 {
		t.Fatalf("remote end %d, want 5", end)
	}
	for off := int64(0); off < 3; off++ {
		data, done, err := p.readRemote(t.Context(), ft, off, 1, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != off {
			t.Fatalf("read at %d: offsets %v, done %v, %v", off, got, done, err)
		}
	}
	p.remoteMu.Lock()
	r := p.remotePending
	p.remoteMu.Unlock()
	if r != nil {
		t.Fatalf("early read at %d, at or above the local start 3", r.offset)
	}
}

// startChunkedTierBroker runs a broker over an in-memory bucket with 1000-byte remote
// chunks, 100 ms upload intervals and 50 ms retention checks (so that quiet partitions
// are offloaded within a second), plus props (listeners default to one plaintext one).
func startChunkedTierBroker(t *testing.T, props map[string]string) (*Broker, *prometheus.Registry) {
	t.Helper()
	all := map[string]string{
		"listeners":                       "PLAINTEXT://127.0.0.1:0",
		"log.dirs":                        t.TempDir(),
		"remote.log.chunk.bytes":          "1000",
		"remote.log.upload.interval.ms":   "100",
		"log.retention.check.interval.ms": "50",
	}
	maps.Copy(all, props)
	cfg, err := ParseConfig(all)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RemoteStore = memstore.New()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	t.Cleanup(func() { b.Close(); <-done })
	return b, reg
}

// waitOffloaded waits until p's records below n are no longer local.
func waitOffloaded(t *testing.T, p *Partition, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for p.LocalLogStartOffset() < n {
		if time.Now().After(deadline) {
			t.Fatalf("not offloaded: local start %d of %d", p.LocalLogStartOffset(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
