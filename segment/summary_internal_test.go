package segment

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestDecodeCleanMarker: a summary round-trips; every truncation or bit flip of it is
// refused (nil) without a panic, and so is garbage with a valid checksum.
func TestDecodeCleanMarker(t *testing.T) {
	var segs []*segment
	for i := range 50 {
		s := newSegment(nil, "d", int64(i*100))
		s.size.Store(int64(1000 + i))
		s.next.Store(int64(i*100 + 100))
		s.setMax(int64(1_700_000_000_000+i), int64(i*100+7))
		s.created.Store(int64(i) << 40)
		s.modified.Store(int64(i)<<40 + 5)
		segs = append(segs, s)
	}
	b := encodeCleanMarker(segs)
	got := decodeCleanMarker(b)
	if len(got) != len(segs) {
		t.Fatalf("decoded %d records, want %d", len(got), len(segs))
	}
	for i, e := range got {
		s := segs[i]
		want := segSummary{s.base, s.size.Load(), s.next.Load(), s.maxMark.Load().ts, s.maxMark.Load().off, s.created.Load(), s.modified.Load()}
		if e != want {
			t.Fatalf("record %d: %+v, want %+v", i, e, want)
		}
	}
	if decodeCleanMarker([]byte("0\n")) != nil || decodeCleanMarker(nil) != nil {
		t.Fatal("a v0 or empty marker has no summary")
	}
	if got := decodeCleanMarker(encodeCleanMarker(nil)); got == nil || len(got) != 0 {
		t.Fatalf("empty summary: %v", got)
	}
	for n := range len(b) {
		if decodeCleanMarker(b[:n]) != nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	for i := range len(b) * 8 {
		c := append([]byte(nil), b...)
		c[i/8] ^= 1 << (i % 8)
		if decodeCleanMarker(c) != nil {
			t.Fatalf("bit %d flipped: accepted", i)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		body := []byte(cleanMarkerV1)
		for range r.IntN(64) {
			body = append(body, byte(r.Uint32()))
		}
		decodeCleanMarker(binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli)))
	}
}
