package test

import (
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnProducer returns a transactional franz-go client.
func txnProducer(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return groupClient(t, addr, append([]kgo.Opt{kgo.TransactionalID(id), kgo.TransactionTimeout(20 * time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
}

// runTxn produces n records "<prefix>-i" to topic's partitions in one transaction and ends
// it with commit.
func runTxn(t *testing.T, cl *kgo.Client, topic, prefix string, n int, partitions int32, commit bool) {
	t.Helper()
	ctx := ctxTimeout(t, time.Minute)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: []byte(prefix + "-" + strconv.Itoa(i))}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// txnConsume reads topic from the start at the isolation level until it has seen the
// value "end" on each of its partitions (the caller writes those last, committed), and
// returns the values before them.
func txnConsume(t *testing.T, addr, topic string, partitions int32, committed bool) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := groupClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	defer cl.Close()
	ctx := ctxTimeout(t, 2*time.Minute)
	var out []string
	ended := map[int32]bool{}
	for len(ended) < int(partitions) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s (committed=%v): %v; ended %v, %d records", topic, committed, ctx.Err(), ended, len(out))
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			switch {
			case ended[r.Partition]: // past its end
			case string(r.Value) == "end":
				ended[r.Partition] = true
			default:
				out = append(out, string(r.Value))
			}
		})
	}
	return out
}

// writeEnds commits one "end" record to each partition.
func writeEnds(t *testing.T, cl *kgo.Client, topic string, partitions int32) {
	t.Helper()
	ctx := ctxTimeout(t, time.Minute)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < partitions; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("end")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
}

// TestTxnCommitAbortReadCommitted: a transactional producer commits and aborts
// transactions over three partitions; read_committed sees exactly the committed records,
// read_uncommitted all of them; ListOffsets read_committed equals the end once no
// transaction is open, and the LSO holds at an open transaction's first offset.
func TestTxnCommitAbortReadCommitted(t *testing.T) {
	gb := startGroupBroker(t, t.TempDir(), nil)
	requireAPI(t, gb.addr(), kmsg.EndTxn)
	const topic, parts = "txn-basic", 3
	groupCreateTopic(t, gb.addr(), topic, parts)
	cl := txnProducer(t, gb.addr(), "basic-1")
	defer cl.Close()
	runTxn(t, cl, topic, "c1", 30, parts, true)
	runTxn(t, cl, topic, "a1", 30, parts, false)
	runTxn(t, cl, topic, "c2", 30, parts, true)
	runTxn(t, cl, topic, "a2", 30, parts, false)

	writeEnds(t, cl, topic, parts)
	committed := txnConsume(t, gb.addr(), topic, parts, true)
	all := txnConsume(t, gb.addr(), topic, parts, false)
	if len(committed) != 60 || len(all) != 120 {
		t.Fatalf("read_committed %d records (want 60), read_uncommitted %d (want 120)", len(committed), len(all))
	}
	for _, v := range committed {
		if v[0] != 'c' {
			t.Fatalf("read_committed saw aborted record %q", v)
		}
	}

	// An open transaction holds the LSO at its first offset.
	adm := kadm.NewClient(groupClient(t, gb.addr()))
	defer adm.Close()
	ctx := ctxTimeout(t, time.Minute)
	before, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := adm.ListEndOffsets(ctx, topic)
	b0, _ := before.Lookup(topic, 0)
	l0, _ := lso.Lookup(topic, 0)
	e0, _ := end.Lookup(topic, 0)
	if l0.Offset != b0.Offset || e0.Offset != b0.Offset+1 {
		t.Fatalf("open transaction: LSO %d (want %d), end %d (want %d)", l0.Offset, b0.Offset, e0.Offset, b0.Offset+1)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	lso, _ = adm.ListCommittedOffsets(ctx, topic)
	l0, _ = lso.Lookup(topic, 0)
	if l0.Offset != b0.Offset+2 { // the record and the commit marker
		t.Fatalf("after commit: LSO %d, want %d", l0.Offset, b0.Offset+2)
	}
}
