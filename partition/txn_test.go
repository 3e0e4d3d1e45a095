package partition

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

func txnBatch(pid int64, epoch int16, seq int32, n int) []byte {
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = []byte("v")
	}
	return segmenttest.BatchWith(segmenttest.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), TimestampStep: 1,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Transactional: true}, vals...)
}

func appendRaw(t *testing.T, p *Partition, b []byte) AppendResult {
	t.Helper()
	h, err := segment.DecodeBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.append(b, h, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func marker(t *testing.T, p *Partition, pid int64, epoch int16, commit bool) {
	t.Helper()
	end, err := p.WriteTxnMarker(pid, epoch, commit, 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if end != p.HighWatermark() {
		t.Fatalf("marker end %d, HW %d", end, p.HighWatermark())
	}
}

// TestTxnLSOAndAbortedIndex: open transactions hold the LSO; an ABORT marker records the
// transaction in the aborted index; both survive a clean reopen (snapshot v2 + index
// file) and an unclean one without the snapshot and the index (rebuilt by the replay).
func TestTxnLSOAndAbortedIndex(t *testing.T) {
	dir := t.TempDir()
	open := func() *Partition {
		p, err := Open(Options{Topic: "t", Dir: dir, Config: testConfig(t, nil)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := open()
	appendRaw(t, p, txnBatch(7, 0, 0, 2))                  // 0-1, txn of 7
	appendRaw(t, p, segmenttest.Batch(1, []byte("plain"))) // 2
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != 0 || hw != 3 {
		t.Fatalf("open txn: LSO %d HW %d, want 0 and 3", lso, hw)
	}
	appendRaw(t, p, txnBatch(8, 0, 0, 1)) // 3, txn of 8
	marker(t, p, 7, 0, false)             // 4: abort 7
	if lso := p.LastStableOffset(); lso != 3 {
		t.Fatalf("LSO after aborting 7: %d, want 3 (8 still open)", lso)
	}
	marker(t, p, 8, 0, true)              // 5: commit 8
	appendRaw(t, p, txnBatch(9, 0, 0, 2)) // 6-7, txn of 9 left open
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 0, LastOffset: 4, LastStableOffset: 3}}
	check := func(what string, p *Partition) {
		t.Helper()
		if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != 6 || hw != 8 {
			t.Fatalf("%s: LSO %d HW %d, want 6 and 8", what, lso, hw)
		}
		got := p.AbortedTxns(0, 8)
		if len(got) != 1 || got[0] != want[0] {
			t.Fatalf("%s: aborted %+v, want %+v", what, got, want)
		}
		if got := p.AbortedTxns(5, 8); len(got) != 0 {
			t.Fatalf("%s: aborted from 5: %+v", what, got)
		}
	}
	check("live", p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = open()
	check("clean reopen", p)
	if err := p.close(); err != nil { // no snapshot at close: an unclean stop
		t.Fatal(err)
	}
	offs, _ := producer.Snapshots(nil, dir)
	for _, o := range offs {
		os.Remove(producer.SnapshotPath(dir, o))
	}
	os.Remove(filepath.Join(dir, TxnIndexFile))
	p = open()
	check("reopen without snapshot and index", p)
	marker(t, p, 9, 0, false) // 8
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw {
		t.Fatalf("after aborting 9: LSO %d HW %d", lso, hw)
	}
	if got := p.AbortedTxns(0, 9); len(got) != 2 || got[1].ProducerID != 9 || got[1].FirstOffset != 6 {
		t.Fatalf("aborted: %+v", got)
	}
	p.Close()
}

func TestControlBatchMarkerType(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b := ControlBatch(3, 4, commit, 5, 1000)
		h, err := segment.DecodeBatchHeader(b)
		if err != nil || h.Check(int64(len(b))) != nil || !h.Control() || !h.Transactional() || h.ProducerID != 3 || h.ProducerEpoch != 4 {
			t.Fatalf("header %+v: %v", h, err)
		}
		if segment.BatchCRC(b) != h.CRC {
			t.Fatal("bad CRC")
		}
		got, ok := MarkerType(b)
		if !ok || got != commit {
			t.Fatalf("MarkerType = %v, %v; want %v", got, ok, commit)
		}
	}
	if _, ok := MarkerType(segmenttest.Batch(1, []byte("x"))[:62]); ok {
		t.Fatal("a cut batch has a marker type")
	}
}
