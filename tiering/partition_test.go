package tiering_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

func TestUploadThenReadAcrossSegmentsByteIdentical(t *testing.T) {
	e := newEnv(t, newMem(), testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 300, 1_000_000)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	p, err := e.m.OpenPartitionLocal(t.Context(), "orders", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := p.Bounds(); ok {
		t.Fatal("bounds ok before any upload")
	}
	segs := sealed(l)
	if len(segs) < 10 {
		t.Fatalf("only %d sealed segments", len(segs))
	}
	for _, s := range segs {
		if p.Uploaded(s) {
			t.Fatalf("segment %d uploaded before the uploader ran", s.BaseOffset)
		}
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if !p.Uploaded(s) {
			t.Fatalf("segment %d not uploaded", s.BaseOffset)
		}
	}
	start, end, ok := p.Bounds()
	if !ok || start != 0 || end != l.NextOffset() {
		t.Fatalf("bounds [%d, %d) ok=%v, want [0, %d)", start, end, ok, l.NextOffset())
	}
	want := localBytes(t, l, 0)
	for _, maxBytes := range []int{1, 700, 5000, 1 << 20} {
		if got := remoteBytes(t, p, 0, maxBytes); !bytes.Equal(got, want) {
			t.Fatalf("maxBytes %d: remote bytes (%d) differ from local (%d)", maxBytes, len(got), len(want))
		}
	}
	// Every offset: the first returned batch contains it, and matches the local read.
	for off := int64(0); off < end; off += 7 {
		b, err := p.Read(t.Context(), off, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		base, last, size, err := tiering.BatchBounds(b)
		if err != nil || base > off || last < off || size != int64(len(b)) {
			t.Fatalf("read at %d: batch [%d, %d] size %d of %d (%v)", off, base, last, size, len(b), err)
		}
		rr, _ := l.Read(off, 1, true)
		lb, _ := rr.Bytes()
		if !bytes.Equal(lb, b) {
			t.Fatalf("read at %d differs from local", off)
		}
	}
	// minOneBatch=false with a tiny limit returns nothing (not an error).
	if b, err := p.Read(t.Context(), 0, 1, false); err != nil || len(b) != 0 {
		t.Fatalf("tiny read without minOneBatch: %d bytes, %v", len(b), err)
	}
	if _, err := p.Read(t.Context(), end, 100, true); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("read at end: %v", err)
	}
	// FindTimestamp agrees with the local log.
	for _, ts := range []int64{0, 1_000_000, 1_000_555, 1_001_234, 1_002_990} {
		rb, rfound, err := p.FindTimestamp(t.Context(), ts)
		if err != nil {
			t.Fatal(err)
		}
		lr, lfound, err := l.FindTimestamp(ts)
		if err != nil {
			t.Fatal(err)
		}
		lb, _ := lr.Bytes()
		if rfound != lfound || !bytes.Equal(rb, lb) {
			t.Fatalf("ts %d: remote found=%v (%d bytes), local found=%v (%d bytes)", ts, rfound, len(rb), lfound, len(lb))
		}
	}
	if _, found, err := p.FindTimestamp(t.Context(), 9_000_000); err != nil || found {
		t.Fatalf("future timestamp: found=%v err=%v", found, err)
	}
	// Local copies may go now; remote reads do not depend on them.
	if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 0}, time.Now(), p.Uploaded); err != nil {
		t.Fatal(err)
	}
	if len(l.Segments()) != 1 {
		t.Fatalf("%d local segments left, want only the active one", len(l.Segments()))
	}
	if got := remoteBytes(t, p, 0, 3000); !bytes.Equal(got, want) {
		t.Fatal("remote bytes differ after local deletion")
	}
	if v := e.m.CopySegmentsMetric("orders"); int(v) != len(segs) {
		t.Fatalf("copy segments metric %v, want %d", v, len(segs))
	}
	if v := e.m.FetchBytesMetric("orders"); v == 0 {
		t.Fatal("fetch bytes metric not counted")
	}
}

func TestManifestSpillsAndReloads(t *testing.T) {
	store := newMem()
	e := newEnv(t, store, testConfig())
	l := openLog(t, t.TempDir(), 1024)
	produce(t, l, 200, 5000)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "spill", testTopicID, 3, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := len(p.Entries())
	if n < 20 {
		t.Fatalf("only %d entries", n)
	}
	prefix := tiering.PartitionPrefix("", "spill", testTopicID, 3)
	var chunks int
	store.List(t.Context(), prefix+"manifest-", func(oi tiering.ObjectInfo) error { chunks++; return nil })
	if want := (n - 1) / 4; chunks != want {
		t.Fatalf("%d spilled chunks for %d entries, want %d", chunks, n, want)
	}
	head, _ := store.Bytes(prefix + tiering.HeadManifestName)
	h, err := tiering.DecodePartitionHead(head)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Segments) > 4 || h.LastChunk == nil {
		t.Fatalf("head holds %d entries, last chunk %v", len(h.Segments), h.LastChunk)
	}
	// A second broker sees the same partition from the bucket alone.
	e2 := newEnv(t, store, testConfig())
	p2, err := e2.m.OpenPartitionLocal(t.Context(), "spill", testTopicID, 3, nil, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Entries()) != n {
		t.Fatalf("reloaded %d entries, want %d", len(p2.Entries()), n)
	}
	for i, en := range p2.Entries() {
		if en != p.Entries()[i] && !(en.BaseOffset == p.Entries()[i].BaseOffset && en.Log == p.Entries()[i].Log) {
			t.Fatalf("entry %d differs after reload", i)
		}
	}
	if !bytes.Equal(remoteBytes(t, p2, 0, 4096), localBytes(t, l, 0)) {
		t.Fatal("reloaded partition reads differ")
	}
}

func TestManifestUpdateCostBounded(t *testing.T) {
	const n = 5000
	var entries []tiering.SegmentEntry
	for i := range int64(n) {
		entries = append(entries, tiering.SegmentEntry{
			ID: "00000000-0000-0000-0000-000000000000", BaseOffset: i * 1000, LastOffset: i*1000 + 999,
			FirstTimestamp: 1_700_000_000_000 + i, MaxTimestamp: 1_700_000_000_999 + i, Size: 1 << 30, Batches: 1000,
			UploadTime: time.Now(),
			Log:        tiering.ObjectRef{Key: tiering.SegmentObjectKey("t-x/0/", i*1000, "u", ".log"), Size: 1 << 30, CRC32C: 1},
			Index:      tiering.ObjectRef{Key: tiering.SegmentObjectKey("t-x/0/", i*1000, "u", ".index"), Size: 8000},
			TimeIndex:  tiering.ObjectRef{Key: tiering.SegmentObjectKey("t-x/0/", i*1000, "u", ".timeindex"), Size: 12000},
		})
	}
	costs, reloaded, err := tiering.ManifestAppendCosts(t.Context(), newMem(), "t-x/0/", 50, entries)
	if err != nil {
		t.Fatal(err)
	}
	first, late := slices.Max(costs[:200]), slices.Max(costs[n-200:])
	// History grew 25x between the two windows; the largest update may differ only by the
	// width of the growing offsets in the JSON.
	if late > first*11/10 {
		t.Fatalf("largest manifest update grew from %d to %d bytes as history grew", first, late)
	}
	if first > 2*51*600 {
		t.Fatalf("largest manifest update %d bytes: more than two chunks' worth", first)
	}
	if reloaded != n {
		t.Fatalf("reloaded %d entries, want %d", reloaded, n)
	}
}

func TestRemoteRetention(t *testing.T) {
	store := newMem()
	e := newEnv(t, store, testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 200, 1_000_000)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "ret", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	entries := p.Entries()
	// retention.ms: everything with max timestamp below entries[3]'s goes.
	now := time.UnixMilli(entries[2].MaxTimestamp + 1 + 60_000)
	start, err := p.ApplyRetention(t.Context(), 60_000, -1, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if start != entries[2].LastOffset+1 {
		t.Fatalf("start %d after time retention, want %d", start, entries[2].LastOffset+1)
	}
	for _, en := range entries[:3] {
		for _, r := range en.Objects() {
			if _, err := store.Stat(t.Context(), r.Key); !errors.Is(err, tiering.ErrNotExist) {
				t.Fatalf("object %s of expired segment still exists (%v)", r.Key, err)
			}
		}
	}
	if _, err := p.Read(t.Context(), 0, 100, true); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("read below remote start: %v", err)
	}
	// retention.bytes over the whole log (remote + local).
	var total int64
	for _, en := range p.Entries() {
		total += en.Size
	}
	keep := p.Entries()[len(p.Entries())-2].Size + p.Entries()[len(p.Entries())-1].Size
	start, err = p.ApplyRetention(t.Context(), -1, keep+100, 100, now)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Entries()); n != 2 || start != p.Entries()[0].BaseOffset {
		t.Fatalf("%d entries left (start %d), want 2", n, start)
	}
	// DeleteRecords inside a segment: reads start at the first batch at or above it.
	mid := p.Entries()[0].BaseOffset + 3
	if err := p.SetLogStartOffset(t.Context(), mid); err != nil {
		t.Fatal(err)
	}
	b, err := p.Read(t.Context(), mid, 1<<20, true)
	if err != nil || lastOffsetOf(t, b[:mustSize(t, b)]) < mid {
		t.Fatalf("read at log start %d: %v", mid, err)
	}
	// The bucket agrees after a reload.
	e2 := newEnv(t, store, testConfig())
	p2, err := e2.m.OpenPartitionLocal(t.Context(), "ret", testTopicID, 0, nil, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := p2.Bounds(); s != mid || len(p2.Entries()) != 2 {
		t.Fatalf("reloaded start %d with %d entries", s, len(p2.Entries()))
	}
	if v := e.m.DeletedSegmentsMetric("ret"); int(v) != len(entries)-2 {
		t.Fatalf("deleted segments metric %v, want %d", v, len(entries)-2)
	}
	// Spilled chunks wholly below the start were deleted too: only live chunks remain.
	var chunkKeys []string
	store.List(t.Context(), tiering.PartitionPrefix("", "ret", testTopicID, 0)+"manifest-", func(oi tiering.ObjectInfo) error {
		chunkKeys = append(chunkKeys, oi.Key)
		return nil
	})
	if len(chunkKeys) > 1 {
		t.Fatalf("dead manifest chunks left: %v", chunkKeys)
	}
}

func mustSize(t *testing.T, b []byte) int64 {
	t.Helper()
	_, _, size, err := tiering.BatchBounds(b)
	if err != nil {
		t.Fatal(err)
	}
	return size
}

func TestOrphanSweep(t *testing.T) {
	store := newMem()
	e := newEnv(t, store, testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 60, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "orph", testTopicID, 1, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	prefix := tiering.PartitionPrefix("", "orph", testTopicID, 1)
	orphan := tiering.SegmentObjectKey(prefix, 999999, "dead-upload", ".log")
	store.Put(t.Context(), orphan, strings.NewReader("partial"), 7)
	before := store.Len()
	n, err := p.SweepOrphans(t.Context(), time.Now())
	if err != nil || n != 0 {
		t.Fatalf("young orphan swept: n=%d err=%v", n, err)
	}
	n, err = p.SweepOrphans(t.Context(), time.Now().Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("sweep after grace: n=%d err=%v", n, err)
	}
	if _, err := store.Stat(t.Context(), orphan); !errors.Is(err, tiering.ErrNotExist) {
		t.Fatal("orphan survived")
	}
	if store.Len() != before-1 {
		t.Fatalf("sweep deleted %d objects, want 1", before-store.Len())
	}
	if !bytes.Equal(remoteBytes(t, p, 0, 4096), localBytes(t, l, 0)) {
		t.Fatal("named objects damaged by the sweep")
	}
	if v := e.m.OrphansMetric(); v != 1 {
		t.Fatalf("orphans metric %v", v)
	}
}

func TestRestoreOntoEmptyDataDir(t *testing.T) {
	store := newMem()
	cfg := testConfig()
	cfg.Prefix = "cluster-a"
	e := newEnv(t, store, cfg)
	if err := e.m.WriteTopicManifest(t.Context(), tiering.TopicManifest{Topic: "events", TopicID: testTopicID, Partitions: 2, Configs: map[string]string{"retention.ms": "-1"}}); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 100, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "events", testTopicID, 1, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := localBytes(t, l, 0)
	end := l.NextOffset()

	// A new broker with an empty data dir.
	tms, err := tiering.Restore(t.Context(), store, "cluster-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(tms) != 1 || tms[0].Topic != "events" || tms[0].TopicID != testTopicID || tms[0].Partitions != 2 || tms[0].Configs["retention.ms"] != "-1" {
		t.Fatalf("restored %+v", tms)
	}
	if other, err := tiering.Restore(t.Context(), store, "cluster-b"); err != nil || len(other) != 0 {
		t.Fatalf("other prefix: %v %v", other, err)
	}
	e2 := newEnv(t, store, cfg)
	l2 := openLog(t, t.TempDir(), 2048)
	p2, err := e2.m.OpenPartition(t.Context(), "events", tms[0].TopicID, 1, l2, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	restartAtRemoteEnd(t, l2, p2)
	if l2.NextOffset() != end || l2.LogStartOffset() != end {
		t.Fatalf("restored local log at [%d, %d), want %d", l2.LogStartOffset(), l2.NextOffset(), end)
	}
	if got := remoteBytes(t, p2, 0, 4096); !bytes.Equal(got, want) {
		t.Fatal("restored remote reads differ")
	}
	produce(t, l2, 30, 10_000)
	l2.Roll()
	if err := p2.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, e2end, _ := p2.Bounds(); e2end != l2.NextOffset() || e2end <= end {
		t.Fatalf("remote end %d after new produce, want %d", e2end, l2.NextOffset())
	}
	if got := remoteBytes(t, p2, 0, 4096); !bytes.Equal(got, append(want, localBytes(t, l2, end)...)) {
		t.Fatal("remote reads across the restore point differ")
	}
	// Partition 0 never uploaded anything: opening it on an empty log changes nothing.
	l3 := openLog(t, t.TempDir(), 2048)
	if _, err := e2.m.OpenPartition(t.Context(), "events", tms[0].TopicID, 0, l3, tiering.PartitionConfig{}); err != nil {
		t.Fatal(err)
	}
	if l3.NextOffset() != 0 {
		t.Fatalf("empty partition restarted at %d", l3.NextOffset())
	}
}
