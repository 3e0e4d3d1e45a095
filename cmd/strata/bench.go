package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchOptions is the workload of `strata bench`.
type benchOptions struct {
	topic       string
	mib         float64
	recordSize  int
	partitions  int
	acks        string
	compression string
	linger      time.Duration
	batchBytes  int
	rounds      int
	rate        float64 // records/s; 0 = as fast as the client accepts
	compare     bool
	embedded    bool
	keepTopics  bool
}

// benchResult is one phase of one round, printed as one JSON line.
type benchResult struct {
	Phase         string  `json:"phase"` // produce | consume
	Target        string  `json:"target"`
	Round         int     `json:"round"`
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	MBPerSec      float64 `json:"mb_per_s"`
	RecordsPerSec float64 `json:"records_per_s"`
	P50Ms         float64 `json:"p50_ms,omitempty"`
	P99Ms         float64 `json:"p99_ms,omitempty"`
	RecordSize    int     `json:"record_size"`
	Partitions    int     `json:"partitions"`
	Acks          string  `json:"acks"`
	Compression   string  `json:"compression"`
}

func runBench(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "bench", "bench [--mib N] [--record-size S] [--partitions P] [--compare-kfake [--embedded]]")
	var cf clientFlags
	cf.register(fs)
	var o benchOptions
	fs.StringVar(&o.topic, "topic", "strata-bench", "topic name prefix; each round uses a fresh topic")
	fs.Float64Var(&o.mib, "mib", 64, "MiB of record values to produce per round")
	fs.IntVar(&o.recordSize, "record-size", 1024, "bytes per record value")
	fs.IntVar(&o.partitions, "partitions", 3, "partitions of the bench topic")
	fs.StringVar(&o.acks, "acks", "all", "required acks: all (-1), 1 or 0")
	fs.StringVar(&o.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4, zstd")
	fs.DurationVar(&o.linger, "linger", 0, "producer linger")
	fs.IntVar(&o.batchBytes, "batch-bytes", 1<<20, "producer max batch bytes")
	fs.Float64Var(&o.rate, "rate", 0, "produce at most this many records/s (0: as fast as possible; latency then includes client-side queueing)")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds per target (default 1, or 3 with --compare-kfake)")
	fs.BoolVar(&o.compare, "compare-kfake", false, "also run the workload against franz-go's in-memory kfake, interleaved, and print a Markdown table")
	fs.BoolVar(&o.embedded, "embedded", false, "start a Strata broker in-process on a temporary directory instead of using --brokers")
	fs.BoolVar(&o.keepTopics, "keep-topics", false, "do not delete the bench topics afterwards")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErrorf("bench: unexpected arguments %q", pos)
	}
	if o.recordSize <= 0 || o.mib <= 0 || o.partitions <= 0 {
		return usageErrorf("bench: --mib, --record-size and --partitions must be positive")
	}
	if _, err := producerOpts(o.acks, o.compression); err != nil {
		return err
	}
	if o.rounds <= 0 {
		o.rounds = 1
		if o.compare {
			o.rounds = 3
		}
	}

	type target struct {
		name    string
		brokers string
	}
	var targets []target
	strataBrokers := cf.brokers
	if o.embedded {
		dir, err := os.MkdirTemp("", "strata-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		addr, stop, err := startEmbeddedBroker(ctx, dir)
		if err != nil {
			return fmt.Errorf("cannot start embedded broker: %w", err)
		}
		defer stop()
		strataBrokers = addr
	}
	targets = append(targets, target{"strata", strataBrokers})
	if o.compare {
		fake, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return fmt.Errorf("cannot start kfake: %w", err)
		}
		defer fake.Close()
		targets = append(targets, target{"kfake", fake.ListenAddrs()[0]})
	}

	enc := json.NewEncoder(s.out)
	results := map[string][]benchResult{} // target/phase -> rounds
	for round := 1; round <= o.rounds; round++ {
		order := slices.Clone(targets)
		if round%2 == 0 {
			slices.Reverse(order) // alternate who goes first, so warm-up favours neither
		}
		for _, t := range order {
			tcf := cf
			tcf.brokers = t.brokers
			rs, err := benchRound(ctx, &tcf, o, t.name, round)
			if err != nil {
				return fmt.Errorf("bench %s round %d: %w", t.name, round, err)
			}
			for _, r := range rs {
				if err := enc.Encode(r); err != nil {
					return err
				}
				results[t.name+"/"+r.Phase] = append(results[t.name+"/"+r.Phase], r)
			}
		}
	}
	if o.compare {
		writeCompareTable(s.out, results, o)
	}
	return nil
}

// benchRound creates a fresh topic, produces the workload, consumes it from the beginning
// and (unless keepTopics) deletes the topic.
func benchRound(ctx context.Context, cf *clientFlags, o benchOptions, target string, round int) ([]benchResult, error) {
	topic := fmt.Sprintf("%s-%s-%d-%d", o.topic, target, round, time.Now().UnixNano())
	adm, admCl, err := cf.newAdmin()
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	actx, cancel := context.WithTimeout(ctx, cf.timeout)
	resp, err := adm.CreateTopic(actx, int32(o.partitions), 1, nil, topic)
	cancel()
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return nil, fmt.Errorf("cannot create topic %q: %w", topic, err)
	}
	if !o.keepTopics {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
			defer cancel()
			_, _ = adm.DeleteTopics(dctx, topic)
		}()
	}
	prod, err := benchProduce(ctx, cf, o, topic)
	if err != nil {
		return nil, err
	}
	cons, err := benchConsume(ctx, cf, o, topic, prod.Records)
	if err != nil {
		return nil, err
	}
	out := []benchResult{prod, cons}
	for i := range out {
		out[i].Target, out[i].Round = target, round
		out[i].RecordSize, out[i].Partitions = o.recordSize, o.partitions
		out[i].Acks, out[i].Compression = o.acks, o.compression
	}
	return out, nil
}

func benchProduce(ctx context.Context, cf *clientFlags, o benchOptions, topic string) (benchResult, error) {
	opts, err := producerOpts(o.acks, o.compression)
	if err != nil {
		return benchResult{}, err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(o.linger),
		kgo.ProducerBatchMaxBytes(int32(o.batchBytes)),
	)
	cl, err := cf.newClient(opts...)
	if err != nil {
		return benchResult{}, err
	}
	defer cl.Close()

	n := int64(o.mib * (1 << 20) / float64(o.recordSize))
	if n < 1 {
		n = 1
	}
	// Values are random bytes (incompressible), generated before the clock starts. Records
	// are distinct windows of one pool of at most 512 MiB, so no batch holds repeated
	// values for a codec to exploit.
	poolRecords := min(n, int64(512<<20)/int64(o.recordSize)+1)
	pool := make([]byte, poolRecords*int64(o.recordSize))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for i := 0; i+8 <= len(pool); i += 8 {
		binary.LittleEndian.PutUint64(pool[i:], rng.Uint64())
	}
	lat := make([]time.Duration, n)
	var (
		done     atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	start := time.Now()
	for i := int64(0); i < n; i++ {
		if o.rate > 0 {
			due := start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		off := (i % poolRecords) * int64(o.recordSize)
		r := &kgo.Record{Value: pool[off : off+int64(o.recordSize)]}
		sent := time.Now()
		idx := i
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			lat[idx] = time.Since(sent)
			done.Add(1)
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
		return benchResult{}, err
	}
	elapsed := time.Since(start)
	if firstErr != nil {
		return benchResult{}, fmt.Errorf("produce: %w", firstErr)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	bytes := n * int64(o.recordSize)
	return benchResult{
		Phase:         "produce",
		Records:       n,
		Bytes:         bytes,
		Seconds:       elapsed.Seconds(),
		MBPerSec:      float64(bytes) / 1e6 / elapsed.Seconds(),
		RecordsPerSec: float64(n) / elapsed.Seconds(),
		P50Ms:         ms(percentile(lat, 0.50)),
		P99Ms:         ms(percentile(lat, 0.99)),
	}, nil
}

func benchConsume(ctx context.Context, cf *clientFlags, o benchOptions, topic string, want int64) (benchResult, error) {
	cl, err := cf.newClient(
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return benchResult{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var got, bytes int64
	start := time.Now()
	for got < want {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return benchResult{}, fmt.Errorf("consume: %d of %d records: %w", got, want, err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("consume %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return benchResult{}, ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	elapsed := time.Since(start)
	return benchResult{
		Phase:         "consume",
		Records:       got,
		Bytes:         bytes,
		Seconds:       elapsed.Seconds(),
		MBPerSec:      float64(bytes) / 1e6 / elapsed.Seconds(),
		RecordsPerSec: float64(got) / elapsed.Seconds(),
	}, nil
}

// percentile returns the q-quantile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writeCompareTable prints the medians over rounds of every metric for Strata and kfake and
// their ratio. Numbers are reported, never judged.
func writeCompareTable(w io.Writer, results map[string][]benchResult, o benchOptions) {
	type metric struct {
		name  string
		phase string
		get   func(benchResult) float64
	}
	metrics := []metric{
		{"produce MB/s", "produce", func(r benchResult) float64 { return r.MBPerSec }},
		{"produce records/s", "produce", func(r benchResult) float64 { return r.RecordsPerSec }},
		{"produce p50 latency ms", "produce", func(r benchResult) float64 { return r.P50Ms }},
		{"produce p99 latency ms", "produce", func(r benchResult) float64 { return r.P99Ms }},
		{"consume MB/s", "consume", func(r benchResult) float64 { return r.MBPerSec }},
		{"consume records/s", "consume", func(r benchResult) float64 { return r.RecordsPerSec }},
	}
	med := func(target string, m metric) float64 {
		var xs []float64
		for _, r := range results[target+"/"+m.phase] {
			xs = append(xs, m.get(r))
		}
		return median(xs)
	}
	rate := "unlimited"
	if o.rate > 0 {
		rate = fmt.Sprintf("%.0f records/s", o.rate)
	}
	fmt.Fprintf(w, "\nMedians of %d rounds: %g MiB of %d-byte records, %d partitions, acks=%s, compression=%s, linger=%s, rate=%s\n\n",
		o.rounds, o.mib, o.recordSize, o.partitions, o.acks, o.compression, o.linger, rate)
	fmt.Fprintln(w, "| metric | strata | kfake | strata/kfake |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, m := range metrics {
		a, b := med("strata", m), med("kfake", m)
		ratio := "n/a"
		if b != 0 {
			ratio = fmt.Sprintf("%.2f", a/b)
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %s |\n", m.name, a, b, ratio)
	}
}
