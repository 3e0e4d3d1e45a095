package checker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// hb builds histories by hand with a fake clock advancing 1 ms per op.
type hb struct {
	h   History
	now time.Time
}

func newHB() *hb { return &hb{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (b *hb) add(op Op) *hb {
	b.now = b.now.Add(time.Millisecond)
	if op.Time.IsZero() {
		op.Time = b.now
	}
	b.h.Add(op)
	return b
}

// produce sends and acknowledges value v at (p, o).
func (b *hb) produce(proc string, p int32, o int64, v string) *hb {
	b.add(Op{Process: proc, Kind: KindSend, Partition: p, Offset: -1, Value: v})
	return b.add(Op{Process: proc, Kind: KindAck, Partition: p, Offset: o, Value: v})
}

func (b *hb) read(proc string, p int32, o int64, v string) *hb {
	return b.add(Op{Process: proc, Kind: KindRead, Partition: p, Offset: o, Value: v})
}

func (b *hb) assign(proc string, p int32, o int64) *hb {
	return b.add(Op{Process: proc, Kind: KindAssign, Partition: p, Offset: o})
}

func (b *hb) final(p int32, logStart, end int64, complete bool) *hb {
	return b.add(Op{Process: FinalProcess, Kind: KindFinal, Partition: p, Offset: end, LogStart: logStart, Complete: complete})
}

// clean is a history with two partitions, a replay consumer, a group consumer with commits
// and a complete final read.
func clean() *hb {
	b := newHB()
	b.produce("p0", 0, 0, "p0-0").produce("p1", 1, 0, "p1-0").produce("p0", 0, 1, "p0-1").produce("p1", 1, 1, "p1-1")
	b.add(Op{Process: "p0", Kind: KindSend, Partition: 0, Offset: -1, Value: "p0-2"})
	b.add(Op{Process: "p0", Kind: KindFail, Partition: 0, Offset: -1, Value: "p0-2", Err: "timeout"})
	b.add(Op{Process: "probe", Kind: KindEnd, Partition: 0, Offset: 3, LogStart: 0})
	b.assign("c0", 0, 0).read("c0", 0, 0, "p0-0").read("c0", 0, 1, "p0-1").read("c0", 0, 2, "p0-2")
	b.assign("g0", 1, -1).read("g0", 1, 0, "p1-0")
	b.add(Op{Process: "g0", Kind: KindCommit, Group: "g", Partition: 1, Offset: 1})
	b.add(Op{Process: "probe", Kind: KindCommitted, Group: "g", Partition: 1, Offset: 1})
	b.read("g0", 1, 1, "p1-1")
	b.add(Op{Process: "g0", Kind: KindCommit, Group: "g", Partition: 1, Offset: 2})
	b.add(Op{Process: "probe", Kind: KindCommitted, Group: "g", Partition: 1, Offset: 2})
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "p0-0").read(FinalProcess, 0, 1, "p0-1").read(FinalProcess, 0, 2, "p0-2").final(0, 0, 3, true)
	b.assign(FinalProcess, 1, 0).read(FinalProcess, 1, 0, "p1-0").read(FinalProcess, 1, 1, "p1-1").final(1, 0, 2, true)
	return b
}

func TestCheckClean(t *testing.T) {
	r := Check(&clean().h)
	if !r.OK() {
		t.Fatalf("clean history reported anomalies:\n%s", r.Details())
	}
	if r.Acked != 4 || r.Sent != 5 || r.Unknown != 1 || r.Recovered != 1 || r.FinalReads != 5 || r.Reads != 10 || r.Commits != 2 {
		t.Fatalf("counts: %+v", r)
	}
	if len(r.Anomalies) != 0 {
		t.Fatalf("anomalies kept for a clean history: %v", r.Anomalies)
	}
	row := r.String()
	if !strings.HasPrefix(row, "|") || !strings.HasSuffix(row, "| true |") || strings.Count(row, "|") != strings.Count(strings.SplitN(TableHeader, "\n", 2)[0], "|") {
		t.Fatalf("row %q does not match header", row)
	}
}

// expect fails unless r holds exactly count anomalies of kind, none of any other kind, and an excerpt for kind.
func expect(t *testing.T, r Report, kind string, count int) {
	t.Helper()
	got := map[string]int{
		AnomalyLost: r.Lost, AnomalyDuplicate: r.Duplicated, AnomalyInconsistent: r.Inconsistent,
		AnomalyPhantom: r.Phantom, AnomalyOutOfOrder: r.OutOfOrder, AnomalyGap: r.Gaps,
		AnomalyCommitRegression: r.CommitRegressions, AnomalyShortRead: r.ShortReads,
		AnomalyIncompleteFinal: len(r.IncompleteFinal),
	}
	for k, n := range got {
		want := 0
		if k == kind {
			want = count
		}
		if n != want {
			t.Errorf("%s: got %d, want %d\n%s", k, n, want, r.Details())
		}
	}
	if r.OK() {
		t.Errorf("report with %s is OK", kind)
	}
	var ex *Anomaly
	for i := range r.Anomalies {
		if r.Anomalies[i].Kind == kind {
			ex = &r.Anomalies[i]
			break
		}
	}
	if ex == nil || len(ex.Excerpt) == 0 {
		t.Fatalf("no excerpt for %s:\n%s", kind, r.Details())
	}
	if !strings.Contains(r.Details(), kind+": ") {
		t.Fatalf("details do not name %s", kind)
	}
}

func TestCheckLost(t *testing.T) {
	b := newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b").produce("p0", 0, 2, "c")
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "c").final(0, 0, 2, true)
	// b vanished and c moved down: lost, an inconsistent offset (ack 1=b vs read 1=c), and a short read (end 2 <= acked 2).
	r := Check(&b.h)
	if r.Lost != 1 || r.Inconsistent != 2 || r.ShortReads != 1 {
		t.Fatalf("lost=%d inconsistent=%d short=%d\n%s", r.Lost, r.Inconsistent, r.ShortReads, r.Details())
	}
	var lost Anomaly
	for _, a := range r.Anomalies {
		if a.Kind == AnomalyLost {
			lost = a
		}
	}
	if !strings.Contains(lost.Desc, "value b ") {
		t.Fatalf("lost anomaly names the wrong value: %s", lost)
	}
	// Excerpt: send b, ack b, final reads at offsets 0 and 1, final marker.
	var kinds []string
	for _, op := range lost.Excerpt {
		kinds = append(kinds, string(op.Kind)+":"+op.Value)
	}
	if got := strings.Join(kinds, " "); got != "send:b ack:b read:a read:c final:" {
		t.Fatalf("excerpt %q\n%s", got, lost)
	}

	// Simple loss without offset confusion: b acknowledged beyond what the log kept.
	b = newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b")
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").final(0, 0, 1, true)
	r = Check(&b.h)
	if r.Lost != 1 || r.ShortReads != 1 || r.Inconsistent != 0 || r.OK() {
		t.Fatalf("lost=%d short=%d inconsistent=%d\n%s", r.Lost, r.ShortReads, r.Inconsistent, r.Details())
	}
}

func TestCheckDuplicate(t *testing.T) {
	b := newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b")
	b.add(Op{Process: "nemesis", Kind: KindNemesis, Value: "kill 0"})
	b.add(Op{Process: "nemesis", Kind: KindNemesis, Value: "ready 0 after 20ms"})
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "b").read(FinalProcess, 0, 2, "a").final(0, 0, 3, true)
	r := Check(&b.h)
	expect(t, r, AnomalyDuplicate, 1)
	if r.Cycles != 1 || r.MaxRecovery != time.Millisecond {
		t.Errorf("cycles %d, max recovery %s from the nemesis ops", r.Cycles, r.MaxRecovery)
	}
	// The excerpt shows the send, the ack, both reads and the crash between them.
	var got []string
	for _, op := range r.Anomalies[0].Excerpt {
		got = append(got, fmt.Sprintf("%s:%s", op.Kind, op.Value))
	}
	if want := "send:a ack:a nemesis:kill 0 nemesis:ready 0 after 20ms read:a read:a"; strings.Join(got, " ") != want {
		t.Fatalf("excerpt %q, want %q", strings.Join(got, " "), want)
	}
}

func TestCheckInconsistent(t *testing.T) {
	b := newHB()
	b.produce("p0", 0, 0, "a")
	b.add(Op{Process: "p1", Kind: KindSend, Partition: 0, Offset: -1, Value: "x"})
	b.add(Op{Process: "p1", Kind: KindFail, Partition: 0, Offset: -1, Value: "x"})
	b.produce("p0", 0, 1, "b")
	// c0 saw x at offset 1 before a crash; the log later holds b there.
	b.assign("c0", 0, 0).read("c0", 0, 0, "a").read("c0", 0, 1, "x")
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "b").final(0, 0, 2, true)
	expect(t, Check(&b.h), AnomalyInconsistent, 1)
}

func TestCheckPhantom(t *testing.T) {
	b := newHB()
	b.produce("p0", 0, 0, "a")
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "zzz").final(0, 0, 2, true)
	expect(t, Check(&b.h), AnomalyPhantom, 1)
}

func TestCheckOutOfOrder(t *testing.T) {
	b := newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b").produce("p0", 0, 2, "c")
	b.assign("c0", 0, 0).read("c0", 0, 0, "a").read("c0", 0, 1, "b")
	b.add(Op{Process: "c0", Kind: KindInfo, Value: "fetch partition 0", Err: "lost records; reset"})
	b.read("c0", 0, 1, "b").read("c0", 0, 2, "c")
	// A re-assignment (seek) back to 0 is not out of order.
	b.assign("c0", 0, 0).read("c0", 0, 0, "a")
	// Neither is a group consumer that was revoked and got the partition back.
	b.assign("g0", 0, -1).read("g0", 0, 1, "b").add(Op{Process: "g0", Kind: KindRevoke, Partition: 0})
	b.assign("g0", 0, -1).read("g0", 0, 0, "a")
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "b").read(FinalProcess, 0, 2, "c").final(0, 0, 3, true)
	r := Check(&b.h)
	expect(t, r, AnomalyOutOfOrder, 1)
	if ex := r.Anomalies[0].Excerpt; len(ex) != 5 || ex[0].Kind != KindAssign || ex[3].Kind != KindInfo || ex[4].Offset != 1 {
		t.Fatalf("excerpt %v", ex)
	}

	// Reading below the offset a consumer was assigned at is out of order too.
	b = newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b")
	b.assign("c0", 0, 1).read("c0", 0, 0, "a")
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "b").final(0, 0, 2, true)
	expect(t, Check(&b.h), AnomalyOutOfOrder, 1)
}

func TestCheckGap(t *testing.T) {
	b := newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b").produce("p0", 0, 2, "c").produce("p0", 0, 3, "d")
	b.assign("c0", 0, 0).read("c0", 0, 0, "a").read("c0", 0, 2, "c") // skips 1
	b.assign("c1", 0, 1).read("c1", 0, 3, "d")                       // skips 1..2 at the start
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "b").read(FinalProcess, 0, 2, "c").read(FinalProcess, 0, 3, "d").final(0, 0, 4, true)
	expect(t, Check(&b.h), AnomalyGap, 2)

	// Offsets below the log start are explained by retention.
	b = newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b").produce("p0", 0, 2, "c")
	b.add(Op{Process: "probe", Kind: KindEnd, Partition: 0, Offset: 3, LogStart: 2})
	b.assign("c0", 0, 0).read("c0", 0, 2, "c")
	b.assign(FinalProcess, 0, 2).read(FinalProcess, 0, 2, "c").final(0, 2, 3, true)
	r := Check(&b.h)
	if r.Gaps != 0 {
		t.Fatalf("gap below log start reported:\n%s", r.Details())
	}
}

func TestCheckCommitRegression(t *testing.T) {
	commit := func(b *hb, kind Kind, o int64) {
		b.add(Op{Process: map[Kind]string{KindCommit: "g0", KindCommitted: "probe"}[kind], Kind: kind, Group: "g", Partition: 0, Offset: o})
	}
	base := func() *hb {
		b := newHB()
		b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b")
		b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "b").final(0, 0, 2, true)
		return b
	}
	// Observed offsets going backwards.
	b := base()
	commit(b, KindCommitted, 2)
	commit(b, KindCommitted, 1)
	expect(t, Check(&b.h), AnomalyCommitRegression, 1)
	// A commit acknowledged, then observed lower (e.g. forgotten after a restart).
	b = base()
	commit(b, KindCommit, 2)
	commit(b, KindCommitted, -1)
	expect(t, Check(&b.h), AnomalyCommitRegression, 1)
	// Acknowledged commits going backwards.
	b = base()
	commit(b, KindCommit, 2)
	commit(b, KindCommit, 1)
	expect(t, Check(&b.h), AnomalyCommitRegression, 1)
	// An observation that started before the commit was acknowledged may see the old value.
	b = base()
	start := b.now.Add(500 * time.Microsecond)
	commit(b, KindCommit, 2)
	b.add(Op{Process: "probe", Kind: KindCommitted, Group: "g", Partition: 0, Offset: 1, Time: start})
	if r := Check(&b.h); !r.OK() {
		t.Fatalf("concurrent observation flagged:\n%s", r.Details())
	}
}

func TestCheckShortRead(t *testing.T) {
	b := newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 0, 1, "b")
	b.add(Op{Process: "probe", Kind: KindEnd, Partition: 0, Offset: 1}) // started after ack of 1
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "b").final(0, 0, 2, true)
	expect(t, Check(&b.h), AnomalyShortRead, 1)

	// A probe that started before the acknowledgement may legitimately see less.
	b = newHB()
	b.produce("p0", 0, 0, "a")
	start := b.now.Add(500 * time.Microsecond)
	b.produce("p0", 0, 1, "b")
	b.add(Op{Process: "probe", Kind: KindEnd, Partition: 0, Offset: 1, Time: start})
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").read(FinalProcess, 0, 1, "b").final(0, 0, 2, true)
	if r := Check(&b.h); !r.OK() {
		t.Fatalf("concurrent probe flagged:\n%s", r.Details())
	}
}

func TestCheckIncompleteFinal(t *testing.T) {
	b := newHB()
	b.produce("p0", 0, 0, "a").produce("p0", 1, 0, "b")
	b.assign(FinalProcess, 0, 0).read(FinalProcess, 0, 0, "a").final(0, 0, 1, true)
	b.final(1, 0, 1, false)
	r := Check(&b.h)
	if r.Unverified != 1 || r.Lost != 0 {
		t.Fatalf("unverified=%d lost=%d", r.Unverified, r.Lost)
	}
	expect(t, r, AnomalyIncompleteFinal, 1)
}

func TestCheckExcerptCap(t *testing.T) {
	b := newHB()
	for i := range 20 {
		b.produce("p0", 0, int64(i), fmt.Sprint("v", i))
	}
	b.final(0, 0, 20, true) // read nothing: 20 lost
	r := Check(&b.h)
	n := 0
	for _, a := range r.Anomalies {
		if a.Kind == AnomalyLost {
			n++
		}
	}
	if r.Lost != 20 || n != MaxExcerpts {
		t.Fatalf("lost=%d excerpts=%d", r.Lost, n)
	}
}

func TestHistoryJSONLRoundTrip(t *testing.T) {
	h := &clean().h
	var buf bytes.Buffer
	if err := h.WriteJSONL(&buf); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != h.Len() {
		t.Fatalf("%d lines for %d ops", lines, h.Len())
	}
	h2, err := ReadJSONL(&buf)
	if err != nil {
		t.Fatal(err)
	}
	a, b := h.Ops(), h2.Ops()
	if len(a) != len(b) {
		t.Fatalf("%d ops, want %d", len(b), len(a))
	}
	for i := range a {
		if a[i].String() != b[i].String() || !a[i].Time.Equal(b[i].Time) || a[i].Complete != b[i].Complete || a[i].LogStart != b[i].LogStart {
			t.Fatalf("op %d: %v != %v", i, b[i], a[i])
		}
	}
	if h2.Count(KindAck) != 4 || h.Count(KindAck) != 4 || h2.Count(KindFinal) != 2 {
		t.Fatalf("counts: %d %d %d", h.Count(KindAck), h2.Count(KindAck), h2.Count(KindFinal))
	}
	if r1, r2 := Check(h), Check(h2); r1.String() != r2.String() {
		t.Fatalf("reports differ after round trip:\n%s\n%s", r1, r2)
	}

	path := t.TempDir() + "/h.jsonl"
	if err := h.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	h3, err := LoadFile(path)
	if err != nil || h3.Len() != h.Len() {
		t.Fatalf("LoadFile: %v, %d ops", err, h3.Len())
	}
}
