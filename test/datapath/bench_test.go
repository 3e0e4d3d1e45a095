package datapath

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduce measures end-to-end produce throughput (franz-go, 1 KiB incompressible
// records, 4 partitions, default batching and snappy) for acks=1 and acks=-1.
func BenchmarkProduce(b *testing.B) {
	for _, acks := range []struct {
		name string
		acks kgo.Acks
	}{{"acks=1", kgo.LeaderAck()}, {"acks=-1", kgo.AllISRAcks()}} {
		b.Run(acks.name, func(b *testing.B) {
			tb := startBroker(b, b.TempDir(), nil)
			cl := newClient(b, tb.addr, kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(acks.acks),
				kgo.ProducerLinger(time.Millisecond))
			createTopic(b, cl, "bench", 4, nil)
			val := make([]byte, 1024)
			rand.Read(val)
			b.SetBytes(int64(len(val)))
			var wg sync.WaitGroup
			var errOnce sync.Once
			for b.Loop() {
				wg.Add(1)
				cl.Produce(b.Context(), &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
					if err != nil {
						errOnce.Do(func() { b.Error(err) })
					}
					wg.Done()
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkConsume measures end-to-end fetch throughput of 1 KiB records read from the
// page cache (one b.N iteration = one record).
func BenchmarkConsume(b *testing.B) {
	tb := startBroker(b, b.TempDir(), nil)
	cl := newClient(b, tb.addr, kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(time.Millisecond))
	createTopic(b, cl, "bench", 4, nil)
	val := make([]byte, 1024)
	rand.Read(val)
	const n = 100_000
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		cl.Produce(b.Context(), &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	b.SetBytes(int64(len(val)))
	b.ResetTimer()
	var cons *kgo.Client
	left := 0
	for b.Loop() {
		if left == 0 {
			if cons != nil {
				cons.Close()
			}
			cons = newClient(b, tb.addr, kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			left = n
		}
		for len(cons.PollRecords(b.Context(), 1).Records()) != 1 {
		}
		left--
	}
}
