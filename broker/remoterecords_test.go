package broker

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
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
func waitOffloaded(t *testing.T, p *partition.Partition, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for p.LocalLogStartOffset() < n {
		if time.Now().After(deadline) {
			t.Fatalf("not offloaded: local start %d of %d", p.LocalLogStartOffset(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
