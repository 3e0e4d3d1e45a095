package checker

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRunKfake runs the whole workload against franz-go's in-memory broker, which is
// assumed correct: the report must be clean and show real traffic.
func TestRunKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := Config{
		Brokers:  c.ListenAddrs(),
		Topic:    "checker-self-test",
		Duration: 4 * time.Second,
		Rate:     300,
		Logf:     t.Logf,
	}.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := Check(h)
	r.Scenario = "kfake"
	t.Logf("\n%s", r.Details())
	if !r.OK() {
		t.Fatalf("anomalies against kfake:\n%s", r.Details())
	}
	if r.Acked < 300 || r.FinalReads < r.Acked || r.Reads <= r.FinalReads {
		t.Fatalf("too little traffic: %+v", r)
	}
	kinds := map[Kind]int{}
	for _, op := range h.Ops() {
		kinds[op.Kind]++
	}
	for _, k := range []Kind{KindCommit, KindCommitted, KindEnd, KindAssign} {
		if kinds[k] == 0 {
			t.Errorf("no %s ops recorded: %v", k, kinds)
		}
	}
	if t.Failed() {
		path := t.TempDir() + "/history.jsonl"
		_ = h.SaveFile(path)
	}
}

// TestRunKfakeLosesAcked makes kfake acknowledge some produce requests without storing
// them: the checker must report lost acknowledged records with excerpts.
func TestRunKfakeLosesAcked(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if n.Add(1)%25 != 0 {
			return nil, nil, false
		}
		preq := req.(*kmsg.ProduceRequest)
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range preq.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.BaseOffset = 1 << 20 // acknowledged where nothing will ever be
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	h, err := Run(t.Context(), Config{
		Brokers:        c.ListenAddrs(),
		Topic:          "checker-lossy",
		Duration:       2 * time.Second,
		Consumers:      1,
		GroupConsumers: 1,
		ClientOpts:     []kgo.Opt{kgo.DisableIdempotentWrite()}, // kfake would otherwise reject the sequence gaps
	})
	if err != nil {
		t.Fatal(err)
	}
	r := Check(h)
	if r.OK() || r.Lost == 0 || r.ShortReads == 0 {
		t.Fatalf("lossy broker not caught:\n%s", r.Details())
	}
	var lost *Anomaly
	for i := range r.Anomalies {
		if r.Anomalies[i].Kind == AnomalyLost {
			lost = &r.Anomalies[i]
			break
		}
	}
	if lost == nil || len(lost.Excerpt) < 2 || lost.Excerpt[0].Kind != KindSend {
		t.Fatalf("lost excerpt: %v", lost)
	}
	t.Logf("\n%s", r.Details())
}

// TestRunKfakeForgetsCommits makes kfake acknowledge offset commits without storing them
// once a few have been stored: the checker must report committed offsets going backwards.
func TestRunKfakeForgetsCommits(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var n atomic.Int64
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if n.Add(1) <= 10 {
			return nil, nil, false
		}
		creq := req.(*kmsg.OffsetCommitRequest)
		resp := creq.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range creq.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	h, err := Run(t.Context(), Config{
		Brokers:        c.ListenAddrs(),
		Topic:          "checker-forgetful",
		Duration:       3 * time.Second,
		GroupConsumers: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := Check(h)
	if r.OK() || r.CommitRegressions == 0 || r.Lost != 0 || r.Duplicated != 0 {
		t.Fatalf("forgotten commits not caught (or other anomalies):\n%s", r.Details())
	}
	t.Logf("\n%s", r.Details())
}

// TestRunRecordsCap stops producing after Records values, well before Duration.
func TestRunRecordsCap(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	h, err := Run(t.Context(), Config{
		Brokers:        c.ListenAddrs(),
		Topic:          "checker-cap",
		Partitions:     2,
		Producers:      3,
		GroupConsumers: 1,
		Records:        3000,
		Rate:           -1,
		Duration:       time.Minute,
		Settle:         100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := Check(h)
	if !r.OK() || r.Sent != 3000 || r.Acked != 3000 || r.FinalReads != 3000 {
		t.Fatalf("sent %d acked %d final %d:\n%s", r.Sent, r.Acked, r.FinalReads, r.Details())
	}
	if el := time.Since(start); el > 40*time.Second { // well under Duration, whatever the load
		t.Fatalf("took %s: Records did not end the run", el)
	}
}
