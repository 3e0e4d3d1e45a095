package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The latency phase also reports what the broker itself saw, so that a slow acknowledgement
// can be told apart into the fsync (compare the limit's append+fsync), group commit sharing
// and the rest (network, scheduling, the client): the mean fsync and durability wait and
// the fsyncs per acks=-1 request, from the child's histograms over the phase.

// histSums holds the _sum and _count of some histograms of the child's /metrics.
type histSums map[string][2]float64

// latencyHistograms are the broker histograms the latency phase reports.
var latencyHistograms = []string{"strata_log_fsync_seconds", "strata_produce_durable_wait_seconds"}

// histograms reads the _sum and _count of the unlabelled histograms names.
func (c *brokerChild) histograms(names []string) (histSums, error) {
	resp, err := http.Get("http://" + c.ctl + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := histSums{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, n := range names {
			i := -1
			switch key {
			case n + "_sum":
				i = 0
			case n + "_count":
				i = 1
			}
			if i < 0 {
				continue
			}
			v, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return nil, fmt.Errorf("metric %s: %w", key, err)
			}
			s := out[n]
			s[i] = v
			out[n] = s
		}
	}
	return out, sc.Err()
}

// addBrokerLatency reports the broker's side of a latency phase from histogram snapshots
// taken before and after it.
func (b *bench) addBrokerLatency(round int, before, after histSums) {
	rate := strconv.FormatFloat(b.o.latencyRate, 'f', 0, 64)
	delta := func(name string) (sum, count float64) {
		return after[name][0] - before[name][0], after[name][1] - before[name][1]
	}
	fsyncSum, fsyncs := delta("strata_log_fsync_seconds")
	waitSum, waits := delta("strata_produce_durable_wait_seconds")
	if fsyncs > 0 {
		b.rep.add(round, "strata", "broker fsync mean @"+rate+"/s acks=-1", "ms", 1000*fsyncSum/fsyncs)
	}
	if waits > 0 {
		b.rep.add(round, "strata", "broker durability wait mean @"+rate+"/s acks=-1", "ms", 1000*waitSum/waits)
		b.rep.add(round, "strata", "broker fsyncs per acks=-1 request @"+rate+"/s", "n", fsyncs/waits)
	}
}
