package partition

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
)

// txnKeyed is keyedBatch with the transactional attribute.
func txnKeyed(t testing.TB, ts int64, pid int64, seq int32, recs ...kv) []byte {
	b := keyedBatch(t, ts, codecNone, pid, seq, recs...)
	h, _ := segment.DecodeBatchHeader(b)
	h.Attributes |= 0x10
	h.Put(b)
	segment.PutBatchCRC(b)
	return b
}

// logBatch is one batch read back from the local log.
type logBatch struct {
	h    segment.BatchHeader
	recs []logRecord
	raw  []byte
}

func readBatches(t testing.TB, p *Partition) []logBatch {
	t.Helper()
	var out []logBatch
	for off := p.LocalLogStartOffset(); off < p.HighWatermark(); {
		b, ok, err := p.readLocal(off, 1<<20, true)
		if err != nil || !ok {
			t.Fatalf("read at %d: ok=%v err=%v", off, ok, err)
		}
		if len(b) == 0 {
			break
		}
		next := off
		err = SplitBatches(b, func(h segment.BatchHeader, batch []byte) (bool, error) {
			if h.LastOffset() < off {
				return true, nil
			}
			if crc := segment.BatchCRC(batch); crc != h.CRC {
				t.Fatalf("batch at %d: crc %#x, header %#x", h.BaseOffset, crc, h.CRC)
			}
			lb := logBatch{h: h, raw: append([]byte(nil), batch...)}
			if !h.Control() {
				recs, err := batchRecords(h, batch, nil)
				if err != nil {
					return false, err
				}
				for _, r := range recs {
					lb.recs = append(lb.recs, logRecord{offset: r.offset, key: string(r.key), value: valueOf(r), tombstone: r.tombstone})
				}
			}
			out = append(out, lb)
			next = h.LastOffset() + 1
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if next == off {
			t.Fatalf("no progress at %d", off)
		}
		off = next
	}
	return out
}

// readCommitted is what a read_committed consumer makes of the local log (the Java and
// franz-go consumers' algorithm): the aborted transactions of the fetch response become
// aborted producers from their first offset until their ABORT marker; their transactional
// batches and all control batches are skipped. It returns the latest value of each key.
func readCommitted(t testing.TB, p *Partition) map[string]string {
	t.Helper()
	aborted := p.AbortedTxns(p.LocalLogStartOffset(), p.LastStableOffset())
	sort.Slice(aborted, func(i, j int) bool { return aborted[i].FirstOffset < aborted[j].FirstOffset })
	abortedPids := map[int64]bool{}
	view := map[string]string{}
	for _, b := range readBatches(t, p) {
		if b.h.BaseOffset >= p.LastStableOffset() {
			break
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= b.h.LastOffset() {
			abortedPids[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if b.h.Control() {
			if commit, ok := MarkerType(b.raw); ok && !commit {
				delete(abortedPids, b.h.ProducerID)
			}
			continue
		}
		if b.h.Transactional() && abortedPids[b.h.ProducerID] {
			continue
		}
		for _, r := range b.recs {
			if r.tombstone {
				delete(view, r.key)
			} else {
				view[r.key] = r.value
			}
		}
	}
	return view
}

// TestCleanerTransactions: two transactional producers and a plain one write the same
// keys, with commits and aborts; after cleaning, the read_committed view equals the model
// (committed and plain records applied in order), no aborted record is left, each key has
// one record left, markers of transactions whose data is gone are stamped with a delete
// horizon and removed by a clean after delete.retention.ms (with their index entries),
// and a reopened partition has no open transaction and takes new ones.
func TestCleanerTransactions(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig(t, "compact")
	p := openCompacted(t, nil, dir, cfg)
	defer func() { p.Close() }()
	now := time.UnixMilli(1_000_000)
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	seqs := map[int64]int32{}
	const keys = 20
	aborts, commits := 0, 0
	for i := range 300 {
		k := fmt.Sprintf("k%02d", rng.IntN(keys))
		switch rng.IntN(3) {
		case 0: // plain
			v := fmt.Sprintf("plain-%d", i)
			appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec(k, v)), now)
			model[k] = v
		default: // a transaction of 1-3 batches by producer 5 or 6
			pid := int64(5 + rng.IntN(2))
			pending := map[string]string{}
			for j := range 1 + rng.IntN(3) {
				k2 := fmt.Sprintf("k%02d", rng.IntN(keys))
				v := fmt.Sprintf("txn%d-%d-%d", pid, i, j)
				appendKeyed(t, p, txnKeyed(t, now.UnixMilli(), pid, seqs[pid], rec(k2, v)), now)
				seqs[pid]++
				pending[k2] = v
			}
			commit := rng.IntN(2) == 0
			if _, err := p.WriteTxnMarker(pid, 0, commit, 0, now); err != nil {
				t.Fatal(err)
			}
			if commit {
				commits++
				for k2, v := range pending {
					model[k2] = v
				}
			} else {
				aborts++
			}
		}
	}
	if err := p.Roll(); err != nil {
		t.Fatal(err)
	}
	if got := readCommitted(t, p); !equalMaps(got, model) {
		t.Fatalf("before cleaning the read_committed view differs from the model:\n got %v\nwant %v", got, model)
	}
	st := clean(t, p, now, 1<<20)
	if !st.Cleaned {
		t.Fatalf("nothing cleaned: %+v", st)
	}
	check := func(what string) (markers int) {
		t.Helper()
		if got := readCommitted(t, p); !equalMaps(got, model) {
			t.Fatalf("%s: read_committed view differs from the model:\n got %v\nwant %v", what, got, model)
		}
		perKey := map[string]int{}
		for _, b := range readBatches(t, p) {
			if b.h.Control() {
				markers++
				continue
			}
			for _, r := range b.recs {
				if b.h.Transactional() && p.abortedTxnSet().aborted(b.h) {
					t.Fatalf("%s: aborted record left at %d", what, r.offset)
				}
				perKey[r.key]++
			}
		}
		for k, n := range perKey {
			if n > 1 {
				t.Fatalf("%s: key %s has %d records left", what, k, n)
			}
		}
		return markers
	}
	first := check("after the first clean")
	if first != aborts+commits {
		t.Fatalf("first clean removed markers (%d left of %d): a marker stays delete.retention.ms after its data went", first, aborts+commits)
	}
	countStamped := func(horizon int64) (stamped int) {
		for _, b := range readBatches(t, p) {
			if b.h.Control() && b.h.Attributes&attrDeleteHorizon != 0 {
				stamped++
				if b.h.FirstTimestamp != horizon {
					t.Fatalf("marker at %d: horizon %d, want %d", b.h.BaseOffset, b.h.FirstTimestamp, horizon)
				}
			}
		}
		return stamped
	}
	if n := countStamped(0); n != 0 {
		t.Fatalf("the clean that removed the data stamped %d markers; Kafka's second pass does", n)
	}
	// The second pass (due at once) stamps the markers whose data is gone; a clean before
	// the horizon removes nothing; one after it (a producer snapshot covering the markers
	// saved) removes the stamped markers.
	second := now.Add(time.Hour)
	clean(t, p, second, 1<<20)
	horizon := second.UnixMilli() + cfg.DeleteRetentionMs
	stamped := countStamped(horizon)
	if stamped == 0 || stamped == first {
		// Some transactions still have their latest records (kept), the others none.
		t.Fatalf("%d of %d markers stamped; want some, not all", stamped, first)
	}
	clean(t, p, second.Add(time.Hour), 1<<20)
	if n := check("before the horizon"); n != first {
		t.Fatalf("markers removed before their horizon: %d left of %d", n, first)
	}
	p.SaveProducerState()
	later := time.UnixMilli(horizon + 1)
	st = clean(t, p, later, 1<<20)
	left := check("after the horizon")
	if left != first-stamped || st.Markers != int64(stamped) {
		t.Fatalf("after the horizon %d markers left (removed %d), want %d", left, st.Markers, first-stamped)
	}
	for _, a := range p.AbortedTxns(0, p.HighWatermark()) {
		found := false
		for _, b := range readBatches(t, p) {
			if b.h.BaseOffset == a.LastOffset && b.h.Control() {
				found = true
			}
		}
		if !found {
			t.Fatalf("aborted index entry %+v without its marker", a)
		}
	}
	// Restart: the state rebuilt from the cleaned log has no open transaction, the view
	// is the same, and the producers go on.
	p.Close()
	p = openCompacted(t, nil, dir, cfg)
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw {
		t.Fatalf("after reopen: LSO %d, HW %d (a transaction left open)", lso, hw)
	}
	check("after reopen")
	appendKeyed(t, p, txnKeyed(t, later.UnixMilli(), 5, seqs[5], rec("k00", "after")), later)
	if _, err := p.WriteTxnMarker(5, 0, true, 0, later); err != nil {
		t.Fatal(err)
	}
	model["k00"] = "after"
	if got := readCommitted(t, p); !equalMaps(got, model) {
		t.Fatalf("after a new transaction: got %v want %v", got, model)
	}
	// An unclean restart without producer snapshots nor index rebuilds both from the
	// cleaned log alone.
	p.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	names = append(names, filepath.Join(dir, TxnIndexFile))
	for _, n := range names {
		os.Remove(n)
	}
	p = openCompacted(t, nil, dir, cfg)
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw {
		t.Fatalf("after a replay: LSO %d, HW %d (a transaction left open)", lso, hw)
	}
	p.Roll()
	clean(t, p, later.Add(time.Minute), 1<<20)
	check("after a replay without snapshots and a clean")
}

// TestCleanerStopsAtLSO: an open transaction bounds the clean; the records after its
// first offset stay (duplicates included) until it ends.
func TestCleanerStopsAtLSO(t *testing.T) {
	p := openCompacted(t, nil, t.TempDir(), compactConfig(t, "compact"))
	defer p.Close()
	now := time.UnixMilli(1_000_000)
	for i := range 40 {
		appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k", fmt.Sprint(i))), now)
	}
	appendKeyed(t, p, txnKeyed(t, now.UnixMilli(), 9, 0, rec("k", "open")), now)
	lso := p.LastStableOffset()
	for i := range 40 {
		appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k", fmt.Sprint(100+i))), now)
	}
	p.Roll()
	clean(t, p, now, 1<<20)
	above := 0
	for _, r := range readRecords(t, p) {
		if r.offset >= lso {
			above++
		}
	}
	if above != 41 {
		t.Fatalf("%d records at or above the LSO %d left, want all 41", above, lso)
	}
	if _, err := p.WriteTxnMarker(9, 0, false, 0, now); err != nil {
		t.Fatal(err)
	}
	p.Roll()
	clean(t, p, now, 1<<20)
	var recs []logRecord
	for _, b := range readBatches(t, p) {
		recs = append(recs, b.recs...)
	}
	if len(recs) != 1 || recs[0].value != "139" {
		t.Fatalf("after the abort: %+v, want only k=139", recs)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestCleanerKeepsAbortBelowLogStart: an aborted transaction whose data is below the log
// start (DeleteRecords here; the bucket's history in a tiered partition) keeps its index
// entry and its ABORT marker however often the partition is cleaned.
func TestCleanerKeepsAbortBelowLogStart(t *testing.T) {
	cfg := compactConfig(t, "compact")
	p := openCompacted(t, nil, t.TempDir(), cfg)
	defer p.Close()
	now := time.UnixMilli(1_000_000)
	appendKeyed(t, p, txnKeyed(t, now.UnixMilli(), 4, 0, rec("a", "aborted")), now) // 0
	for i := range 30 {
		appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k", fmt.Sprint(i))), now)
	}
	if _, err := p.WriteTxnMarker(4, 0, false, 0, now); err != nil { // 31
		t.Fatal(err)
	}
	appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k", "last")), now)
	p.Roll()
	if _, err := p.deleteRecords(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	p.SaveProducerState()
	for _, at := range []time.Time{now, now.Add(time.Hour), now.Add(48 * time.Hour), now.Add(96 * time.Hour)} {
		clean(t, p, at, 1<<20)
	}
	if got := p.AbortedTxns(0, p.HighWatermark()); len(got) != 1 || got[0].FirstOffset != 0 || got[0].LastOffset != 31 {
		t.Fatalf("aborted index %+v, want the transaction 0-31", got)
	}
	markers := 0
	for _, b := range readBatches(t, p) {
		if b.h.Control() {
			markers++
		}
	}
	if markers != 1 {
		t.Fatalf("%d markers left, want the ABORT kept", markers)
	}
}
