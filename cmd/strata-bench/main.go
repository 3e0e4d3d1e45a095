// Command strata-bench is the side-by-side benchmark behind `make bench` (issue 7): in ONE run
// it measures the limits of this machine (fdatasync'd sequential disk writes, loopback TCP, raw
// MinIO GET/PUT), the peers (franz-go's in-memory kfake in-process, NATS JetStream on file
// storage, Apache Kafka from test/java's jars: kafkapeer.go) and Strata (a child broker process tiering to a MinIO it starts), interleaving
// rounds so that machine drift hits everyone alike. It prints one JSON line per measurement and
// a Markdown table of medians and ratios, and saves the broker's CPU and allocation profiles
// of every Strata phase.
//
//	strata-bench [-rounds 3] [-mib 64] [-cold-mib 128] [-out test/artifacts/bench]
//
// Numbers are reported, never asserted.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	rounds         int
	mib            float64 // per produce phase
	coldMiB        float64
	recordSize     int
	latencyDur     time.Duration
	latencyRate    float64
	diskMiB        int64
	tcpMiB         int64
	s3Sizes        []int64
	out            string // profiles, results.md, results.jsonl
	natsBin        string // "" = skip NATS
	skipKfake      bool
	rssCacheMiB    int64
	segmentBytes   int64
	phases         map[string]bool // nil = all
	idlePartitions int
	coldPartitions []int // partition counts of the multi-partition cold replays (coldparts.go)
	rssPartitions  []int // ... and of the multi-partition peak-RSS replays
	chunkMiB       int64 // the broker's remote.log.chunk.bytes, in MiB (the cache of those replays holds 2 per partition)
	idleDur        time.Duration

	kafkaJavaDir string // test/java: Apache Kafka's jars and kafka-run-class ("": no Kafka peer)
	kafkaHeap    string // the Kafka broker's KAFKA_HEAP_OPTS

	historySizes        []int   // sealed segments of each history (the first and last are compared)
	historySegments     int     // sealed segments of the long history (the last of historySizes)
	historySmall        int     // ... and of the short one it is compared with (the first)
	historyMiB          float64 // produced after start-up on each history
	historyStarts       int     // measured start-ups of each history per round
	historySegmentBytes int64   // segment.bytes of the history topic (the uploads measured)
}

// historyList is the sizes of the histories of the history phase (-history-sizes, or the
// short and the long one when only those are set).
func (o options) historyList() []int {
	if len(o.historySizes) > 0 {
		return o.historySizes
	}
	if o.historySegments <= 0 {
		return nil
	}
	return []int{o.historySmall, o.historySegments}
}

// phase reports whether the named group of phases runs (-phases).
func (o options) phase(name string) bool { return o.phases == nil || o.phases[name] }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := runChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "strata-bench child:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	fs := flag.NewFlagSet("strata-bench", flag.ExitOnError)
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; the table shows medians")
	fs.Float64Var(&o.mib, "mib", 64, "MiB of record values per produce phase")
	fs.Float64Var(&o.coldMiB, "cold-mib", 128, "MiB produced, offloaded and replayed from MinIO per round")
	fs.IntVar(&o.recordSize, "record-size", 1024, "bytes per record value")
	fs.DurationVar(&o.latencyDur, "latency-duration", 5*time.Second, "length of the fixed-rate latency phase")
	fs.Float64Var(&o.latencyRate, "latency-rate", 1000, "records/s of the latency phase")
	fs.Int64Var(&o.diskMiB, "disk-mib", 256, "MiB written by the disk limit")
	fs.Int64Var(&o.tcpMiB, "tcp-mib", 2048, "MiB sent by the loopback TCP limit")
	fs.Int64Var(&o.rssCacheMiB, "rss-cache-mib", 0, "remote.log.cache.bytes (MiB) of the RSS replay; default cold-mib/10")
	fs.Int64Var(&o.segmentBytes, "segment-bytes", 8<<20, "segment.bytes of the cold topic")
	fs.StringVar(&o.out, "out", "test/artifacts/bench", "output directory (profiles, results)")
	fs.StringVar(&o.natsBin, "nats-server", "bin/nats-server", "nats-server binary (empty: skip the NATS peer)")
	fs.StringVar(&o.kafkaJavaDir, "kafka-java", "test/java", "directory of kafka-run-class and lib/ with Apache Kafka's jars (make jvm-tools); empty: skip the Apache Kafka peer and its perf tools")
	fs.StringVar(&o.kafkaHeap, "kafka-heap", "-Xmx1G -Xms1G", "KAFKA_HEAP_OPTS of the Apache Kafka broker (kafka-server-start.sh's default)")
	fs.BoolVar(&o.skipKfake, "skip-kfake", false, "skip the kfake peer")
	fs.IntVar(&o.idlePartitions, "idle-partitions", 5000, "partitions of the idle-CPU phase (0: skip)")
	fs.DurationVar(&o.idleDur, "idle-duration", 10*time.Second, "how long the idle CPU is measured")
	histSizes := fs.String("history-sizes", "100,10000,100000", "sealed segments (half local, all in the manifest) of each history of the history phase; the first and the last are compared (empty: no history phase)")
	fs.Float64Var(&o.historyMiB, "history-mib", 32, "MiB produced (acks=-1) and then uploaded on each history")
	fs.IntVar(&o.historyStarts, "history-starts", 5, "measured start-ups of each history per round, alternating between the two")
	fs.Int64Var(&o.historySegmentBytes, "history-segment-bytes", 4<<20, "segment.bytes of the history topic")
	coldParts := fs.String("cold-partitions", "4", "partition counts of the multi-partition cold replays, compared with raw GETs at the same concurrency (empty: none)")
	fs.Int64Var(&o.chunkMiB, "chunk-mib", 4, "the broker's remote.log.chunk.bytes in MiB (the multi-partition RSS replays use a cache of at least 2 chunks per partition)")
	rssParts := fs.String("rss-partitions", "1,16", "partition counts of the peak-RSS cold replays at -rss-cache-mib (empty: none)")
	s3 := fs.String("s3-mib", "8,32,64", "object sizes (MiB) of the raw MinIO PUT/GET limit")
	phases := fs.String("phases", "", "comma-separated subset of limits,produce,consume,group,latency,perftest,idle,cold,history (default all; peers run the selected ones they have)")
	fs.Parse(os.Args[1:])
	if *phases != "" {
		o.phases = map[string]bool{}
		for _, p := range strings.Split(*phases, ",") {
			o.phases[strings.TrimSpace(p)] = true
		}
		if o.phases["consume"] || o.phases["group"] {
			o.phases["produce"] = true // they read what the produce phases wrote
		}
	}
	var err error
	if o.s3Sizes, err = parseSizes(*s3); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if o.coldPartitions, err = parseInts(*coldParts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if o.rssPartitions, err = parseInts(*rssParts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if o.historySizes, err = parseInts(*histSizes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if n := len(o.historySizes); n > 0 {
		o.historySmall, o.historySegments = o.historySizes[0], o.historySizes[n-1]
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "strata-bench:", err)
		os.Exit(1)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad partition count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseSizes(s string) ([]int64, error) {
	var out []int64
	var cur int64
	has := false
	for _, c := range s + "," {
		switch {
		case c >= '0' && c <= '9':
			cur, has = cur*10+int64(c-'0'), true
		case c == ',' && has:
			out = append(out, cur<<20)
			cur, has = 0, false
		case c == ',':
		default:
			return nil, fmt.Errorf("-s3-mib: bad list %q", s)
		}
	}
	return out, nil
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	if err := os.MkdirAll(filepath.Join(o.out, "pprof"), 0o755); err != nil {
		return err
	}
	jf, err := os.Create(filepath.Join(o.out, "results.jsonl"))
	if err != nil {
		return err
	}
	defer jf.Close()
	rep := newReport(io.MultiWriter(stdout, jf))
	b, err := newBench(ctx, o, rep)
	if err != nil {
		return err
	}
	defer b.Close()

	// Other processes on the machine skew every number: say how busy it was.
	rep.add(0, "limit", "load average (1 min) at start", "", loadAvg())
	targets := []string{"limits", "strata", "kfake", "nats", "kafka"}
	for round := 1; round <= o.rounds; round++ {
		// Rotate who goes first so warm-up and drift favour nobody.
		for i := range targets {
			t := targets[(i+round-1)%len(targets)]
			start := time.Now()
			var err error
			switch t {
			case "limits":
				if o.phase("limits") || o.phase("latency") {
					err = b.limits(ctx, round)
				}
			case "strata":
				err = b.strata(ctx, round)
			case "kfake":
				if !o.skipKfake {
					err = b.kfake(ctx, round)
				}
			case "nats":
				if b.natsBin != "" {
					err = b.nats(ctx, round)
				}
			case "kafka":
				if b.kafkaPeer != nil {
					err = b.kafka(ctx, round)
				}
			}
			if err != nil {
				return fmt.Errorf("round %d %s: %w", round, t, err)
			}
			fmt.Fprintf(os.Stderr, "strata-bench: round %d %s done in %.1fs\n", round, t, time.Since(start).Seconds())
		}
	}
	rep.add(0, "limit", "load average (1 min) at end", "", loadAvg())
	md, err := os.Create(filepath.Join(o.out, "results.md"))
	if err != nil {
		return err
	}
	defer md.Close()
	rep.table(io.MultiWriter(stdout, md), o)
	return nil
}

// sample is one measurement, printed as one JSON line.
type sample struct {
	Round  int     `json:"round"`
	Target string  `json:"target"` // strata | kfake | nats | kafka | limit
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
}

type report struct {
	enc     *json.Encoder
	samples []sample
}

func newReport(w io.Writer) *report { return &report{enc: json.NewEncoder(w)} }

func (r *report) add(round int, target, metric, unit string, v float64) {
	s := sample{Round: round, Target: target, Metric: metric, Unit: unit, Value: v}
	r.samples = append(r.samples, s)
	r.enc.Encode(s)
}

func (r *report) median(target, metric string) (float64, bool) {
	var xs []float64
	for _, s := range r.samples {
		if s.Target == target && s.Metric == metric {
			xs = append(xs, s.Value)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}

// medianRatio is the median over rounds of num/den measured in the same round (rounds
// where either is missing or den is 0 are left out): on a shared machine whose load drifts
// between rounds it is steadier than a ratio of medians.
func (r *report) medianRatio(num, den [2]string) (float64, bool) {
	a, b := map[int]float64{}, map[int]float64{}
	for _, s := range r.samples {
		if s.Target == num[0] && s.Metric == num[1] {
			a[s.Round] = s.Value
		}
		if s.Target == den[0] && s.Metric == den[1] {
			b[s.Round] = s.Value
		}
	}
	var xs []float64
	for round, x := range a {
		if y, ok := b[round]; ok && y != 0 {
			xs = append(xs, x/y)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}

// loadAvg is the 1-minute load average from /proc/loadavg (0 if unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscanf(string(b), "%f", &v)
	return v
}
