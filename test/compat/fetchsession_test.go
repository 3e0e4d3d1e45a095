package compat

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
)

// TestFetchSessionsAcrossClients (issue 19): one broker serves franz-go, which uses fetch
// sessions (KIP-227: a full fetch, then incremental ones), and librdkafka and kafka-python,
// which fetch without them. Every client reads every record of an 8-partition topic once,
// no fetch is answered with a session error, and franz-go's fetches were incremental.
func TestFetchSessionsAcrossClients(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	b := startBrokerWith(t, nil, func(c *broker.Config) { c.Registerer = reg })
	const topic, n = "sessions-x", 200
	createTopicFranz(t, b.addr, topic, 8)
	pr := franz(t, b.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		pr.Produce(ctx, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}, nil)
	}
	if err := pr.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	kinds := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		m := make(map[string]float64)
		for _, mf := range mfs {
			if mf.GetName() != "strata_fetch_requests_by_session_total" {
				continue
			}
			for _, mt := range mf.GetMetric() {
				m[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
			}
		}
		return m
	}

	// franz-go: a consumer that keeps polling after it has everything, so that its
	// session goes incremental.
	cons := franz(t, b.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50*time.Millisecond))
	seen := make(map[string]bool)
	before := kinds()
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go: %d of %d records, fetches %v", len(seen), n, kinds())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("franz-go fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Fatalf("franz-go read %s twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	// The consumer keeps fetching in the background; its fetches are incremental.
	for kinds()["incremental"] < before["incremental"]+5 {
		if ctx.Err() != nil {
			t.Fatalf("franz-go fetches: %v", kinds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cons.Close()
	t.Logf("after franz-go: %v", kinds())

	for _, c := range []*scriptClient{librdkafkaClient(t), kafkaPythonClient(t)} {
		before := kinds()
		recs := c.consume(t, b.addr, topic, n, false)
		got := make(map[string]bool)
		for _, r := range recs {
			if got[r.V] {
				t.Fatalf("%s read %s twice", c.name, r.V)
			}
			got[r.V] = true
		}
		if len(got) != n {
			t.Fatalf("%s read %d of %d records", c.name, len(got), n)
		}
		after := kinds()
		t.Logf("%s fetches: full %v, incremental %v, sessionless %v", c.name,
			after["full"]-before["full"], after["incremental"]-before["incremental"], after["sessionless"]-before["sessionless"])
	}
	if k := kinds(); k["error"] != 0 {
		t.Fatalf("fetches answered with a session error: %v", k)
	}
}
