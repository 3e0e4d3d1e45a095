package broker

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tierFetchMetrics returns the tier's strata_remote_fetch_bytes_total and
// strata_remote_fetch_requests_total for topic.
func tierFetchMetrics(t *testing.T, reg *prometheus.Registry, topic string) (bytes, requests float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "topic" || l.GetValue() != topic {
					continue
				}
				switch mf.GetName() {
				case "strata_remote_fetch_bytes_total":
					bytes = m.GetCounter().GetValue()
				case "strata_remote_fetch_requests_total":
					requests = m.GetCounter().GetValue()
				}
			}
		}
	}
	return bytes, requests
}

// The tier's remote fetch metrics count the records sent to consumers, not the reads the
// broker makes without sending them: after two fetches from the bucket (whose read-ahead
// loads chunks no fetch has asked for yet) and a third fetch that stopped waiting, its
// read done but never taken, they show exactly the two responses' record bytes.
func TestRemoteFetchMetricsCountSentRecordsOnly(t *testing.T) {
	b, reg := startChunkedTierBroker(t, nil)
	topic, err := b.createTopic("cold", 1, map[string]string{
		"segment.bytes": "16384", "remote.storage.enable": "true",
		"local.retention.bytes": "1", "local.retention.ms": "0",
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	cl := newKgo(t, b.ListenerAddr("PLAINTEXT").String(), kgo.DefaultProduceTopic("cold"), kgo.ProducerBatchMaxBytes(4000))
	for i := range n {
		cl.Produce(t.Context(), &kgo.Record{Value: make([]byte, 100+i%50)}, nil)
	}
	if err := cl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	waitOffloaded(t, p, n)

	remoteOut := func() float64 { return testutil.ToFloat64(b.metrics().fetchBytes.WithLabelValues("remote")) }
	bytes0, reqs0 := tierFetchMetrics(t, reg, "cold")
	out0 := remoteOut()
	offset := int64(0)
	for range 2 {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, 5000, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "cold", topic.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset, rp.CurrentLeaderEpoch = offset, 5000, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 || len(sp.RecordBatches) == 0 {
			t.Fatalf("fetch at %d: error %d, %d record bytes", offset, sp.ErrorCode, len(sp.RecordBatches))
		}
		var rb kmsg.RecordBatch
		for b := sp.RecordBatches; len(b) > 0; b = b[12+int(rb.Length):] {
			if err := rb.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			offset = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
		}
	}
	// A third fetch stops waiting at once (its client went away): its read finishes, and
	// is never taken.
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	_, done, err := p.ReadRemote(gone, offset, 5000, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !done { // (done: the read beat the fetch's give-up; taken, and not sent either)
		if n, err, ok := p.PendingRemoteReadForTesting(offset); ok {
			if err != nil || n == 0 {
				t.Fatalf("untaken read at %d: %d bytes, %v", offset, n, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pending read at %d", offset)
		}
		time.Sleep(5 * time.Millisecond)
	}
	bytes1, reqs1 := tierFetchMetrics(t, reg, "cold")
	sent := remoteOut() - out0
	if sent == 0 || bytes1-bytes0 != sent || reqs1-reqs0 != 2 {
		t.Fatalf("tier counted %v bytes in %v fetches, want the %v bytes sent in 2", bytes1-bytes0, reqs1-reqs0, sent)
	}
}
