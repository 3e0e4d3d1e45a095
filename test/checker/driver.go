package checker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config describes one workload run. The zero value of every field but Brokers and Topic
// is replaced by its default.
type Config struct {
	Brokers        []string          // seed brokers; required
	Topic          string            // created if missing; required, use a fresh name per run
	Partitions     int32             // partitions of Topic; default 3
	TopicConfigs   map[string]string // configs for CreateTopics (Kafka names); default none
	Producers      int               // idempotent acks=-1 producers; default 2
	Consumers      int               // assigned consumers that replay from offset 0 or a random seek; default 1
	GroupConsumers int               // members of Group that poll and commit; default 2
	Group          string            // consumer group; default Topic+"-group"
	Duration       time.Duration     // how long producers send; default 10s
	Records        int               // stop sending after this many values in total; default 0 = Duration only
	Rate           int               // values per second per producer; default 200, negative = unlimited
	MaxInFlight    int               // values buffered per producer; default 100
	ProbeInterval  time.Duration     // how often end offsets and committed offsets are listed; default 200ms
	ReplayInterval time.Duration     // how long a replay consumer reads before seeking anew; default 3s
	DrainTimeout   time.Duration     // how long producers may flush after Duration; default 30s
	Settle         time.Duration     // consumers keep reading after producers stop; default 1s
	FinalTimeout   time.Duration     // limit for the final read; default 60s
	Seed           uint64            // random seed for partition choice and seeks; default time-based

	// Nemesis, if set, runs while the producers send; its ctx ends when they stop. It must
	// leave the brokers serving when it returns; the producers' drain waits for it.
	Nemesis func(ctx context.Context, h *History) error
	// ClientOpts are added to every client the driver makes.
	ClientOpts []kgo.Opt
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

func (c *Config) defaults() error {
	if len(c.Brokers) == 0 || c.Topic == "" {
		return errors.New("checker: Config needs Brokers and Topic")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Partitions == 0 {
		c.Partitions = 3
	}
	def(&c.Producers, 2)
	def(&c.Consumers, 1)
	def(&c.GroupConsumers, 2)
	def(&c.Rate, 200)
	def(&c.MaxInFlight, 100)
	defd(&c.Duration, 10*time.Second)
	defd(&c.ProbeInterval, 200*time.Millisecond)
	defd(&c.ReplayInterval, 3*time.Second)
	defd(&c.DrainTimeout, 30*time.Second)
	defd(&c.Settle, time.Second)
	defd(&c.FinalTimeout, 60*time.Second)
	if c.Group == "" {
		c.Group = c.Topic + "-group"
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

type driver struct {
	cfg  Config
	h    *History
	sent atomic.Int64
}

// Run is Run(ctx, c).
func (c Config) Run(ctx context.Context) (*History, error) { return Run(ctx, c) }

// Run runs the workload described by cfg and returns its history, ready for Check. An
// error means the workload could not run (no topic, no final read possible), not that
// an anomaly was found.
func Run(ctx context.Context, cfg Config) (*History, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	d := &driver{cfg: cfg, h: &History{}}
	if err := d.createTopic(ctx); err != nil {
		return d.h, err
	}
	cfg.Logf("workload: topic %s, %d partitions, %d producers, %d replay consumers, %d group consumers, %s",
		cfg.Topic, cfg.Partitions, cfg.Producers, cfg.Consumers, cfg.GroupConsumers, cfg.Duration)

	wctx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	var cwg sync.WaitGroup
	for i := range cfg.Consumers {
		cwg.Go(func() { d.replay(wctx, i) })
	}
	for i := range cfg.GroupConsumers {
		cwg.Go(func() { d.member(wctx, i) })
	}
	cwg.Go(func() { d.probe(wctx) })

	pctx, stopProducers := context.WithTimeout(ctx, cfg.Duration)
	var pwg sync.WaitGroup
	var nemesisErr error
	if cfg.Nemesis != nil {
		pwg.Go(func() {
			nemesisErr = cfg.Nemesis(pctx, d.h)
		})
	}
	drained := make(chan struct{}) // closed when the nemesis is done
	go func() { pwg.Wait(); close(drained) }()
	var prodwg sync.WaitGroup
	for i := range cfg.Producers {
		prodwg.Go(func() { d.produce(ctx, pctx, i, drained) })
	}
	prodwg.Wait()
	stopProducers()
	<-drained
	cfg.Logf("workload: producers done, %d values sent", d.sent.Load())
	if nemesisErr != nil {
		stopConsumers()
		cwg.Wait()
		return d.h, fmt.Errorf("checker: nemesis: %w", nemesisErr)
	}

	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
	}
	stopConsumers()
	cwg.Wait()
	if err := d.finalRead(ctx); err != nil {
		return d.h, err
	}
	return d.h, ctx.Err()
}

func (d *driver) opts(extra ...kgo.Opt) []kgo.Opt {
	o := []kgo.Opt{
		kgo.SeedBrokers(d.cfg.Brokers...),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.DialTimeout(2 * time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		// A killed broker cuts connections whose first request is in flight; the
		// configuration is known good, so retry those EOFs instead of failing records.
		kgo.AlwaysRetryEOF(),
	}
	o = append(o, d.cfg.ClientOpts...)
	return append(o, extra...)
}

func (d *driver) info(process, what string, err error) { d.infoP(process, -1, what, err) }

// infoP records a client error about partition p.
func (d *driver) infoP(process string, p int32, what string, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	d.h.Add(Op{Process: process, Kind: KindInfo, Partition: p, Offset: -1, Value: what, Err: err.Error()})
}

func (d *driver) admin(extra ...kgo.Opt) (*kadm.Client, *kgo.Client, error) {
	cl, err := kgo.NewClient(d.opts(append([]kgo.Opt{kgo.RetryTimeout(2 * time.Second)}, extra...)...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("checker: admin client: %w", err)
	}
	return kadm.NewClient(cl), cl, nil
}

// createTopic creates the topic, retrying while the broker is not yet reachable.
func (d *driver) createTopic(ctx context.Context) error {
	adm, cl, err := d.admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var configs map[string]*string
		for k, v := range d.cfg.TopicConfigs {
			if configs == nil {
				configs = map[string]*string{}
			}
			configs[k] = &v
		}
		_, err := adm.CreateTopic(ctx, d.cfg.Partitions, 1, configs, d.cfg.Topic)
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("checker: create topic %q: %w", d.cfg.Topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requestErrors records failed produce requests (timeouts, cut connections) as info ops:
// each one is a retry the broker's idempotence has to absorb.
type requestErrors struct {
	d       *driver
	process string
}

func (e requestErrors) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if err := e2e.Err(); err != nil && key == int16(kmsg.Produce) {
		e.d.info(e.process, "produce request", err)
	}
}

// produce sends values p<i>-<n> until ctx ends, then flushes for up to DrainTimeout after
// the nemesis is done (drained closed). Every value gets a send op and then an ack or fail op.
// Records are buffered under runCtx, which outlives ctx so that the drain can deliver them.
func (d *driver) produce(runCtx, ctx context.Context, i int, nemesisDone <-chan struct{}) {
	process := fmt.Sprintf("p%d", i)
	cl, err := kgo.NewClient(d.opts(
		kgo.DefaultProduceTopic(d.cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(d.cfg.MaxInFlight),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.WithHooks(requestErrors{d, process}),
	)...)
	if err != nil {
		d.info(process, "new producer", err)
		return
	}
	rng := rand.New(rand.NewPCG(d.cfg.Seed, uint64(i)+1))
	var tick <-chan time.Time
	if d.cfg.Rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(d.cfg.Rate))
		defer t.Stop()
		tick = t.C
	}
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			d.h.Add(Op{Process: process, Kind: KindFail, Partition: r.Partition, Offset: -1, Value: string(r.Value), Err: err.Error()})
			return
		}
		d.h.Add(Op{Process: process, Kind: KindAck, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
	}
	for n := 0; ; n++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		if d.cfg.Records > 0 && d.sent.Add(1) > int64(d.cfg.Records) {
			break
		} else if d.cfg.Records == 0 {
			d.sent.Add(1)
		}
		v := fmt.Sprintf("p%d-%d", i, n)
		p := rng.Int32N(d.cfg.Partitions)
		d.h.Add(Op{Process: process, Kind: KindSend, Partition: p, Offset: -1, Value: v})
		cl.Produce(runCtx, &kgo.Record{Partition: p, Value: []byte(v)}, promise)
	}
	<-nemesisDone
	fctx, cancel := context.WithTimeout(context.Background(), d.cfg.DrainTimeout)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		d.info(process, "flush", err)
	}
	cl.Close() // fails whatever is still buffered: those values end as unknown outcomes
}

// replay consumes every partition with an assigned (non-group) consumer for
// ReplayInterval at a time, starting at 0 every fourth time and otherwise at a random
// offset already seen.
func (d *driver) replay(ctx context.Context, i int) {
	process := fmt.Sprintf("c%d", i)
	rng := rand.New(rand.NewPCG(d.cfg.Seed, 1000+uint64(i)))
	seen := make([]int64, d.cfg.Partitions) // next offset after the highest read
	for round := 0; ctx.Err() == nil; round++ {
		starts := map[int32]kgo.Offset{}
		for p := range d.cfg.Partitions {
			// Every fourth round replays from 0; the others seek to a random offset already
			// seen, mostly near the end, which keeps long runs' histories bounded.
			at := int64(0)
			if round%4 != 0 && seen[p] > 0 {
				at = seen[p] - rng.Int64N(min(seen[p], 2000)+1)
			}
			starts[p] = kgo.NewOffset().At(at)
			d.h.Add(Op{Process: process, Kind: KindAssign, Partition: p, Offset: at})
		}
		cl, err := kgo.NewClient(d.opts(
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.cfg.Topic: starts}),
			kgo.FetchMaxWait(200*time.Millisecond),
		)...)
		if err != nil {
			d.info(process, "new consumer", err)
			return
		}
		rctx, cancel := context.WithTimeout(ctx, d.cfg.ReplayInterval)
		for rctx.Err() == nil {
			fs := cl.PollFetches(rctx)
			fs.EachError(func(_ string, p int32, err error) { d.infoP(process, p, "fetch", err) })
			fs.EachRecord(func(r *kgo.Record) {
				d.h.Add(Op{Process: process, Kind: KindRead, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
				seen[r.Partition] = max(seen[r.Partition], r.Offset+1)
			})
		}
		cancel()
		cl.Close()
	}
}

// member is one consumer of the group: it polls, records reads, commits what it read
// synchronously and records acknowledged commits; rebalances happen only between polls,
// and assignments and revocations are recorded as stream boundaries.
func (d *driver) member(ctx context.Context, i int) {
	process := fmt.Sprintf("g%d", i)
	topic := d.cfg.Topic
	streams := func(kind Kind) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			for _, p := range m[topic] {
				d.h.Add(Op{Process: process, Kind: kind, Partition: p, Offset: -1, Group: d.cfg.Group})
			}
		}
	}
	cl, err := kgo.NewClient(d.opts(
		kgo.ConsumerGroup(d.cfg.Group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(streams(KindAssign)),
		kgo.OnPartitionsRevoked(streams(KindRevoke)),
		kgo.OnPartitionsLost(streams(KindRevoke)),
		// The offsets fetched on joining are where each stream must resume: record them as
		// the stream's start so the checker catches a resume that skips or rewinds.
		kgo.AdjustFetchOffsetsFn(func(_ context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			for p, o := range m[topic] {
				if eo := o.EpochOffset(); eo.Offset >= 0 {
					d.h.Add(Op{Process: process, Kind: KindAssign, Partition: p, Offset: eo.Offset, Group: d.cfg.Group})
				}
			}
			return m, nil
		}),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.SessionTimeout(10*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
	)...)
	if err != nil {
		d.info(process, "new group consumer", err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, p int32, err error) { d.infoP(process, p, "fetch", err) })
		next := map[int32]kgo.EpochOffset{}
		fs.EachRecord(func(r *kgo.Record) {
			d.h.Add(Op{Process: process, Kind: KindRead, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
			next[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		})
		if len(next) > 0 {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			cl.CommitOffsetsSync(cctx, map[string]map[int32]kgo.EpochOffset{topic: next},
				func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
					if err != nil {
						d.info(process, "commit", err)
						return
					}
					for _, t := range resp.Topics {
						for _, p := range t.Partitions {
							if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
								d.info(process, fmt.Sprint("commit partition ", p.Partition), err)
								continue
							}
							if eo, ok := next[p.Partition]; ok {
								d.h.Add(Op{Process: process, Kind: KindCommit, Group: d.cfg.Group, Partition: p.Partition, Offset: eo.Offset})
							}
						}
					}
				})
			cancel()
		}
		cl.AllowRebalance()
	}
}

// probe lists log start and end offsets and the group's committed offsets, recording
// each with the time its request started.
func (d *driver) probe(ctx context.Context) {
	const process = "probe"
	adm, cl, err := d.admin()
	if err != nil {
		d.info(process, "new admin", err)
		return
	}
	defer cl.Close()
	t := time.NewTicker(d.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		starts, err := adm.ListStartOffsets(ctx, d.cfg.Topic)
		if err != nil {
			d.info(process, "list start offsets", err)
			continue
		}
		t0 := time.Now()
		ends, err := adm.ListEndOffsets(ctx, d.cfg.Topic)
		if err != nil {
			d.info(process, "list end offsets", err)
		} else {
			ends.Each(func(e kadm.ListedOffset) {
				if e.Err != nil {
					d.info(process, fmt.Sprint("list end offset partition ", e.Partition), e.Err)
					return
				}
				ls := int64(0)
				if s, ok := starts.Lookup(d.cfg.Topic, e.Partition); ok && s.Err == nil {
					ls = s.Offset
				}
				d.h.Add(Op{Process: process, Kind: KindEnd, Time: t0, Partition: e.Partition, Offset: e.Offset, LogStart: ls})
			})
		}
		t1 := time.Now()
		offs, err := adm.FetchOffsets(ctx, d.cfg.Group)
		if err != nil {
			d.info(process, "fetch offsets", err)
			continue
		}
		for p := range d.cfg.Partitions {
			o, ok := offs.Lookup(d.cfg.Topic, p)
			if ok && o.Err != nil {
				d.info(process, fmt.Sprint("fetch offset partition ", p), o.Err)
				continue
			}
			at := int64(-1)
			if ok {
				at = o.At
			}
			d.h.Add(Op{Process: process, Kind: KindCommitted, Time: t1, Group: d.cfg.Group, Partition: p, Offset: at})
		}
	}
}

// finalRead reads every partition from its log start to its end offset, retrying the
// listing while the broker is unreachable, and records a final op per partition.
func (d *driver) finalRead(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.FinalTimeout)
	defer cancel()
	adm, acl, err := d.admin()
	if err != nil {
		return err
	}
	defer acl.Close()
	var starts, ends kadm.ListedOffsets
	var t0 time.Time
	for {
		starts, err = adm.ListStartOffsets(ctx, d.cfg.Topic)
		if err == nil {
			err = starts.Error()
		}
		if err == nil {
			t0 = time.Now()
			ends, err = adm.ListEndOffsets(ctx, d.cfg.Topic)
			if err == nil {
				err = ends.Error()
			}
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("checker: final read: list offsets: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	from := map[int32]kgo.Offset{}
	next := map[int32]int64{}
	end := map[int32]int64{}
	logStart := map[int32]int64{}
	for p := range d.cfg.Partitions {
		s, _ := starts.Lookup(d.cfg.Topic, p)
		e, _ := ends.Lookup(d.cfg.Topic, p)
		from[p] = kgo.NewOffset().At(s.Offset)
		next[p], end[p], logStart[p] = s.Offset, e.Offset, s.Offset
		d.h.Add(Op{Process: FinalProcess, Kind: KindAssign, Partition: p, Offset: s.Offset})
	}
	cl, err := kgo.NewClient(d.opts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.cfg.Topic: from}),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("checker: final read: %w", err)
	}
	defer cl.Close()
	done := func() bool {
		for p := range d.cfg.Partitions {
			if next[p] < end[p] {
				return false
			}
		}
		return true
	}
	for !done() && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, p int32, err error) { d.infoP(FinalProcess, p, "fetch", err) })
		fs.EachRecord(func(r *kgo.Record) {
			d.h.Add(Op{Process: FinalProcess, Kind: KindRead, Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
	}
	total := 0
	for p := range d.cfg.Partitions {
		total += int(end[p] - logStart[p])
		d.h.Add(Op{Process: FinalProcess, Kind: KindFinal, Time: t0, Partition: p, Offset: end[p], LogStart: logStart[p], Complete: next[p] >= end[p]})
	}
	d.cfg.Logf("workload: final read of %d offsets, complete=%v", total, done())
	return nil
}
