package tiering

import (
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"
)

// TestChunkCacheCodec: a chunk with every field set survives the local copy byte for byte;
// truncated or damaged payloads are refused without a panic; a copy in the old (gob) layout
// is refused and removed; and the codec knows every field of the types it writes.
func TestChunkCacheCodec(t *testing.T) {
	for typ, n := range map[reflect.Type]int{
		reflect.TypeFor[ManifestChunk](): 7, reflect.TypeFor[SegmentEntry](): 20,
		reflect.TypeFor[ObjectRef](): 4, reflect.TypeFor[DeletionRecord](): 10, reflect.TypeFor[ChunkRef](): 5,
	} {
		if typ.NumField() != n {
			t.Fatalf("%v has %d fields, encodeChunk writes %d: update chunkcache.go", typ, typ.NumField(), n)
		}
	}
	ref := func(k string, i int) ObjectRef {
		return ObjectRef{Key: k, Size: int64(1000 + i), CRC32C: uint32(0xdeadbe00 + i), SHA256: fmt.Sprintf("%064x", i)}
	}
	ch := &ManifestChunk{Version: 1, Kind: "chunk", Topic: "t", TopicID: "tid", Partition: 3,
		Prev: &ChunkRef{Key: "p/manifest-x.json", FirstBase: -5, LastOffset: 99, Count: 128, Bytes: 1 << 40}}
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.Local}
	for i := range 40 {
		e := SegmentEntry{ID: "id", BaseOffset: int64(i * 10), LastOffset: int64(i*10 + 9), FirstTimestamp: -1,
			MaxTimestamp: 1_700_000_000_000 + int64(i), Size: int64(i+1) << 33, Batches: 7,
			UploadTime: time.Date(2026, 11, 22, 5, 10, i, 123456789, zones[i%len(zones)]),
			Log:        ref("a.log", i), Index: ref("a.index", i), TimeIndex: ref("a.timeindex", i)}
		if i%2 == 0 {
			r := ref("a.snapshot", i)
			e.ProducerSnapshot, e.ProducerSnapshotOffset = &r, int64(i*10+10)
		}
		if i%3 != 0 {
			e.LeaderEpochs = &EpochRange{Min: -1, Max: int32(i)}
		}
		if i%4 != 0 {
			r := ref("a.hashes", i)
			e.Hashes, e.HashBlock = &r, 4<<20
			e.ChainSeq, e.ChainPrev = int64(i+1), fmt.Sprintf("%064x", i)
		}
		if i%5 == 1 {
			e.Deletions = &DeletionRecords{{Seq: int64(i), Prev: "p", Time: 17, Reason: "retention", FromOffset: 1,
				LogStartOffset: 9, Segments: 2, Bytes: 99, LastDroppedSeq: int64(i - 1), LastDroppedHash: "h"}}
		}
		if i%4 == 1 {
			l := AbortedTxnList{{ProducerID: int64(i), FirstOffset: int64(i * 10), LastOffset: int64(i*10 + 5), LastStableOffset: int64(i*10 + 6)}}
			e.AbortedTxns = &l
		}
		ch.Segments = append(ch.Segments, e)
	}
	b := encodeChunk(nil, ch)
	got, err := decodeChunk(b)
	if err != nil || !reflect.DeepEqual(got, ch) {
		t.Fatalf("round trip: %v\n%+v\nwant %+v", err, got, ch)
	}
	ch2 := *ch
	ch2.Prev = nil
	if got, err := decodeChunk(encodeChunk(nil, &ch2)); err != nil || !reflect.DeepEqual(got, &ch2) {
		t.Fatalf("without prev: %v %+v", err, got)
	}
	for n := range len(b) {
		if _, err := decodeChunk(b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	for i := range len(b) {
		c := append([]byte(nil), b...)
		c[i] ^= 0xff
		decodeChunk(c) // must not panic
	}

	dir := t.TempDir()
	c := &chunkCache{dir: dir}
	key := "topic/0/manifest-0001.json"
	c.put(key, ch)
	if got := c.get(&ChunkRef{Key: key, FirstBase: 0}); !reflect.DeepEqual(got, ch) {
		t.Fatalf("cache get: %+v", got)
	}
	old := append([]byte("SCHUNK01"), make([]byte, 12)...)
	os.WriteFile(c.path(key), old, 0o644)
	if got := c.get(&ChunkRef{Key: key, FirstBase: 0}); got != nil {
		t.Fatalf("old layout accepted: %+v", got)
	}
	if _, err := os.Stat(c.path(key)); !os.IsNotExist(err) {
		t.Fatalf("old copy not removed: %v", err)
	}
}

// BenchmarkDecodeChunk decodes a local copy of a full chunk (128 entries) as loadManifest
// does ~780 times for a history of 100,000 segments.
func BenchmarkDecodeChunk(b *testing.B) {
	ch := &ManifestChunk{Version: 1, Kind: "chunk", Topic: "history", TopicID: "0b5e3a52-9d5c-4a4e-8f4a-1c7f8e2d9a10", Partition: 0}
	key := func(i int, ext string) string {
		return fmt.Sprintf("history-0b5e3a52/0/%020d-6f1d2c3b-4a5e-4f60-9a7b-8c9d0e1f2a3b%s", i, ext)
	}
	for i := range 128 {
		ch.Segments = append(ch.Segments, SegmentEntry{ID: "6f1d2c3b-4a5e-4f60-9a7b-8c9d0e1f2a3b", BaseOffset: int64(i), LastOffset: int64(i),
			Size: 100, Batches: 1, UploadTime: time.Now(), Log: ObjectRef{Key: key(i, ".log"), Size: 100},
			Index: ObjectRef{Key: key(i, ".index")}, TimeIndex: ObjectRef{Key: key(i, ".timeindex"), Size: 12}})
	}
	data := encodeChunk(nil, ch)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeChunk(data); err != nil {
			b.Fatal(err)
		}
	}
}
