package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Workloads over the Kafka protocol, run the same way against Strata and kfake.

// valuePool is random (incompressible) record values, generated before any clock starts.
type valuePool struct {
	buf  []byte
	size int
	n    int
}

func newValuePool(records, size int) *valuePool {
	n := min(records, (64<<20)/size+1)
	buf := make([]byte, n*size)
	rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
	for i := 0; i+8 <= len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
	}
	return &valuePool{buf: buf, size: size, n: n}
}

func (p *valuePool) value(i int) []byte {
	off := (i % p.n) * p.size
	return p.buf[off : off+p.size]
}

func newAdmin(addr string) (*kadm.Client, *kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl, nil
}

func createTopic(ctx context.Context, addr, topic string, partitions int32, configs map[string]*string) error {
	adm, cl, err := newAdmin(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("cannot create topic %q: %w", topic, err)
	}
	return waitTopicReady(ctx, adm, topic, partitions)
}

// waitTopicReady waits until Metadata lists every partition of topic with a leader that
// answers ListOffsets for it. Apache
// Kafka answers CreateTopics before its partitions have leaders on the broker; a producer
// started then backs off for seconds inside the timed phase (32 MiB at 8 partitions
// measured 6.6 MB/s instead of 120).
func waitTopicReady(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil && int32(len(td.Partitions)) == partitions {
				ready := true
				for _, p := range td.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
				// Kafka's metadata can name a leader before that broker serves the
				// partition (NOT_LEADER_OR_FOLLOWER, and franz-go waits for its 5 s
				// metadata minimum age): ListOffsets is answered by the leader itself.
				if ready {
					ends, err := adm.ListEndOffsets(ctx, topic)
					if err == nil && ends.Error() == nil && int32(len(ends[topic])) == partitions {
						return nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %q: partitions without a leader after 60s (%v)", topic, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func deleteTopic(ctx context.Context, addr, topic string) {
	adm, cl, err := newAdmin(addr)
	if err != nil {
		return
	}
	defer cl.Close()
	adm.DeleteTopics(ctx, topic)
}

func producerOpts(addr, topic string, acks int) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1 << 16),
	}
	if acks == 1 {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	} else {
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	return opts
}

type produceResult struct {
	records, bytes int64
	seconds        float64
	firstRecord    float64 // seconds until the first record arrived (consumers)
}

func (r produceResult) mbps() float64 { return float64(r.bytes) / 1e6 / r.seconds }

// produceN produces n records of pool's size as fast as the client accepts them.
func produceN(ctx context.Context, addr, topic string, acks, n int, pool *valuePool) (produceResult, error) {
	cl, err := kgo.NewClient(producerOpts(addr, topic, acks)...)
	if err != nil {
		return produceResult{}, err
	}
	defer cl.Close()
	var (
		errMu    sync.Mutex
		firstErr error
	)
	start := time.Now()
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: pool.value(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return produceResult{}, err
	}
	el := time.Since(start)
	if firstErr != nil {
		return produceResult{}, fmt.Errorf("produce to %s: %w", topic, firstErr)
	}
	return produceResult{records: int64(n), bytes: int64(n) * int64(pool.size), seconds: el.Seconds()}, nil
}

// consumeAll reads want records of topic from the start with a direct (group-less) consumer,
// or with a new consumer group when group != "" (the catch-up case: join, then read).
func consumeAll(ctx context.Context, addr, topic, group string, want int64) (produceResult, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64 << 20),
		kgo.FetchMaxPartitionBytes(8 << 20),
	}
	if group != "" {
		opts = append(opts, kgo.ConsumerGroup(group), kgo.DisableAutoCommit())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return produceResult{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var got, bytes int64
	var first time.Duration
	start := time.Now()
	for got < want {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return produceResult{}, fmt.Errorf("consume %s: %d of %d records: %w", topic, got, want, err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !kerr.IsRetriable(err) {
				ferr = fmt.Errorf("consume %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return produceResult{}, ferr
		}
		if got == 0 && fetches.NumRecords() > 0 {
			first = time.Since(start)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	el := time.Since(start)
	if group != "" {
		cl.LeaveGroup()
	}
	return produceResult{records: got, bytes: bytes, seconds: el.Seconds(), firstRecord: first.Seconds()}, nil
}

type latencyResult struct {
	ackP50, ackP99, ackP999 float64 // ms, produce request to acknowledgement
	e2eP50, e2eP99, e2eP999 float64 // ms, produce call to the record arriving at a consumer
	records                 int
}

// latencyAt produces at a fixed rate with acks=-1 and one record per request (linger 0)
// while a consumer tails the topic; it measures ack and end-to-end latency.
func latencyAt(ctx context.Context, addr, topic string, rate float64, dur time.Duration, size int) (latencyResult, error) {
	n := int(rate * dur.Seconds())
	pool := newValuePool(n, size)
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return latencyResult{}, err
	}
	defer cons.Close()
	// Linger 0: each record goes out as soon as no request is in flight (kgo's default lingers).
	prod, err := kgo.NewClient(append(producerOpts(addr, topic, -1), kgo.ProducerLinger(0))...)
	if err != nil {
		return latencyResult{}, err
	}
	defer prod.Close()

	sent := make([]time.Time, n)
	ack := make([]time.Duration, n)
	e2e := make([]time.Duration, n)
	var received atomic.Int64
	consDone := make(chan error, 1)
	cctx, cancel := context.WithTimeout(ctx, dur+60*time.Second)
	defer cancel()
	var sentMu sync.Mutex
	go func() {
		for received.Load() < int64(n) {
			fs := cons.PollFetches(cctx)
			if cctx.Err() != nil {
				consDone <- fmt.Errorf("latency consumer: %d of %d: %w", received.Load(), n, cctx.Err())
				return
			}
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				i := int(binary.BigEndian.Uint32(r.Key))
				sentMu.Lock()
				e2e[i] = now.Sub(sent[i])
				sentMu.Unlock()
				received.Add(1)
			})
		}
		consDone <- nil
	}()
	// Let the consumer find the (empty) partition before the clock starts.
	time.Sleep(300 * time.Millisecond)
	var (
		errMu    sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		key := binary.BigEndian.AppendUint32(nil, uint32(i))
		sentMu.Lock()
		sent[i] = time.Now()
		sentMu.Unlock()
		t0 := sent[i]
		wg.Add(1)
		prod.Produce(ctx, &kgo.Record{Key: key, Value: pool.value(i)}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			ack[i] = time.Since(t0)
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return latencyResult{}, firstErr
	}
	if err := <-consDone; err != nil {
		return latencyResult{}, err
	}
	slices.Sort(ack)
	slices.Sort(e2e)
	return latencyResult{
		ackP50: ms(percentile(ack, 0.50)), ackP99: ms(percentile(ack, 0.99)), ackP999: ms(percentile(ack, 0.999)),
		e2eP50: ms(percentile(e2e, 0.50)), e2eP99: ms(percentile(e2e, 0.99)), e2eP999: ms(percentile(e2e, 0.999)),
		records: n,
	}, nil
}

// waitOffloaded waits until every partition of topic has its earliest local offset at its high
// watermark (ListOffsets -4, KIP-405): all records live only in the bucket.
func waitOffloaded(ctx context.Context, addr, topic string, partitions int32, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(timeout)
	for {
		local, err := listOffsets(ctx, cl, topic, partitions, -4)
		if err != nil {
			return err
		}
		end, err := listOffsets(ctx, cl, topic, partitions, -1)
		if err != nil {
			return err
		}
		done := true
		for p := range partitions {
			if local[p] < end[p] {
				done = false
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s not offloaded after %v: local start %v, end %v", topic, timeout, local, end)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func listOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions int32, ts int64) ([]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 9 // -4 (earliest local) needs v8+
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := make([]int64, partitions)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("list offsets %s[%d] ts %d: %w", topic, p.Partition, ts, err)
			}
			if p.Partition >= 0 && p.Partition < partitions {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
