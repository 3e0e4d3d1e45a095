package tiering

import (
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
		reflect.TypeFor[ManifestChunk](): 7, reflect.TypeFor[SegmentEntry](): 13,
		reflect.TypeFor[ObjectRef](): 3, reflect.TypeFor[ChunkRef](): 5,
	} {
		if typ.NumField() != n {
			t.Fatalf("%v has %d fields, encodeChunk writes %d: update chunkcache.go", typ, typ.NumField(), n)
		}
	}
	ref := func(k string, i int) ObjectRef { return ObjectRef{Key: k, Size: int64(1000 + i), CRC32C: uint32(0xdeadbe00 + i)} }
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
