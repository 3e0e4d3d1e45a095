package partition

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// kv is one record of a keyed test batch; a nil value is a tombstone, a nil key is keyless.
type kv struct {
	key, value []byte
}

func rec(k, v string) kv { return kv{[]byte(k), []byte(v)} }
func tomb(k string) kv   { return kv{key: []byte(k)} }

// keyedBatch encodes a v2 batch of records (codec: a Kafka codec id, recompressed as the
// cleaner would) with timestamps ts, ts+1, ...
func keyedBatch(t testing.TB, ts int64, codec int8, pid int64, seq int32, recs ...kv) []byte {
	t.Helper()
	var body []byte
	for i, r := range recs {
		var rb []byte
		rb = append(rb, 0)
		rb = binary.AppendVarint(rb, int64(i))
		rb = binary.AppendVarint(rb, int64(i))
		if r.key == nil {
			rb = binary.AppendVarint(rb, -1)
		} else {
			rb = binary.AppendVarint(rb, int64(len(r.key)))
			rb = append(rb, r.key...)
		}
		if r.value == nil {
			rb = binary.AppendVarint(rb, -1)
		} else {
			rb = binary.AppendVarint(rb, int64(len(r.value)))
			rb = append(rb, r.value...)
		}
		rb = binary.AppendVarint(rb, 0)
		body = binary.AppendVarint(body, int64(len(rb)))
		body = append(body, rb...)
	}
	if codec != codecNone {
		var err error
		if body, err = compress(codec, body); err != nil {
			t.Fatal(err)
		}
	}
	epoch := int16(-1)
	if pid >= 0 {
		epoch = 0
	} else {
		seq = -1
	}
	h := segment.BatchHeader{
		BatchLength: int32(segment.MinBatchLength + len(body)), PartitionLeaderEpoch: -1, Magic: 2,
		Attributes: int16(codec), LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: ts,
		MaxTimestamp: ts + int64(len(recs)-1), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
		NumRecords: int32(len(recs)),
	}
	b := make([]byte, segment.BatchHeaderSize, segment.BatchHeaderSize+len(body))
	h.Put(b)
	b = append(b, body...)
	segment.PutBatchCRC(b)
	return b
}

func appendKeyed(t testing.TB, p *Partition, b []byte, now time.Time) AppendResult {
	t.Helper()
	h, err := segment.DecodeBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Append(b, h, now, true)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return r
}

// logRecord is one record read back from the log.
type logRecord struct {
	offset    int64
	key       string
	value     string
	tombstone bool
	keyless   bool
}

// readRecords reads every record of the local log, checking that offsets ascend.
func readRecords(t testing.TB, p *Partition) []logRecord {
	t.Helper()
	var out []logRecord
	last := int64(-1)
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
			if h.BaseOffset < off && h.LastOffset() < off {
				return true, nil
			}
			if crc := segment.BatchCRC(batch); crc != h.CRC {
				t.Fatalf("batch at %d: crc %#x, header %#x", h.BaseOffset, crc, h.CRC)
			}
			recs, err := batchRecords(h, batch, nil)
			if err != nil {
				return false, err
			}
			for _, r := range recs {
				if r.offset <= last {
					t.Fatalf("offset %d after %d", r.offset, last)
				}
				last = r.offset
				out = append(out, logRecord{offset: r.offset, key: string(r.key), value: valueOf(r), tombstone: r.tombstone, keyless: r.key == nil})
			}
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

// valueOf extracts the value of a record from its raw bytes.
func valueOf(r cleanRecord) string {
	if r.tombstone {
		return ""
	}
	b := r.raw
	_, k := binary.Varint(b)
	b = b[k+1:]
	for range 2 { // timestamp and offset deltas
		_, k = binary.Varint(b)
		b = b[k:]
	}
	kl, k := binary.Varint(b)
	b = b[k+max(int(kl), 0):]
	vl, k := binary.Varint(b)
	return string(b[k : k+int(vl)])
}

func openCompacted(t testing.TB, fs segment.FS, dir string, cfg Config) *Partition {
	t.Helper()
	p, err := Open(Options{Topic: "c", Dir: dir, Config: cfg, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func compactConfig(t testing.TB, policy string) Config {
	c := testConfig(t, map[string]string{"cleanup.policy": policy, "segment.bytes": "1024"})
	c.DeleteRetentionMs = 86400000
	c.MaxCompactionLagMs = math.MaxInt64
	return c
}

func clean(t testing.TB, p *Partition, now time.Time, mapBytes int64) CleanStats {
	t.Helper()
	st, err := p.Clean(context.Background(), now, cleanIO{m: newOffsetMap(mapBytes)})
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	return st
}

// latest is the model: the latest record of each key (tombstones included) and its offset.
func latest(recs []logRecord) map[string]logRecord {
	m := map[string]logRecord{}
	for _, r := range recs {
		if !r.keyless {
			m[r.key] = r
		}
	}
	return m
}

func TestCleanerKeepsLatestPerKeyWithOffsets(t *testing.T) {
	for _, codec := range []int8{codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd} {
		t.Run(fmt.Sprint("codec", codec), func(t *testing.T) {
			fs := segmenttest.NewMemFS() // many rolls: no real fsyncs
			p := openCompacted(t, fs, "/data/c-0", compactConfig(t, "compact"))
			defer p.Close()
			now := time.UnixMilli(1_000_000)
			for i := range 200 {
				appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codec, -1, 0,
					rec(fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d", i)), rec(fmt.Sprintf("k%d", (i+3)%7), fmt.Sprintf("w%d", i))), now)
			}
			before := readRecords(t, p)
			want := latest(before)
			hw := p.HighWatermark()
			st := clean(t, p, now, 1<<20)
			if !st.Cleaned || st.Removed == 0 {
				t.Fatalf("nothing cleaned: %+v", st)
			}
			after := readRecords(t, p)
			if p.HighWatermark() != hw {
				t.Fatalf("log end moved from %d to %d", hw, p.HighWatermark())
			}
			// Every key's latest record survives at its offset; records of the active
			// segment are untouched; nothing survives that is superseded in the cleaned part.
			got := latest(after)
			for k, w := range want {
				if g := got[k]; g != w {
					t.Fatalf("key %s: latest %+v, want %+v", k, g, w)
				}
			}
			active := p.log.ActiveSegment().BaseOffset
			seen := map[string]bool{}
			for _, r := range after {
				if r.offset >= active {
					break
				}
				if seen[r.key] {
					t.Fatalf("key %s twice in the cleaned segments (at %d)", r.key, r.offset)
				}
				seen[r.key] = true
			}
			if len(after) >= len(before) {
				t.Fatalf("%d records before, %d after", len(before), len(after))
			}
			// Cleaning again changes nothing.
			st = clean(t, p, now, 1<<20)
			if st.Removed != 0 {
				t.Fatalf("second clean removed %d", st.Removed)
			}
			p.Close()
			p = openCompacted(t, fs, p.Dir(), compactConfig(t, "compact"))
			if again := readRecords(t, p); len(again) != len(after) {
				t.Fatalf("after reopen: %d records, want %d", len(again), len(after))
			}
		})
	}
}

func TestCleanerKeyMapBoundMultiPass(t *testing.T) {
	p := openCompacted(t, segmenttest.NewMemFS(), "/data/c-0", compactConfig(t, "compact"))
	defer p.Close()
	now := time.UnixMilli(1_000_000)
	const keys = 500
	for round := range 4 {
		for k := 0; k < keys; k += 10 {
			var rs []kv
			for j := range 10 {
				rs = append(rs, rec(fmt.Sprintf("key-%04d", k+j), fmt.Sprintf("r%d", round)))
			}
			appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rs...), now)
		}
	}
	p.Roll()
	want := latest(readRecords(t, p))
	m := newOffsetMap(64 * mapSlotBytes * 2) // 128 slots: 115 keys per pass
	if m.MemoryBytes() > 128*mapSlotBytes {
		t.Fatalf("map of %d bytes", m.MemoryBytes())
	}
	st, err := p.Clean(context.Background(), now, cleanIO{m: m})
	if err != nil {
		t.Fatal(err)
	}
	if st.Passes < keys*4/m.maxEntries {
		t.Fatalf("%d passes for %d records with a map of %d keys", st.Passes, keys*4, m.maxEntries)
	}
	after := readRecords(t, p)
	if len(after) != keys {
		t.Fatalf("%d records after cleaning, want %d (one per key)", len(after), keys)
	}
	if got := latest(after); len(got) != len(want) {
		t.Fatalf("%d keys, want %d", len(got), len(want))
	} else {
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("key %s: %+v, want %+v", k, got[k], w)
			}
		}
	}
	// A map too small for one batch is an error, not a loop.
	appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("a", "1"), rec("b", "1")), now)
	p.Roll()
	tiny := newOffsetMap(0)
	tiny.maxEntries = 1
	if _, err := p.Clean(context.Background(), now, cleanIO{m: tiny}); err == nil {
		t.Fatal("a key map smaller than a batch: no error")
	}
}

func TestCleanerTombstonesDeleteRetention(t *testing.T) {
	cfg := compactConfig(t, "compact")
	cfg.DeleteRetentionMs = 60_000
	p := openCompacted(t, nil, t.TempDir(), cfg)
	defer p.Close()
	t0 := time.UnixMilli(10_000_000)
	appendKeyed(t, p, keyedBatch(t, t0.UnixMilli(), codecNone, -1, 0, rec("a", "1"), rec("b", "1"), rec("c", "1")), t0)
	appendKeyed(t, p, keyedBatch(t, t0.UnixMilli(), codecNone, -1, 0, tomb("a"), rec("b", "2")), t0)
	p.Roll()
	clean(t, p, t0, 1<<20)
	got := latest(readRecords(t, p))
	if r := got["a"]; !r.tombstone {
		t.Fatalf("tombstone of a not kept by its first clean: %+v", got)
	}
	if len(readRecords(t, p)) != 3 {
		t.Fatalf("records: %+v", readRecords(t, p))
	}
	// Before delete.retention.ms: kept, even by a forced clean.
	clean(t, p, t0.Add(59*time.Second), 1<<20)
	if r := latest(readRecords(t, p))["a"]; !r.tombstone {
		t.Fatal("tombstone removed before delete.retention.ms")
	}
	// After it: removed, without new dirty data (the due tombstone triggers the clean).
	st := clean(t, p, t0.Add(61*time.Second), 1<<20)
	recs := readRecords(t, p)
	if _, ok := latest(recs)["a"]; ok || st.Tombstones != 1 {
		t.Fatalf("tombstone kept after delete.retention.ms: %+v (%+v)", recs, st)
	}
	if l := latest(recs); l["b"].value != "2" || l["c"].value != "1" {
		t.Fatalf("records: %+v", recs)
	}
}

func TestCleanerCompactionLag(t *testing.T) {
	cfg := compactConfig(t, "compact")
	cfg.MinCompactionLagMs = 60_000
	cfg.MinCleanableDirtyRatio = 0.5
	p := openCompacted(t, nil, t.TempDir(), cfg)
	defer p.Close()
	t0 := time.UnixMilli(10_000_000)
	for i := range 4 {
		appendKeyed(t, p, keyedBatch(t, t0.UnixMilli(), codecNone, -1, 0, rec("k", fmt.Sprint(i))), t0)
	}
	p.Roll()
	// min.compaction.lag.ms: records younger than the lag are not cleaned.
	if st := clean(t, p, t0.Add(30*time.Second), 1<<20); st.Cleaned {
		t.Fatalf("cleaned within min.compaction.lag.ms: %+v", st)
	}
	if st := clean(t, p, t0.Add(61*time.Second), 1<<20); !st.Cleaned || len(readRecords(t, p)) != 1 {
		t.Fatalf("not cleaned after min.compaction.lag.ms: %+v %+v", st, readRecords(t, p))
	}

	// max.compaction.lag.ms forces a clean below min.cleanable.dirty.ratio, and rolls
	// the active segment for it.
	cfg.MinCompactionLagMs = 0
	cfg.MinCleanableDirtyRatio = 1
	cfg.MaxCompactionLagMs = 120_000
	cfg.SegmentBytes = 1 << 30
	p.SetConfig(cfg)
	t1 := t0.Add(time.Hour)
	appendKeyed(t, p, keyedBatch(t, t1.UnixMilli(), codecNone, -1, 0, rec("k", "x"), rec("k", "y")), t1)
	if st := clean(t, p, t1.Add(time.Minute), 1<<20); st.Cleaned {
		t.Fatalf("cleaned before max.compaction.lag.ms with ratio 1: %+v", st)
	}
	if st := clean(t, p, t1.Add(3*time.Minute), 1<<20); !st.Cleaned {
		t.Fatalf("not cleaned after max.compaction.lag.ms: %+v", st)
	}
	if recs := readRecords(t, p); len(recs) != 1 || recs[0].value != "y" {
		t.Fatalf("records: %+v", recs)
	}
}

func TestCleanerCompactDelete(t *testing.T) {
	cfg := compactConfig(t, "compact,delete")
	cfg.RetentionMs = 3_600_000
	cfg.SegmentBytes = 200 // the two segments are not cleaned into one
	p := openCompacted(t, nil, t.TempDir(), cfg)
	defer p.Close()
	old := time.UnixMilli(1_000_000)
	appendKeyed(t, p, keyedBatch(t, old.UnixMilli(), codecNone, -1, 0, rec("a", "old"), rec("b", "old")), old)
	p.Roll()
	recent := old.Add(2 * time.Hour)
	appendKeyed(t, p, keyedBatch(t, recent.UnixMilli(), codecNone, -1, 0, rec("b", "new"), rec("c", "new")), recent)
	appendKeyed(t, p, keyedBatch(t, recent.UnixMilli(), codecNone, -1, 0, rec("c", "newer")), recent)
	p.Roll()
	clean(t, p, recent, 1<<20)
	p.runMaintenance(recent) // retention.ms removes the old segment even though a is its latest
	recs := readRecords(t, p)
	l := latest(recs)
	if _, ok := l["a"]; ok || l["b"].value != "new" || l["c"].value != "newer" || len(recs) != 2 {
		t.Fatalf("compact,delete: %+v", recs)
	}
	if p.LogStartOffset() != 2 {
		t.Fatalf("log start %d, want 2", p.LogStartOffset())
	}
}

func TestCleanerDeletePolicyNoop(t *testing.T) {
	p := openCompacted(t, nil, t.TempDir(), compactConfig(t, "delete"))
	defer p.Close()
	now := time.UnixMilli(1_000_000)
	for range 3 {
		appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k", "v")), now)
	}
	p.Roll()
	if st := clean(t, p, now, 1<<20); st.Cleaned || len(readRecords(t, p)) != 3 {
		t.Fatalf("delete policy cleaned: %+v", st)
	}
}

// TestCleanerKeepsIdempotentProducerState: the last batch of every producer survives
// (empty if all its records are superseded), so that the producer's sequence state is
// rebuilt from the log after a restart and a retry is still answered as a duplicate.
func TestCleanerKeepsIdempotentProducerState(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig(t, "compact")
	p := openCompacted(t, nil, dir, cfg)
	now := time.UnixMilli(1_000_000)
	appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, 7, 0, rec("k", "p7-a")), now)
	last7 := keyedBatch(t, now.UnixMilli(), codecNone, 7, 1, rec("k", "p7-b"))
	appendKeyed(t, p, last7, now)
	appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, 9, 0, rec("k", "p9")), now)
	appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k", "plain"), rec("x", "1")), now)
	p.Roll()
	clean(t, p, now, 1<<20)
	// Producer 7's last batch (offset 1) stays as an empty batch with its header.
	var pids []int64
	for off := p.LocalLogStartOffset(); off < p.HighWatermark(); {
		b, _, err := p.readLocal(off, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		SplitBatches(b, func(h segment.BatchHeader, _ []byte) (bool, error) {
			if h.ProducerID >= 0 {
				pids = append(pids, h.ProducerID)
				if h.ProducerID == 7 && (h.BaseOffset != 1 || h.NumRecords != 0 || h.BaseSequence != 1) {
					t.Errorf("producer 7's last batch: %+v", h)
				}
			}
			off = h.LastOffset() + 1
			return true, nil
		})
	}
	if len(pids) != 2 {
		t.Fatalf("producer batches kept: %v, want 7 and 9", pids)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Rebuilt without snapshots (replay of the log): producer 7 continues at seq 2, and
	// its retry of seq 1 is a duplicate.
	offs, err := producer.Snapshots(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offs {
		if err := os.Remove(producer.SnapshotPath(dir, o)); err != nil {
			t.Fatal(err)
		}
	}
	p = openCompacted(t, nil, dir, cfg)
	defer p.Close()
	h, _ := segment.DecodeBatchHeader(last7)
	r, err := p.Append(keyedBatch(t, now.UnixMilli(), codecNone, 7, 1, rec("k", "p7-b")), h, now, true)
	if err != nil || !r.Duplicate || r.Info.BaseOffset != 1 {
		t.Fatalf("retry of producer 7's last batch: %+v, %v", r, err)
	}
	if st, ok := p.producers.(*producer.State); ok {
		if e, ok := st.Entry(7); !ok || e.LastSeq() != 1 {
			t.Fatalf("producer 7 state after restart: %+v %v", e, ok)
		}
	}
}

// TestCleanerKeepsControlAndTransactionalBatches: an open transaction holds the LSO, so
// neither its data nor what it would supersede is cleaned (cleantxn_test.go covers
// decided transactions).
func TestCleanerKeepsControlAndTransactionalBatches(t *testing.T) {
	p := openCompacted(t, nil, t.TempDir(), compactConfig(t, "compact"))
	defer p.Close()
	now := time.UnixMilli(1_000_000)
	appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k", "1")), now)
	txn := keyedBatch(t, now.UnixMilli(), codecNone, 5, 0, rec("k", "txn"))
	hh, _ := segment.DecodeBatchHeader(txn)
	hh.Attributes |= 0x10
	hh.Put(txn)
	segment.PutBatchCRC(txn)
	appendKeyed(t, p, txn, now)
	p.Roll()
	clean(t, p, now, 1<<20)
	if recs := readRecords(t, p); len(recs) != 2 {
		t.Fatalf("transactional batch or what it would supersede was removed: %+v", recs)
	}
}

func TestOffsetMapBounded(t *testing.T) {
	m := newOffsetMap(1 << 16)
	if m.MemoryBytes() > 1<<16 {
		t.Fatalf("%d bytes", m.MemoryBytes())
	}
	n := 0
	for i := 0; ; i++ {
		if !m.put([]byte(fmt.Sprint(i)), int64(i)) {
			break
		}
		n++
	}
	if n != m.maxEntries {
		t.Fatalf("%d keys fit, max %d", n, m.maxEntries)
	}
	for i := range n {
		if got := m.get([]byte(fmt.Sprint(i))); got != int64(i) {
			t.Fatalf("key %d: %d", i, got)
		}
	}
	if m.get([]byte("absent")) != -1 {
		t.Fatal("absent key found")
	}
	m.put([]byte("3"), 99)
	if m.get([]byte("3")) != 99 {
		t.Fatal("update lost")
	}
}

func TestCleanCheckpointCodec(t *testing.T) {
	hs := []horizon{{10, 100}, {20, 200}}
	fd, due, got, err := decodeCleanCheckpoint(encodeCleanCheckpoint(20, 300, hs))
	if err != nil || fd != 20 || due != 300 || len(got) != 2 || got[1] != hs[1] {
		t.Fatalf("%d %d %v %v", fd, due, got, err)
	}
	if _, _, _, err := decodeCleanCheckpoint([]byte("1\n")); err == nil {
		t.Fatal("bad checkpoint accepted")
	}
	// Expired horizons are pruned; the list stays bounded.
	var l []horizon
	for i := range 1000 {
		l = addHorizon(l, int64(i+1)*10, int64(i)*1000, 1_000_000)
	}
	if len(l) > maxHorizons {
		t.Fatalf("%d horizons", len(l))
	}
}

// TestCleanerConcurrentReadersAndAppends: readers scanning from the start and a producer
// appending run while the partition is cleaned again and again; every read succeeds,
// offsets ascend, and each reader's view of the cleaned part has the latest value of
// every key that the producer had written before the read began.
func TestCleanerConcurrentReadersAndAppends(t *testing.T) {
	cfg := compactConfig(t, "compact")
	cfg.SegmentBytes = 2048
	p := openCompacted(t, nil, t.TempDir(), cfg)
	defer p.Close()
	now := time.UnixMilli(1_000_000)
	const keys = 50
	var mu sync.Mutex
	latestVal := map[string]int{}
	write := func(i int) {
		k := fmt.Sprintf("k%02d", i%keys)
		appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec(k, strconv.Itoa(i))), now)
		mu.Lock()
		latestVal[k] = i
		mu.Unlock()
	}
	for i := range 500 {
		write(i)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				want := maps.Clone(latestVal)
				mu.Unlock()
				got := map[string]int{}
				last := int64(-1)
				for off := p.LocalLogStartOffset(); off < p.HighWatermark(); {
					b, ok, err := p.ReadLocal(off, 4096, true, nil)
					if err != nil || !ok {
						errs <- fmt.Errorf("read at %d: ok=%v %w", off, ok, err)
						return
					}
					if len(b) == 0 {
						break
					}
					next := off
					SplitBatches(b, func(h segment.BatchHeader, batch []byte) (bool, error) {
						recs, err := batchRecords(h, batch, nil)
						if err != nil {
							errs <- err
							return false, nil
						}
						for _, r := range recs {
							if r.offset < off {
								continue
							}
							if r.offset <= last {
								errs <- fmt.Errorf("offset %d after %d", r.offset, last)
							}
							last = r.offset
							n, _ := strconv.Atoi(valueOf(r))
							got[string(r.key)] = n
						}
						next = h.LastOffset() + 1
						return true, nil
					})
					off = next
				}
				for k, v := range want {
					if got[k] < v {
						errs <- fmt.Errorf("key %s: read %d, %d was written before the read", k, got[k], v)
						return
					}
				}
			}
		})
	}
	for i := 500; i < 1100; i++ {
		write(i)
		if i%100 == 0 {
			if _, err := p.Clean(ctx, now, cleanIO{m: newOffsetMap(1 << 16)}); err != nil {
				t.Error(err)
			}
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
