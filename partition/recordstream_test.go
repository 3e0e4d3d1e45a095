package partition

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// compressBatch rewrites an uncompressed v2 batch with its records section compressed by
// codec.
func compressBatch(t testing.TB, batch []byte, codec int8) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case codecGzip:
		w := gzip.NewWriter(&buf)
		w.Write(batch[segment.BatchHeaderSize:])
		w.Close()
	case codecLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(batch[segment.BatchHeaderSize:])
		w.Close()
	case codecZstd:
		w, _ := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
		w.Write(batch[segment.BatchHeaderSize:])
		w.Close()
	}
	out := append(append([]byte(nil), batch[:segment.BatchHeaderSize]...), buf.Bytes()...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint16(out[21:], binary.BigEndian.Uint16(out[21:])|uint16(codec))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// A batch of a few kilobytes that inflates to 64 MiB (a decompression bomb) is walked for
// ListOffsets with a bounded amount of memory, and gives the same answers as a small one.
func TestWalkRecordsDecompressionBombBoundedMemory(t *testing.T) {
	plain := segmenttest.Batch(1000, []byte("first"), make([]byte, 64<<20), []byte("last"))
	for _, codec := range []int8{codecGzip, codecLZ4, codecZstd} {
		bomb := compressBatch(t, plain, codec)
		h, err := segment.DecodeBatchHeader(bomb)
		if err != nil {
			t.Fatal(err)
		}
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		var got []int64
		if err := walkRecords(h, bomb, func(o, ts int64) bool { got = append(got, o, ts); return true }); err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		runtime.ReadMemStats(&ms1)
		alloc := ms1.TotalAlloc - ms0.TotalAlloc
		t.Logf("codec %d: %d-byte batch inflating to 64 MiB: walk allocated %d KiB", codec, len(bomb), alloc>>10)
		if want := []int64{0, 1000, 1, 1001, 2, 1002}; !equalInts(got, want) {
			t.Errorf("codec %d: walk = %v, want %v", codec, got, want)
		}
		if alloc > 16<<20 {
			t.Errorf("codec %d: walking the bomb allocated %d MiB", codec, alloc>>20)
		}
		// ListOffsets by timestamp finds the record after the bomb's big one.
		if off, ts, ok, err := firstOffsetAtOrAfter(bomb, 1002, 0); err != nil || !ok || off != 2 || ts != 1002 {
			t.Errorf("codec %d: firstOffsetAtOrAfter = %d %d %v %v", codec, off, ts, ok, err)
		}
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
