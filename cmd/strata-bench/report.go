package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/strata-io/strata/test/miniotest"
)

func minioBucketOpts() minio.MakeBucketOptions {
	return minio.MakeBucketOptions{Region: miniotest.Region}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// table prints every metric's median per target, then the targets as ratios.
func (r *report) table(w io.Writer, o options) {
	var metrics []string
	units := map[string]string{}
	for _, s := range r.samples {
		if _, ok := units[s.Metric]; !ok {
			metrics = append(metrics, s.Metric)
			units[s.Metric] = s.Unit
		}
	}
	cell := func(target, metric string) string {
		v, ok := r.median(target, metric)
		if !ok {
			return ""
		}
		return fmt.Sprintf("%.2f", v)
	}
	fmt.Fprintf(w, "\n### strata-bench: medians of %d interleaved rounds, %d-byte records, %g MiB per produce phase, %g MiB cold\n\n",
		o.rounds, o.recordSize, o.mib, o.coldMiB)
	fmt.Fprintln(w, "| metric | unit | strata | kfake | nats | kafka | limit |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, m := range metrics {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", m, units[m],
			cell("strata", m), cell("kfake", m), cell("nats", m), cell("kafka", m), cell("limit", m))
	}

	type target struct {
		name     string
		num, den [2]string // target, metric
		want     float64
		lower    bool // smaller is better: pass when num/den <= want
	}
	rate := fmt.Sprintf("%.0f", o.latencyRate)
	targets := []target{
		{"durable produce 1p vs NATS JetStream", [2]string{"strata", "produce 1p acks=-1"}, [2]string{"nats", "produce 1p acks=-1"}, 3, false},
		{"durable produce 1p vs kfake", [2]string{"strata", "produce 1p acks=-1"}, [2]string{"kfake", "produce 1p acks=-1"}, 1, false},
		{"durable produce 8p vs kfake", [2]string{"strata", "produce 8p acks=-1"}, [2]string{"kfake", "produce 8p acks=-1"}, 1, false},
		{"durable produce 8p vs disk fdatasync/MiB", [2]string{"strata", "produce 8p acks=-1"}, [2]string{"limit", "disk write, fdatasync per MiB"}, 0.5, false},
		{"acks=1 produce 8p vs kfake", [2]string{"strata", "produce 8p acks=1"}, [2]string{"kfake", "produce 8p acks=1"}, 1, false},
		{"hot consume 8p vs kfake", [2]string{"strata", "hot consume 8p"}, [2]string{"kfake", "hot consume 8p"}, 1, false},
		{"hot consume 1p vs kfake", [2]string{"strata", "hot consume 1p"}, [2]string{"kfake", "hot consume 1p"}, 1, false},
		{"hot consume 1p vs NATS JetStream", [2]string{"strata", "hot consume 1p"}, [2]string{"nats", "hot consume 1p"}, 3, false},
		{"cold consume vs raw 1-stream GET of the same bytes", [2]string{"strata", "cold consume 1p (MinIO, empty cache)"}, [2]string{"limit", "raw GET of the cold topic's segments, 1 stream"}, 0.7, false},
		{"cold consume vs Strata hot consume 1p", [2]string{"strata", "cold consume 1p (MinIO, empty cache)"}, [2]string{"strata", "hot consume 1p"}, 0.9, false},
		{"latency: produce ack p99 / kfake p99", [2]string{"strata", "produce ack p99 @" + rate + "/s acks=-1"}, [2]string{"kfake", "produce ack p99 @" + rate + "/s acks=-1"}, 2, true},
	}
	// Against Apache Kafka (issue 21 target 3).
	vsKafka := func(name, metric string, want float64, lower bool) target {
		return target{name + " vs Apache Kafka", [2]string{"strata", metric}, [2]string{"kafka", metric}, want, lower}
	}
	targets = append(targets,
		vsKafka("durable produce 1p (acks=-1)", "produce 1p acks=-1", 1.5, false),
		vsKafka("durable produce 8p (acks=-1)", "produce 8p acks=-1", 1.5, false),
		vsKafka("hot consume 1p", "hot consume 1p", 1.5, false),
		vsKafka("hot consume 8p", "hot consume 8p", 1.5, false),
		vsKafka("produce 8p acks=-1: MB per broker CPU-second", "produce 8p acks=-1: MB per broker CPU-second", 2, false),
		vsKafka("hot consume 8p: MB per broker CPU-second", "hot consume 8p: MB per broker CPU-second", 2, false),
		vsKafka("latency: produce ack p99", "produce ack p99 @"+rate+"/s acks=-1", 1, true),
		vsKafka("idle RSS after start", "idle RSS after start", 0.25, true),
		vsKafka("kafka-producer-perf-test 8p acks=all", "kafka-producer-perf-test 8p acks=all", 1.5, false),
		vsKafka("kafka-consumer-perf-test 8p", "kafka-consumer-perf-test 8p", 1.5, false),
	)
	for _, n := range o.coldPartitions {
		targets = append(targets, target{fmt.Sprintf("cold consume %dp vs raw GET at %d streams", n, n),
			[2]string{"strata", fmt.Sprintf("cold consume %dp (MinIO, empty cache)", n)},
			[2]string{"limit", fmt.Sprintf("raw GET of the cold topic's segments, %d streams (%dp)", n, n)}, 0.7, false})
	}
	fmt.Fprintln(w, "\n| target | ratio | wanted | met |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, t := range targets {
		a, ok1 := r.median(t.num[0], t.num[1])
		b, ok2 := r.median(t.den[0], t.den[1])
		if !ok1 || !ok2 || b == 0 {
			fmt.Fprintf(w, "| %s | n/a | %s%.2f | n/a |\n", t.name, cmp(t.lower), t.want)
			continue
		}
		ratio := a / b
		met := ratio >= t.want
		if t.lower {
			met = ratio <= t.want
		}
		fmt.Fprintf(w, "| %s | %.2f | %s%.2f | %s |\n", t.name, ratio, cmp(t.lower), t.want, yesNo(met))
		if t.num[0] != t.den[0] { // against another target: also per round, steadier under drift
			if pr, ok := r.medianRatio(t.num, t.den); ok {
				met := pr >= t.want
				if t.lower {
					met = pr <= t.want
				}
				fmt.Fprintf(w, "| %s (median of per-round ratios) | %.2f | %s%.2f | %s |\n", t.name, pr, cmp(t.lower), t.want, yesNo(met))
			}
		}
	}
	// Flat with history: the long history's figures over the short one's (same run).
	for _, h := range []struct {
		what  string
		lower bool
	}{
		{"start-up to first acks=-1 produce", true},
		{"start-up to remote tier attached (earliest offset listed)", true},
		{"ListOffsets by timestamp into old data", true},
		{"seek into old data: first record", true},
		{"produce 1p acks=-1", false},
		{"upload wall time per segment", true},
		{"upload throughput", false},
		{"upload PUT requests per segment", true},
		{"upload other requests per segment (GET, HEAD, LIST)", true},
		{"upload PUT bytes per segment beyond its data", true},
	} {
		a, ok1 := r.median("strata", historyMetric(o.historySegments, h.what))
		b, ok2 := r.median("strata", historyMetric(o.historySmall, h.what))
		name := fmt.Sprintf("history %d/%d segments: %s", o.historySegments, o.historySmall, h.what)
		want := 0.9
		if h.lower {
			want = 1.1
		}
		if !ok1 || !ok2 {
			continue
		}
		if b == 0 {
			// Both zero is flat; otherwise the ratio is undefined.
			fmt.Fprintf(w, "| %s | %.2f vs %.2f | %s%.2f | %s |\n", name, a, b, cmp(h.lower), want, yesNo(a == 0))
			continue
		}
		ratio := a / b
		met := ratio >= want
		if h.lower {
			met = ratio <= want
		}
		fmt.Fprintf(w, "| %s | %.2f | %s%.2f | %s |\n", name, ratio, cmp(h.lower), want, yesNo(met))
	}
	for _, n := range []int{o.historySmall, o.historySegments} {
		a, ok1 := r.median("strata", historyMetric(n, "upload throughput"))
		b, ok2 := r.median("limit", historyMetric(n, "raw PUT of the same segment files, 1 stream"))
		if ok1 && ok2 && b > 0 {
			fmt.Fprintf(w, "| history %d segments: upload vs raw 1-stream PUT of the same files | %.2f | (reported) | |\n", n, a/b)
		}
	}
	absolute := func(name, metric string, limit float64, unit string) {
		v, ok := r.median("strata", metric)
		if !ok {
			return
		}
		fmt.Fprintf(w, "| %s | %.2f %s | <=%.2f %s | %s |\n", name, v, unit, limit, unit, yesNo(v <= limit))
	}
	absolute("latency: produce ack p99 (acks=-1, fsynced)", "produce ack p99 @"+rate+"/s acks=-1", 2.5, "ms")
	absolute("second cold consumer: extra GET bytes", "cold 2nd concurrent consumer: extra GET bytes", 10, "%")
	for _, m := range metrics {
		prefix, ok := strings.CutSuffix(m, ": broker peak RSS")
		if !ok {
			continue
		}
		v, _ := r.median("strata", m)
		if bound, ok := r.median("strata", prefix+": RSS target (cache + 64 MiB)"); ok {
			fmt.Fprintf(w, "| %s | %.2f MiB | <=%.2f MiB (remote.log.cache.bytes + 64 MiB) | %s |\n", m, v, bound, yesNo(v <= bound))
		} else if bound, ok := r.median("strata", prefix+": RSS bound (RSS before + 2 x budget)"); ok {
			fmt.Fprintf(w, "| %s | %.2f MiB | <=%.2f MiB (RSS before + 2 x remote-read budget) | %s |\n", m, v, bound, yesNo(v <= bound))
		} else {
			fmt.Fprintf(w, "| %s | %.2f MiB | (reported) | |\n", m, v)
		}
	}
}

func cmp(lower bool) string {
	if lower {
		return "<="
	}
	return ">="
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}
