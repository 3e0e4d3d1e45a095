package checker

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// FinalProcess is the Process name of the final reader; only its reads decide whether an
// acknowledged record was lost.
const FinalProcess = "final"

// MaxExcerpts is how many anomalies of each kind a Report keeps with excerpts; all are counted.
const MaxExcerpts = 5

// maxExcerptOps bounds one excerpt: the first ops that show the anomaly are enough.
const maxExcerptOps = 8

// Anomaly kinds, as used in Anomaly.Kind.
const (
	AnomalyLost             = "lost"
	AnomalyDuplicate        = "duplicate"
	AnomalyInconsistent     = "inconsistent"
	AnomalyPhantom          = "phantom"
	AnomalyOutOfOrder       = "out-of-order"
	AnomalyGap              = "gap"
	AnomalyCommitRegression = "commit-regression"
	AnomalyShortRead        = "short-read"
	AnomalyIncompleteFinal  = "incomplete-final-read"
)

// Anomaly is one violation with the few ops of the history that show it.
type Anomaly struct {
	Kind    string
	Desc    string
	Excerpt []Op
}

func (a Anomaly) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", a.Kind, a.Desc)
	for _, op := range a.Excerpt {
		fmt.Fprintf(&b, "    %s\n", op)
	}
	return b.String()
}

// Report is the outcome of Check. Scenario, Cycles and MaxRecovery are filled in by the
// caller that ran the faults; Check fills in the rest.
type Report struct {
	Scenario    string
	Cycles      int           // kill/restart cycles performed
	Duration    time.Duration // first op to last op
	MaxRecovery time.Duration // longest kill -> broker accepting requests

	Sent       int // values sent
	Acked      int // values acknowledged
	Unknown    int // values whose send failed (outcome unknown)
	Recovered  int // unknown-outcome values that were nevertheless read
	Reads      int // read ops, all consumers
	FinalReads int // read ops of the final reader
	Commits    int // group commits acknowledged

	Lost              int
	Duplicated        int
	Inconsistent      int
	Phantom           int
	OutOfOrder        int
	Gaps              int
	CommitRegressions int
	ShortReads        int
	Unverified        int     // acks on partitions without a complete final read
	IncompleteFinal   []int32 // partitions whose final read did not complete

	Anomalies []Anomaly // at most MaxExcerpts per kind
}

// OK reports whether the history shows no anomaly and every acknowledgement was verified
// by a complete final read.
func (r Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Inconsistent == 0 && r.Phantom == 0 &&
		r.OutOfOrder == 0 && r.Gaps == 0 && r.CommitRegressions == 0 && r.ShortReads == 0 &&
		r.Unverified == 0 && len(r.IncompleteFinal) == 0
}

// TableHeader is the header line matching Report.String.
const TableHeader = "| scenario | cycles | duration | max recovery | acked | unknown | recovered | reads | commits | lost | duplicated | inconsistent | phantom | out-of-order | gaps | commit regressions | short reads | unverified | ok |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

// String renders the report as one markdown table row (see TableHeader).
func (r Report) String() string {
	return fmt.Sprintf("| %s | %d | %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %v |",
		r.Scenario, r.Cycles, r.Duration.Round(100*time.Millisecond), r.MaxRecovery.Round(time.Millisecond),
		r.Acked, r.Unknown, r.Recovered, r.Reads, r.Commits, r.Lost, r.Duplicated, r.Inconsistent, r.Phantom,
		r.OutOfOrder, r.Gaps, r.CommitRegressions, r.ShortReads, r.Unverified, r.OK())
}

// Details renders the table and every kept anomaly with its excerpt.
func (r Report) Details() string {
	var b strings.Builder
	b.WriteString(TableHeader + "\n" + r.String() + "\n")
	for _, a := range r.Anomalies {
		b.WriteString(a.String())
	}
	return b.String()
}

type pofs struct {
	p int32
	o int64
}

type checker struct {
	ops     []Op
	r       *Report
	kept    map[string]int
	nemesis []int // indexes of nemesis ops
}

func (c *checker) anomaly(kind, desc string, idx ...int) {
	if c.kept[kind] >= MaxExcerpts {
		return
	}
	c.kept[kind]++
	// The faults just before the anomaly are context: the last nemesis op before its last
	// op, and the kill before it when that op is the restart.
	hi := -1
	for _, i := range idx {
		hi = max(hi, i)
	}
	n := sort.SearchInts(c.nemesis, hi)
	for j := n - 1; j >= 0 && j >= n-2; j-- {
		idx = append(idx, c.nemesis[j])
		if !strings.HasPrefix(c.ops[c.nemesis[j]].Value, "ready") {
			break
		}
	}
	sort.Ints(idx)
	var ex []Op
	last := -1
	for _, i := range idx {
		if i >= 0 && i != last {
			ex = append(ex, c.ops[i])
			last = i
		}
	}
	if len(ex) > maxExcerptOps {
		ex = ex[len(ex)-maxExcerptOps:] // keep the ops closest to the anomaly's end
	}
	c.r.Anomalies = append(c.r.Anomalies, Anomaly{Kind: kind, Desc: desc, Excerpt: ex})
}

// Check analyses h. It never modifies h.
func Check(h *History) Report {
	ops := h.Ops()
	r := Report{}
	c := &checker{ops: ops, r: &r, kept: map[string]int{}}
	if len(ops) > 0 {
		r.Duration = ops[len(ops)-1].Time.Sub(ops[0].Time)
	}

	sent := map[string]int{}                // value -> send op
	failed := map[string]int{}              // value -> fail op
	acks := map[string]int{}                // value -> ack op
	obs := map[pofs]map[string]int{}        // (p,o) -> value -> first op observing it
	readAt := map[string]map[pofs]int{}     // value -> (p,o) -> first read op
	finalOp := map[int32]int{}              // partition -> last final marker
	finalSeen := map[int32]map[string]int{} // partition -> values read by the final reader
	finalAt := map[pofs]int{}               // (p,o) -> final read op
	logStart := map[int32]int64{}           // partition -> highest log start observed
	partitions := map[int32]bool{}

	observe := func(i int, p int32, o int64, v string) {
		k := pofs{p, o}
		m := obs[k]
		if m == nil {
			m = map[string]int{}
			obs[k] = m
		}
		if _, ok := m[v]; !ok {
			m[v] = i
		}
	}

	for i, op := range ops {
		switch op.Kind {
		case KindNemesis:
			c.nemesis = append(c.nemesis, i)
		case KindCommit:
			r.Commits++
		case KindSend:
			if _, ok := sent[op.Value]; !ok {
				sent[op.Value] = i
			}
		case KindFail:
			failed[op.Value] = i
		case KindAck:
			partitions[op.Partition] = true
			if _, ok := acks[op.Value]; !ok {
				acks[op.Value] = i
			}
			observe(i, op.Partition, op.Offset, op.Value)
		case KindRead:
			partitions[op.Partition] = true
			r.Reads++
			observe(i, op.Partition, op.Offset, op.Value)
			m := readAt[op.Value]
			if m == nil {
				m = map[pofs]int{}
				readAt[op.Value] = m
			}
			if _, ok := m[pofs{op.Partition, op.Offset}]; !ok {
				m[pofs{op.Partition, op.Offset}] = i
			}
			if op.Process == FinalProcess {
				r.FinalReads++
				fs := finalSeen[op.Partition]
				if fs == nil {
					fs = map[string]int{}
					finalSeen[op.Partition] = fs
				}
				fs[op.Value] = i
				finalAt[pofs{op.Partition, op.Offset}] = i
			}
		case KindFinal:
			partitions[op.Partition] = true
			finalOp[op.Partition] = i
			logStart[op.Partition] = max(logStart[op.Partition], op.LogStart)
		case KindEnd:
			logStart[op.Partition] = max(logStart[op.Partition], op.LogStart)
		}
	}
	// Cycles and recoveries from the nemesis ops (callers may overwrite them with their own
	// measurements): a cycle is a kill or a pause; a recovery runs from the kill or resume
	// to the following ready.
	var faultAt time.Time
	for _, i := range c.nemesis {
		op := ops[i]
		switch {
		case strings.HasPrefix(op.Value, "kill"), strings.HasPrefix(op.Value, "pause"):
			r.Cycles++
			faultAt = op.Time
		case strings.HasPrefix(op.Value, "resume"):
			faultAt = op.Time
		case strings.HasPrefix(op.Value, "ready") && !faultAt.IsZero():
			r.MaxRecovery = max(r.MaxRecovery, op.Time.Sub(faultAt))
		}
	}
	r.Sent = len(sent)
	r.Acked = len(acks)
	for v := range failed {
		if _, ok := acks[v]; ok {
			continue // a retry of the same value was acknowledged later
		}
		r.Unknown++
		if len(readAt[v]) > 0 {
			r.Recovered++
		}
	}

	// Final read completeness.
	for p := range partitions {
		fi, ok := finalOp[p]
		if !ok || !ops[fi].Complete {
			r.IncompleteFinal = append(r.IncompleteFinal, p)
			idx := []int{}
			if ok {
				idx = append(idx, fi)
			}
			c.anomaly(AnomalyIncompleteFinal, fmt.Sprintf("partition %d has no complete final read", p), idx...)
		}
	}
	sort.Slice(r.IncompleteFinal, func(i, j int) bool { return r.IncompleteFinal[i] < r.IncompleteFinal[j] })

	// Lost acknowledged records.
	for _, v := range sortedKeys(acks) {
		ai := acks[v]
		a := ops[ai]
		fi, ok := finalOp[a.Partition]
		if !ok || !ops[fi].Complete {
			r.Unverified++
			continue
		}
		if _, seen := finalSeen[a.Partition][v]; seen {
			continue
		}
		r.Lost++
		idx := []int{ai, fi}
		if si, ok := sent[v]; ok {
			idx = append(idx, si)
		}
		for o := a.Offset - 1; o <= a.Offset+1; o++ {
			if ri, ok := finalAt[pofs{a.Partition, o}]; ok {
				idx = append(idx, ri)
			}
		}
		c.anomaly(AnomalyLost, fmt.Sprintf("value %s acknowledged at partition %d offset %d, never seen by the final read (end offset %d)",
			v, a.Partition, a.Offset, ops[fi].Offset), idx...)
	}

	// Duplicates and phantoms.
	for _, v := range sortedKeys(readAt) {
		at := readAt[v]
		if _, ok := sent[v]; !ok && len(sent) > 0 {
			r.Phantom++
			idx := []int{}
			for _, i := range at {
				idx = append(idx, i)
			}
			c.anomaly(AnomalyPhantom, fmt.Sprintf("value %q read but never sent", v), idx...)
		}
		if len(at) > 1 {
			r.Duplicated++
			idx := []int{}
			var where []string
			for k, i := range at {
				idx = append(idx, i)
				where = append(where, fmt.Sprintf("%d/%d", k.p, k.o))
			}
			if ai, ok := acks[v]; ok {
				idx = append(idx, ai)
			}
			if si, ok := sent[v]; ok {
				idx = append(idx, si)
			}
			sort.Strings(where)
			c.anomaly(AnomalyDuplicate, fmt.Sprintf("value %s read at %d offsets (partition/offset %s)", v, len(at), strings.Join(where, ", ")), idx...)
		}
	}

	// Inconsistent offsets.
	keys := make([]pofs, 0, len(obs))
	for k, m := range obs {
		if len(m) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].p != keys[j].p {
			return keys[i].p < keys[j].p
		}
		return keys[i].o < keys[j].o
	})
	for _, k := range keys {
		r.Inconsistent++
		idx := []int{}
		var vals []string
		for v, i := range obs[k] {
			idx = append(idx, i)
			vals = append(vals, v)
		}
		sort.Strings(vals)
		c.anomaly(AnomalyInconsistent, fmt.Sprintf("partition %d offset %d observed with %d values: %s", k.p, k.o, len(vals), strings.Join(vals, ", ")), idx...)
	}

	// Values read only somewhere other than where their acknowledgement put them.
	for _, v := range sortedKeys(acks) {
		a := ops[acks[v]]
		if _, ok := readAt[v][pofs{a.Partition, a.Offset}]; ok {
			continue // read where acknowledged; copies elsewhere are duplicates
		}
		for k, ri := range readAt[v] {
			if k.p == a.Partition && k.o == a.Offset {
				continue
			}
			r.Inconsistent++
			c.anomaly(AnomalyInconsistent, fmt.Sprintf("value %s acknowledged at partition %d offset %d but read at partition %d offset %d", v, a.Partition, a.Offset, k.p, k.o), acks[v], ri)
			break
		}
	}

	c.checkStreams(logStart)
	c.checkCommits()
	c.checkShortReads()
	return r
}

type streamKey struct {
	process string
	p       int32
}

type stream struct {
	assign int   // op index of the assign, -1 none
	expect int64 // first offset expected, -1 unknown
	last   int64 // last offset read, -1 none
	lastI  int
	prevI  int
}

// checkStreams checks order and gaps within each consumer stream.
func (c *checker) checkStreams(logStart map[int32]int64) {
	streams := map[streamKey]*stream{}
	lastInfo := map[string]int{} // process -> its latest info op (client errors explain resets)
	info := func(op Op, after int) int {
		if i, ok := lastInfo[op.Process]; ok && i > after {
			return i
		}
		return -1
	}
	for i, op := range c.ops {
		k := streamKey{op.Process, op.Partition}
		switch op.Kind {
		case KindInfo:
			lastInfo[op.Process] = i
		case KindAssign:
			streams[k] = &stream{assign: i, expect: op.Offset, last: -1, lastI: -1, prevI: -1}
		case KindRevoke:
			delete(streams, k)
		case KindRead:
			s := streams[k]
			if s == nil {
				s = &stream{assign: -1, expect: -1, last: -1, lastI: -1, prevI: -1}
				streams[k] = s
			}
			switch {
			case s.last >= 0 && op.Offset <= s.last:
				c.r.OutOfOrder++
				c.anomaly(AnomalyOutOfOrder, fmt.Sprintf("%s read partition %d offset %d after offset %d", op.Process, op.Partition, op.Offset, s.last),
					s.assign, s.prevI, s.lastI, info(op, s.lastI), i)
			case s.last >= 0 && op.Offset > s.last+1:
				c.gap(op, s.last+1, op.Offset-1, logStart, s.assign, s.prevI, s.lastI, info(op, s.lastI), i)
			case s.last < 0 && s.expect >= 0 && op.Offset < s.expect:
				c.r.OutOfOrder++
				c.anomaly(AnomalyOutOfOrder, fmt.Sprintf("%s read partition %d offset %d below its start offset %d", op.Process, op.Partition, op.Offset, s.expect),
					s.assign, info(op, s.assign), i)
			case s.last < 0 && s.expect >= 0 && op.Offset > s.expect:
				c.gap(op, s.expect, op.Offset-1, logStart, s.assign, info(op, s.assign), i)
			}
			s.prevI, s.lastI, s.last = s.lastI, i, op.Offset
		}
	}
}

func (c *checker) gap(op Op, from, to int64, logStart map[int32]int64, idx ...int) {
	if to < logStart[op.Partition] {
		return // below the log start: removed by retention
	}
	c.r.Gaps++
	c.anomaly(AnomalyGap, fmt.Sprintf("%s skipped partition %d offsets %d..%d (log start %d)", op.Process, op.Partition, from, to, logStart[op.Partition]), idx...)
}

type groupPart struct {
	group string
	p     int32
}

// checkCommits checks that committed offsets never go backwards.
func (c *checker) checkCommits() {
	type ack struct {
		t time.Time
		o int64
		i int
	}
	acked := map[groupPart][]ack{}
	lastObs := map[groupPart]int{}
	lastAck := map[groupPart]int{}
	for i, op := range c.ops {
		if op.Kind != KindCommit {
			continue
		}
		k := groupPart{op.Group, op.Partition}
		if li, ok := lastAck[k]; ok && op.Offset < c.ops[li].Offset {
			c.r.CommitRegressions++
			c.anomaly(AnomalyCommitRegression, fmt.Sprintf("group %s partition %d: commit of %d acknowledged after a commit of %d", op.Group, op.Partition, op.Offset, c.ops[li].Offset), li, i)
		}
		if li, ok := lastAck[k]; !ok || op.Offset >= c.ops[li].Offset {
			lastAck[k] = i
		}
		acked[k] = append(acked[k], ack{op.Time, op.Offset, i})
	}
	for k := range acked {
		a := acked[k]
		sort.SliceStable(a, func(i, j int) bool { return a[i].t.Before(a[j].t) })
	}
	for i, op := range c.ops {
		if op.Kind != KindCommitted {
			continue
		}
		k := groupPart{op.Group, op.Partition}
		if li, ok := lastObs[k]; ok && c.ops[li].Process == op.Process && op.Offset < c.ops[li].Offset {
			c.r.CommitRegressions++
			c.anomaly(AnomalyCommitRegression, fmt.Sprintf("group %s partition %d: committed offset observed as %d after %d", op.Group, op.Partition, op.Offset, c.ops[li].Offset), li, i)
		} else {
			// Highest commit acknowledged strictly before this observation started.
			best := -1
			for j, a := range acked[k] {
				if !a.t.Before(op.Time) {
					break
				}
				if best < 0 || a.o > acked[k][best].o {
					best = j
				}
			}
			if best >= 0 && op.Offset < acked[k][best].o {
				c.r.CommitRegressions++
				c.anomaly(AnomalyCommitRegression, fmt.Sprintf("group %s partition %d: committed offset observed as %d after a commit of %d was acknowledged", op.Group, op.Partition, op.Offset, acked[k][best].o), acked[k][best].i, i)
			}
		}
		lastObs[k] = i
	}
}

// checkShortReads finds end offsets reported below an offset acknowledged before the
// request started.
func (c *checker) checkShortReads() {
	type ack struct {
		t time.Time
		i int
	}
	byPart := map[int32][]ack{}
	for i, op := range c.ops {
		if op.Kind == KindAck {
			byPart[op.Partition] = append(byPart[op.Partition], ack{op.Time, i})
		}
	}
	// prefix maximum of acknowledged offsets in time order
	maxIdx := map[int32][]int{}
	for p, a := range byPart {
		sort.SliceStable(a, func(i, j int) bool { return a[i].t.Before(a[j].t) })
		m := make([]int, len(a))
		for j := range a {
			m[j] = a[j].i
			if j > 0 && c.ops[m[j-1]].Offset > c.ops[a[j].i].Offset {
				m[j] = m[j-1]
			}
		}
		maxIdx[p] = m
	}
	for i, op := range c.ops {
		if op.Kind != KindEnd && op.Kind != KindFinal {
			continue
		}
		if op.Kind == KindEnd && op.Err != "" {
			continue
		}
		a := byPart[op.Partition]
		n := sort.Search(len(a), func(j int) bool { return !a[j].t.Before(op.Time) })
		if n == 0 {
			continue
		}
		hi := maxIdx[op.Partition][n-1]
		if c.ops[hi].Offset >= op.Offset {
			c.r.ShortReads++
			c.anomaly(AnomalyShortRead, fmt.Sprintf("%s saw end offset %d of partition %d after offset %d was acknowledged", op.Process, op.Offset, op.Partition, c.ops[hi].Offset), hi, i)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
