package test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/test/brokertest"
	"github.com/strata-io/strata/tiering/memstore"
)

// BenchmarkTxnRatios measures, in one run on one in-process broker:
//   - produce: records/s of an idempotent producer and of a transactional producer that
//     commits every 100 ms (same records, same client settings), for a fixed time each;
//     metric txn/idem;
//   - consume: records/s of read_committed and read_uncommitted consumers over the same
//     data (transactions of 500 records, one in ten aborted); metric rc/ru (counted in
//     records delivered per second of the consumer's run over the whole log), locally and
//     (remote-rc/ru) on a tiered topic whose segments left the disk (in-memory bucket).
//
// Run: go test ./test/ -run '^$' -bench BenchmarkTxnRatios -benchtime 1x
func BenchmarkTxnRatios(b *testing.B) {
	for range b.N {
		tb := brokertest.Start(b, brokertest.Config{Props: map[string]string{"group.initial.rebalance.delay.ms": "0"}})
		addr := tb.Addr()
		adm := kadm.NewClient(benchClient(b, addr))
		for _, topic := range []string{"bench-idem", "bench-txn", "bench-consume"} {
			if r, err := adm.CreateTopic(context.Background(), 3, 1, nil, topic); err != nil || r.Err != nil {
				b.Fatal(err, r.Err)
			}
		}
		// Alternating phases, so that a neighbour's load on the shared machine hits both.
		var idem, txn float64
		for r := 0; r < 3; r++ {
			idem += produceRate(b, addr, "bench-idem", "", 1500*time.Millisecond) / 3
			txn += produceRate(b, addr, "bench-txn", "bench-txn-id", 1500*time.Millisecond) / 3
		}
		b.ReportMetric(idem, "idem-rec/s")
		b.ReportMetric(txn, "txn-rec/s")
		b.ReportMetric(txn/idem, "txn/idem")

		// Consume: 200 transactions of 500 records, every tenth aborted.
		cl := benchClient(b, addr, kgo.TransactionalID("bench-fill"))
		val := make([]byte, 100)
		total := 0
		for i := 0; i < 1000; i++ {
			if err := cl.BeginTransaction(); err != nil {
				b.Fatal(err)
			}
			for j := 0; j < 500; j++ {
				cl.Produce(context.Background(), &kgo.Record{Topic: "bench-consume", Value: val}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			commit := i%10 != 9
			if err := cl.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
				b.Fatal(err)
			}
			if commit {
				total += 500
			}
		}
		cl.Close()
		var ru, rc float64
		for r := 0; r < 5; r++ {
			ru += consumeRate(b, addr, "bench-consume", kgo.ReadUncommitted(), 1000*500) / 5
			rc += consumeRate(b, addr, "bench-consume", kgo.ReadCommitted(), total) / 5
		}
		b.ReportMetric(ru, "ru-rec/s")
		b.ReportMetric(rc, "rc-rec/s")
		// Per second of reading the same log: read_committed delivers fewer records, so
		// compare the log offsets covered per second.
		b.ReportMetric(rc*float64(1000*500)/float64(total)/ru, "rc/ru")
		tb.Stop(b)

		// Remote: the same transactions on a tiered topic whose segments left the disk.
		rb := brokertest.Start(b, brokertest.Config{Store: memstore.New(), Props: map[string]string{
			"log.retention.check.interval.ms": "100", "remote.log.upload.interval.ms": "200"}})
		radm := kadm.NewClient(benchClient(b, rb.Addr()))
		if r, err := radm.CreateTopic(context.Background(), 3, 1, map[string]*string{
			"remote.storage.enable": kadm.StringPtr("true"), "segment.bytes": kadm.StringPtr("1048576"),
			"local.retention.bytes": kadm.StringPtr("0")}, "bench-remote"); err != nil || r.Err != nil {
			b.Fatal(err, r.Err)
		}
		rtotal := fillTxns(b, rb.Addr(), "bench-remote", 300)
		for deadline := time.Now().Add(2 * time.Minute); ; {
			lo, err := radm.ListEndOffsets(context.Background(), "bench-remote")
			if err != nil {
				b.Fatal(err)
			}
			start := int64(0)
			req := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "bench-remote"
			lo.Each(func(o kadm.ListedOffset) {
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Partition, rp.Timestamp = o.Partition, -4 // earliest local
				rt.Partitions = append(rt.Partitions, rp)
			})
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(context.Background(), benchClient(b, rb.Addr()))
			if err == nil {
				for _, p := range resp.Topics[0].Partitions {
					start += p.Offset
				}
			}
			if start >= int64(rtotal)/2 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("segments did not leave the disk (local starts sum %d)", start)
			}
			time.Sleep(100 * time.Millisecond)
		}
		var rru, rrc float64
		for r := 0; r < 3; r++ {
			rru += consumeRate(b, rb.Addr(), "bench-remote", kgo.ReadUncommitted(), 300*500) / 3
			rrc += consumeRate(b, rb.Addr(), "bench-remote", kgo.ReadCommitted(), rtotal) / 3
		}
		b.ReportMetric(rrc*float64(300*500)/float64(rtotal)/rru, "remote-rc/ru")
		rb.Stop(b)
	}
}

// fillTxns writes txns transactions of 500 100-byte records to topic, every tenth
// aborted, and returns how many records were committed.
func fillTxns(b *testing.B, addr, topic string, txns int) int {
	b.Helper()
	cl := benchClient(b, addr, kgo.TransactionalID("fill-"+topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	val := make([]byte, 100)
	total := 0
	for i := 0; i < txns; i++ {
		if err := cl.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 500; j++ {
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		if err := cl.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		commit := i%10 != 9
		if err := cl.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
			b.Fatal(err)
		}
		if commit {
			total += 500
		}
	}
	return total
}

func benchClient(b *testing.B, addr string, opts ...kgo.Opt) *kgo.Client {
	b.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ProducerLinger(5 * time.Millisecond)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// produceRate produces 100-byte records asynchronously for d and returns acknowledged
// records per second; with a transactional id it commits every 100 ms.
func produceRate(b *testing.B, addr, topic, txnID string, d time.Duration) float64 {
	b.Helper()
	var opts []kgo.Opt
	if txnID != "" {
		opts = append(opts, kgo.TransactionalID(txnID))
	}
	cl := benchClient(b, addr, opts...)
	defer cl.Close()
	ctx := context.Background()
	val := make([]byte, 100)
	var acked atomic.Int64
	start := time.Now()
	for time.Since(start) < d {
		if txnID != "" {
			if err := cl.BeginTransaction(); err != nil {
				b.Fatal(err)
			}
		}
		window := time.Now()
		for time.Since(window) < 100*time.Millisecond {
			for k := 0; k < 100; k++ {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: val}, func(_ *kgo.Record, err error) {
					if err == nil {
						acked.Add(1)
					}
				})
			}
		}
		if txnID != "" {
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return float64(acked.Load()) / time.Since(start).Seconds()
}

// consumeRate reads topic from the start until it has want records and returns records/s.
func consumeRate(b *testing.B, addr, topic string, iso kgo.IsolationLevel, want int) float64 {
	b.Helper()
	cl := benchClient(b, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatal(fmt.Errorf("consumed %d of %d", n, want))
		}
		n += fs.NumRecords()
	}
	return float64(n) / time.Since(start).Seconds()
}
