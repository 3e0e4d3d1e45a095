package test

// Transactions on a compacted topic with franz-go: two transactional producers and a
// plain one update the same keys, committing some transactions and aborting others. Once
// the cleaner has run, a read_committed consumer reading from the start sees exactly the
// model (the latest committed or plain value of every key), one record per live key; a
// read_uncommitted one sees the same (the aborted data is cleaned away); after a restart
// the view is the same and the producers go on.

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/test/brokertest"
)

// isolatedView reads partition 0 of topic from the start at the isolation level up to a
// sentinel it produces first (outside any transaction), and returns the records read and
// the latest value of every key.
func isolatedView(t *testing.T, addr, topic string, committed bool) (int, map[string]string) {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := groupClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}), kgo.FetchIsolationLevel(iso))
	defer cl.Close()
	sentinel := fmt.Sprintf("sentinel-%d", time.Now().UnixNano())
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Key: []byte("~sentinel"), Value: []byte(sentinel)}).FirstErr(); err != nil {
		t.Fatalf("produce sentinel: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	view := map[string]string{}
	n := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no sentinel after %d records (committed=%v): %v", n, committed, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error (retried): %v", err) })
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == "~sentinel" {
				done = done || string(r.Value) == sentinel
				return
			}
			n++
			if r.Value == nil {
				delete(view, string(r.Key))
			} else {
				view[string(r.Key)] = string(r.Value)
			}
		})
		if done {
			return n, view
		}
	}
}

func TestCompactedTopicTransactions(t *testing.T) {
	props := map[string]string{"log.retention.check.interval.ms": "100", "log.cleaner.backoff.ms": "100",
		"group.initial.rebalance.delay.ms": "0"}
	tb := brokertest.Start(t, brokertest.Config{Dir: t.TempDir(), Props: props})
	requireAPI(t, tb.Addr(), kmsg.EndTxn)
	const topic, keys = "compacted-txn", 50
	adm := kadm.NewClient(groupClient(t, tb.Addr()))
	defer adm.Close()
	cr, err := adm.CreateTopic(t.Context(), 1, 1, compactTopicConfig(nil), topic)
	if err != nil || cr.Err != nil {
		t.Fatal(err, cr.Err)
	}
	producers := []*kgo.Client{txnProducer(t, tb.Addr(), "ctxn-a", kgo.DefaultProduceTopic(topic)),
		txnProducer(t, tb.Addr(), "ctxn-b", kgo.DefaultProduceTopic(topic))}
	plain := groupClient(t, tb.Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer plain.Close()
	for _, p := range producers {
		defer p.Close()
	}
	rng := rand.New(rand.NewPCG(7, 8))
	model := map[string]string{}
	ctx := ctxTimeout(t, 5*time.Minute)
	commits, aborts := 0, 0
	for i := range 60 {
		if i%5 == 4 {
			var recs []*kgo.Record
			for j := range 10 {
				k, v := fmt.Sprintf("key-%03d", rng.IntN(keys)), fmt.Sprintf("plain-%d-%d", i, j)
				recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte(v)})
				model[k] = v
			}
			if err := plain.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		cl := producers[rng.IntN(2)]
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		pending := map[string]string{}
		var recs []*kgo.Record
		for j := range 20 {
			k, v := fmt.Sprintf("key-%03d", rng.IntN(keys)), fmt.Sprintf("txn-%d-%d", i, j)
			recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte(v)})
			pending[k] = v
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		commit := rng.IntN(2) == 0
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		if commit {
			commits++
			maps.Copy(model, pending)
		} else {
			aborts++
		}
	}
	t.Logf("%d committed, %d aborted transactions, %d live keys", commits, aborts, len(model))

	// Until the cleaner has run: the read_committed view equals the model at all times,
	// and converges to one record per live key; then read_uncommitted sees the same.
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, view := isolatedView(t, tb.Addr(), topic, true)
		if !maps.Equal(view, model) {
			t.Fatalf("read_committed view (%d keys) differs from the model (%d keys)", len(view), len(model))
		}
		if n == len(model) {
			t.Logf("read_committed: %d records for %d live keys", n, len(model))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %d records read for %d live keys", n, len(model))
		}
		time.Sleep(300 * time.Millisecond)
	}
	if n, view := isolatedView(t, tb.Addr(), topic, false); !maps.Equal(view, model) || n != len(model) {
		t.Fatalf("read_uncommitted after cleaning: %d records, view equal to the model: %v (aborted data left?)", n, maps.Equal(view, model))
	}

	// A restart rebuilds the producer and transaction state from the cleaned log: no
	// transaction is left open (the LSO is the end), the view is the same, and the
	// producers go on.
	for _, p := range producers {
		p.Close()
	}
	tb.Restart(t)
	ends, err := adm.ListEndOffsets(ctxTimeout(t, time.Minute), topic)
	if err != nil {
		t.Fatal(err)
	}
	committedEnds, err := adm.ListCommittedOffsets(ctxTimeout(t, time.Minute), topic)
	if err != nil {
		t.Fatal(err)
	}
	if e, c := ends[topic][0].Offset, committedEnds[topic][0].Offset; e != c {
		t.Fatalf("after restart: end %d, last stable %d (a transaction left open)", e, c)
	}
	if n, view := isolatedView(t, tb.Addr(), topic, true); !maps.Equal(view, model) || n != len(model) {
		t.Fatalf("after restart: %d records, view equal to the model: %v", n, maps.Equal(view, model))
	}
	cl := txnProducer(t, tb.Addr(), "ctxn-a", kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("key-000"), Value: []byte("after-restart")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	model["key-000"] = "after-restart"
	if _, view := isolatedView(t, tb.Addr(), topic, true); !maps.Equal(view, model) {
		t.Fatalf("after a transaction committed after the restart the view differs from the model")
	}
}
