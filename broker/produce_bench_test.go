package broker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceKgo measures durable produce over the network as strata-bench does
// (franz-go producer, 1 KiB incompressible records, 1 MiB batches, acks=-1 idempotent:
// up to five requests in flight), 16 MiB per iteration, against an in-process broker.
func BenchmarkProduceKgo(b *testing.B) {
	for _, parts := range []int32{1, 8} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			br := startCoreBroker(b, nil)
			if _, err := br.createTopic("bench", parts, nil, false); err != nil {
				b.Fatal(err)
			}
			cl, err := kgo.NewClient(
				kgo.SeedBrokers(br.Addr().String()),
				kgo.DefaultProduceTopic("bench"),
				kgo.ProducerBatchMaxBytes(1<<20),
				kgo.ProducerBatchCompression(kgo.NoCompression()),
				kgo.MaxBufferedRecords(1<<16),
				kgo.RequiredAcks(kgo.AllISRAcks()),
			)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			const size, n = 1024, 16 << 10
			vals := make([]byte, 4096*size)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range vals {
				vals[i] = byte(rng.Uint32())
			}
			ctx := b.Context()
			b.SetBytes(n * size)
			b.ResetTimer()
			for b.Loop() {
				for i := range n {
					off := (i % 4096) * size
					cl.Produce(ctx, &kgo.Record{Value: vals[off : off+size]}, func(_ *kgo.Record, err error) {
						if err != nil {
							b.Error(err)
						}
					})
				}
				if err := cl.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProduceLatency measures one acks=-1 produce of one 1 KiB record at a time
// (franz-go, linger 0) against an in-process broker: the ack latency without queueing.
// It reports the p50 and p99 of the iterations in microseconds.
func BenchmarkProduceLatency(b *testing.B) {
	br := startCoreBroker(b, nil)
	if _, err := br.createTopic("lat", 1, nil, false); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(br.Addr().String()),
		kgo.DefaultProduceTopic("lat"),
		kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	val := make([]byte, 1024)
	ctx := b.Context()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}
