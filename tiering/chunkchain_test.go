package tiering_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/strata-io/strata/tiering"
)

// TestManifestChainRecord: loading a manifest records its chunk chain locally; later loads
// take the chain from the record (reading the chunks concurrently) and give exactly the
// entries and chunks of a load from the bucket alone, also when the record is short of
// newer chunks (uploads since), names chunks retention dropped, or is wrong (then the
// chain is walked and the record rewritten).
func TestManifestChainRecord(t *testing.T) {
	ctx := t.Context()
	c := newChunkedPartition(t)
	store, chunkGets, failChunks, dir, l, e, p := c.store, &c.chunkGets, &c.failChunks, c.dir, c.l, c.e, c.p
	prefix := tiering.PartitionPrefix("", "t", testTopicID, 0)
	// fresh is the manifest as a load from the bucket alone (no local copies) finds it.
	fresh := func() ([]tiering.SegmentEntry, []tiering.ChunkRef) {
		t.Helper()
		failChunks.Store(false)
		es, cs, err := tiering.LoadManifestForTest(ctx, store, prefix, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return es, cs
	}
	load := func(what string, wantEntries []tiering.SegmentEntry, wantChunks []tiering.ChunkRef, wantGets int64) {
		t.Helper()
		failChunks.Store(true) // every chunk must come from the local copies (GETs fail)
		chunkGets.Store(0)
		es, cs, err := tiering.LoadManifestForTest(ctx, store, prefix, dir)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !reflect.DeepEqual(es, wantEntries) || !reflect.DeepEqual(cs, wantChunks) {
			t.Fatalf("%s: %d entries, %d chunks; want %d, %d (or they differ)", what, len(es), len(cs), len(wantEntries), len(wantChunks))
		}
		if n := chunkGets.Load(); n != wantGets {
			t.Fatalf("%s: %d chunk GETs, want %d", what, n, wantGets)
		}
		if rec := tiering.ChainRecordForTest(dir); !reflect.DeepEqual(rec, wantChunks) {
			t.Fatalf("%s: chain record %d refs, want the %d live chunks", what, len(rec), len(wantChunks))
		}
	}
	wantE, wantC := fresh()
	if len(wantC) < 10 {
		t.Fatalf("%d chunks, want a long chain", len(wantC))
	}
	load("first load (walk)", wantE, wantC, 0)
	load("from the record", wantE, wantC, 0)

	// A record that skips a chunk, or names one that is not in the chain, is not trusted.
	PutBad := func(refs []tiering.ChunkRef) { tiering.PutChainRecordForTest(dir, refs) }
	PutBad(slices.Delete(slices.Clone(wantC), 5, 6))
	load("record missing a chunk", wantE, wantC, 0)
	bad := slices.Clone(wantC)
	bad[3].Key = strings.Replace(bad[3].Key, "manifest-", "manifest-x", 1) // no such chunk
	PutBad(bad)
	load("record naming a wrong chunk", wantE, wantC, 1) // its (failed) GET, then the walk
	bad = slices.Clone(wantC)
	bad[0].Count++
	PutBad(bad)
	load("record with a wrong oldest ref", wantE, wantC, 0)

	// Uploads since: the record is short of the newest chunks.
	produce(t, l, 60, 5000)
	if err := p.UploadPending(ctx); err != nil {
		t.Fatal(err)
	}
	wantE2, wantC2 := fresh()
	if len(wantC2) <= len(wantC) || ChainRecordLen(dir) != len(wantC) {
		t.Fatalf("%d chunks after more uploads (was %d); record %d", len(wantC2), len(wantC), ChainRecordLen(dir))
	}
	load("record short of newer chunks", wantE2, wantC2, 0)

	// Retention dropped the oldest chunks: the record still names them.
	if err := p.SetLogStartOffset(ctx, wantE2[10].BaseOffset); err != nil {
		t.Fatal(err)
	}
	wantE3, wantC3 := fresh()
	if len(wantC3) >= len(wantC2) {
		t.Fatalf("retention dropped no chunk: %d -> %d", len(wantC2), len(wantC3))
	}
	load("record naming dropped chunks", wantE3, wantC3, 0)

	// The head alone tells the remote end.
	failChunks.Store(true)
	_, end, _ := p.Bounds()
	if got, err := e.m.RemoteEndOffset(ctx, "t", testTopicID, 0); err != nil || got != end {
		t.Fatalf("RemoteEndOffset %d, %v; want %d", got, err, end)
	}
	if got, err := e.m.RemoteEndOffset(ctx, "t", testTopicID, 7); err != nil || got != 0 {
		t.Fatalf("RemoteEndOffset of a partition without manifest: %d, %v", got, err)
	}
	e.m.ClosePartition("t", 0)
}

func ChainRecordLen(dir string) int { return len(tiering.ChainRecordForTest(dir)) }

// BenchmarkLoadManifestLocal loads a manifest of 20,000 entries (157 chunks of 128) from the
// local chunk copies, with the chain record ("record") and without ("walk").
func BenchmarkLoadManifestLocal(b *testing.B) {
	const n, per = 20000, 128
	entry := func(base int64) tiering.SegmentEntry {
		k := func(ext string) string {
			return tiering.SegmentObjectKey("p/", base, "0f8fad5b-d9cb-469f-a165-70867728950e", ext)
		}
		return tiering.SegmentEntry{ID: "0f8fad5b-d9cb-469f-a165-70867728950e", BaseOffset: base, LastOffset: base, Size: 100, Batches: 1,
			Log: tiering.ObjectRef{Key: k(".log"), Size: 100}, Index: tiering.ObjectRef{Key: k(".index"), Size: 8}, TimeIndex: tiering.ObjectRef{Key: k(".timeindex"), Size: 12}}
	}
	var batch []tiering.SegmentEntry
	for i := range n {
		batch = append(batch, entry(int64(i)))
	}
	store := newMem()
	if _, _, _, _, err := tiering.ManifestAppendBatches(b.Context(), store, "p/", per, [][]tiering.SegmentEntry{batch}); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"record", "walk"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			if _, _, err := tiering.LoadManifestForTest(b.Context(), store, "p/", dir); err != nil { // copies the chunks
				b.Fatal(err)
			}
			for b.Loop() {
				if mode == "walk" {
					os.Remove(filepath.Join(dir, "manifest-chain.idx"))
				}
				es, _, err := tiering.LoadManifestForTest(b.Context(), store, "p/", dir)
				if err != nil || len(es) != n {
					b.Fatalf("%d entries, %v", len(es), err)
				}
			}
		})
	}
}
