package tiering_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/strata-io/strata/tiering"
)

func chunkCopies(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "manifest-*.chunk"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Spilled manifest chunks are copied into the partition directory; a broker opening the
// partition again reads them there instead of the bucket, refetches a damaged copy, and
// remote retention removes the copies of the chunks it drops.
func TestManifestChunkLocalCopies(t *testing.T) {
	ctx := t.Context()
	c := newChunkedPartition(t)
	store, chunkGets, failChunks, dir, l, e, p := c.store, &c.chunkGets, &c.failChunks, c.dir, c.l, c.e, c.p
	want := p.Entries()
	copies := chunkCopies(t, dir)
	if len(want) < 12 || len(copies) != (len(want)-1)/4 {
		t.Fatalf("%d entries, %d chunk copies, want one per 4 spilled entries", len(want), len(copies))
	}
	e.m.ClosePartition("t", 0)

	// A new broker: every chunk comes from the local copies, none from the bucket.
	failChunks.Store(true)
	chunkGets.Store(0)
	e2 := newEnv(t, store, testConfig())
	p2, err := e2.m.OpenPartition(ctx, "t", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatalf("open with chunk GETs failing: %v", err)
	}
	if got := p2.Entries(); !reflect.DeepEqual(entryKeys(got), entryKeys(want)) {
		t.Fatalf("entries from the local copies differ: %d vs %d", len(got), len(want))
	}
	if n := chunkGets.Load(); n != 0 {
		t.Fatalf("%d chunk GETs with every chunk copied locally", n)
	}
	e2.m.ClosePartition("t", 0)

	// A damaged copy is fetched again (and rewritten).
	b, err := os.ReadFile(copies[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(copies[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	failChunks.Store(false)
	chunkGets.Store(0)
	e3 := newEnv(t, store, testConfig())
	p3, err := e3.m.OpenPartition(ctx, "t", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p3.Entries(); !reflect.DeepEqual(entryKeys(got), entryKeys(want)) {
		t.Fatalf("entries after a damaged copy differ")
	}
	if n := chunkGets.Load(); n != 1 {
		t.Fatalf("%d chunk GETs with one damaged copy, want 1", n)
	}
	if b2, _ := os.ReadFile(copies[0]); string(b2) == string(b) {
		t.Fatal("the damaged copy was not rewritten")
	}

	// Retention past the first two chunks removes their copies.
	if err := p3.SetLogStartOffset(ctx, want[8].BaseOffset); err != nil {
		t.Fatal(err)
	}
	if got := chunkCopies(t, dir); len(got) != len(copies)-2 {
		t.Fatalf("%d chunk copies after retention dropped 2 of %d chunks", len(got), len(copies))
	}
}

func entryKeys(es []tiering.SegmentEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Log.Key)
	}
	return out
}

// Uploads extend the remote snapshot in place: every snapshot taken along the way still
// reads its own entries, and the last one equals a fresh load of the manifest.
func TestUploadSnapshotsStayConsistent(t *testing.T) {
	ctx := t.Context()
	store := newMem()
	l := openLog(t, t.TempDir(), 300)
	e := newEnv(t, store, testConfig())
	p, err := e.m.OpenPartition(ctx, "t", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var snaps [][]tiering.SegmentEntry
	var keys [][]string
	for range 12 {
		produce(t, l, 15, 1000)
		if err := p.UploadPending(ctx); err != nil {
			t.Fatal(err)
		}
		s := p.Entries()
		snaps = append(snaps, s)
		keys = append(keys, entryKeys(s))
	}
	for i, s := range snaps {
		if !reflect.DeepEqual(entryKeys(s), keys[i]) {
			t.Fatalf("snapshot %d changed after later uploads", i)
		}
	}
	var bytes int64
	for _, x := range snaps[len(snaps)-1] {
		bytes += x.Size
	}
	if p.RemoteBytes() != bytes {
		t.Fatalf("RemoteBytes %d, entries sum to %d", p.RemoteBytes(), bytes)
	}
	_, fresh, err := tiering.ReadPartitionManifest(ctx, store, "", "t", testTopicID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(entryKeys(fresh), keys[len(keys)-1]) {
		t.Fatalf("in-memory entries differ from the manifest in the bucket")
	}
	start, end, _ := p.Bounds()
	if start != fresh[0].BaseOffset || end != fresh[len(fresh)-1].LastOffset+1 {
		t.Fatalf("bounds [%d, %d), manifest [%d, %d]", start, end, fresh[0].BaseOffset, fresh[len(fresh)-1].LastOffset)
	}
}

// One head write may name several segments and spill the head more than once on the way:
// the chain and the entries are those that appending them one by one gives.
func TestManifestAppendBatches(t *testing.T) {
	entry := func(base int64) tiering.SegmentEntry {
		k := func(ext string) string { return tiering.SegmentObjectKey("p/", base, "id", ext) }
		return tiering.SegmentEntry{ID: "id", BaseOffset: base, LastOffset: base + 9, Size: 100,
			Log: tiering.ObjectRef{Key: k(".log")}, Index: tiering.ObjectRef{Key: k(".index")}, TimeIndex: tiering.ObjectRef{Key: k(".timeindex")}}
	}
	var batches [][]tiering.SegmentEntry
	base := int64(0)
	for _, n := range []int{3, 1, 9, 4, 1, 2} { // 20 entries; spills inside the 9 and the 4
		var b []tiering.SegmentEntry
		for range n {
			b = append(b, entry(base))
			base += 10
		}
		batches = append(batches, b)
	}
	mem, loaded, memChunks, loadedChunks, err := tiering.ManifestAppendBatches(t.Context(), newMem(), "p/", 4, batches)
	if err != nil {
		t.Fatal(err)
	}
	if len(mem) != 20 || !reflect.DeepEqual(entryKeys(mem), entryKeys(loaded)) {
		t.Fatalf("%d entries in memory, %d loaded, or they differ", len(mem), len(loaded))
	}
	for i, e := range loaded {
		if e.BaseOffset != int64(10*i) {
			t.Fatalf("entry %d has base %d", i, e.BaseOffset)
		}
	}
	if len(memChunks) != 4 || !reflect.DeepEqual(memChunks, loadedChunks) {
		t.Fatalf("chunks in memory %+v, loaded %+v, want 4 equal", memChunks, loadedChunks)
	}
	for i, c := range loadedChunks {
		if c.FirstBase != int64(40*i) || c.Count != 4 || c.LastOffset != int64(40*i+39) {
			t.Fatalf("chunk %d: %+v", i, c)
		}
	}
}
