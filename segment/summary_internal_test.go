package segment

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestDecodeCleanMarker: a summary round-trips with the active segment's base; every
// truncation or bit flip of it is refused (nil) without a panic, and so is garbage with a
// valid checksum; a v1 summary (no active base) still decodes.
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
	b := encodeCleanMarker(segs, 5000)
	got, active := decodeCleanMarker(b)
	if len(got) != len(segs) || active != 5000 {
		t.Fatalf("decoded %d records, active %d, want %d, 5000", len(got), active, len(segs))
	}
	for i, e := range got {
		s := segs[i]
		want := segSummary{s.base, s.size.Load(), s.next.Load(), s.maxMark.Load().ts, s.maxMark.Load().off, s.created.Load(), s.modified.Load()}
		if e != want {
			t.Fatalf("record %d: %+v, want %+v", i, e, want)
		}
	}
	none := func(b []byte) bool { s, a := decodeCleanMarker(b); return s == nil && a == -1 }
	if !none([]byte("0\n")) || !none(nil) {
		t.Fatal("a v0 or empty marker has no summary")
	}
	if got, active := decodeCleanMarker(encodeCleanMarker(nil, 0)); got == nil || len(got) != 0 || active != 0 {
		t.Fatalf("empty summary: %v %d", got, active)
	}
	if !none(encodeCleanMarker(segs, 4900)) || !none(encodeCleanMarker(segs, -1)) {
		t.Fatal("an active base at or below the last sealed base was accepted")
	}
	// v1: the same records without the active base.
	v1 := append([]byte(cleanMarkerV1), b[len(cleanMarkerV2):len(b)-4-2]...) // 5000 is a 2-byte varint
	v1 = binary.BigEndian.AppendUint32(v1, crc32.Checksum(v1, castagnoli))
	if got, active := decodeCleanMarker(v1); len(got) != len(segs) || active != -1 {
		t.Fatalf("v1 marker: %d records, active %d", len(got), active)
	}
	checkMarkerDamageRefused(t, b, none, cleanMarkerV2, 64, func(b []byte) { decodeCleanMarker(b) })
}

// checkMarkerDamageRefused checks that none refuses every truncation and every single bit
// flip of the marker b, and feeds decode 2,000 random bodies of up to maxBody bytes after
// the version line, with a valid CRC, which must not panic.
func checkMarkerDamageRefused(t *testing.T, b []byte, none func([]byte) bool, version string, maxBody int, decode func([]byte)) {
	t.Helper()
	for n := range len(b) {
		if !none(b[:n]) {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	for i := range len(b) * 8 {
		c := append([]byte(nil), b...)
		c[i/8] ^= 1 << (i % 8)
		if !none(c) {
			t.Fatalf("bit %d flipped: accepted", i)
		}
	}
	r := rand.New(rand.NewPCG(uint64(len(version)), uint64(maxBody)))
	for range 2000 {
		body := []byte(version)
		for range r.IntN(maxBody) {
			body = append(body, byte(r.Uint32()))
		}
		decode(binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli)))
	}
}

// TestDecodeCleanMarkerV3: a v3 summary round-trips (records kept as read, then segments,
// as Close writes them); every truncation or bit flip is refused (nil, -1) without a panic,
// and so is garbage with a valid checksum; a record with negative fields or bases out of
// order is refused.
func TestDecodeCleanMarkerV3(t *testing.T) {
	var segs []*segment
	var want []segSummary
	for i := range 40 {
		s := newSegment(nil, "d", int64(i*100))
		s.size.Store(int64(1000 + i))
		s.next.Store(int64(i*100 + 100))
		s.setMax(int64(1_700_000_000_000+i), int64(i*100+7))
		s.created.Store(int64(i) << 40)
		s.modified.Store(int64(i)<<40 + 5)
		segs = append(segs, s)
		want = append(want, summaryOf(s))
	}
	kept := recordsOf(want[:15]) // as a lazy log holds them
	b := encodeCleanMarkerV3(kept, segs[15:], 4000)
	recs, active := decodeCleanMarkerV3(b)
	if recs.len() != len(want) || active != 4000 {
		t.Fatalf("decoded %d records, active %d, want %d, 4000", recs.len(), active, len(want))
	}
	for i, e := range recs.all() {
		if e != want[i] || recs.baseAt(i) != want[i].base {
			t.Fatalf("record %d: %+v, want %+v", i, e, want[i])
		}
	}
	none := func(b []byte) bool { r, a := decodeCleanMarkerV3(b); return r == nil && a == -1 }
	if recs, active := decodeCleanMarkerV3(encodeCleanMarkerV3(nil, nil, 0)); recs == nil || recs.len() != 0 || active != 0 {
		t.Fatalf("empty summary: %v %d", recs, active)
	}
	if !none(encodeCleanMarkerV3(kept, segs[15:], 3900)) || !none(encodeCleanMarkerV3(kept, nil, -1)) {
		t.Fatal("an active base at or below the last sealed base was accepted")
	}
	for _, bad := range []func(e *segSummary){
		func(e *segSummary) { e.base = -1 },
		func(e *segSummary) { e.size = -1 },
		func(e *segSummary) { e.size = maxSegmentFileSize + 1 },
		func(e *segSummary) { e.next = e.base - 1 },
		func(e *segSummary) { e.base = want[0].base }, // not ascending
	} {
		w := append([]segSummary(nil), want...)
		bad(&w[3])
		if !none(encodeCleanMarkerV3(recordsOf(w), nil, 4000)) {
			t.Fatalf("bad record %+v accepted", w[3])
		}
	}
	checkMarkerDamageRefused(t, b, none, cleanMarkerV3, 200, func(b []byte) { decodeCleanMarkerV3(b) })
}

// TestSummarySlabPaths: segments opened from the summary get the paths newSegment gives,
// whatever the directory's spelling.
func TestSummarySlabPaths(t *testing.T) {
	bases := []int64{0, 7, 123456789, 1<<63 - 1}
	for _, dir := range []string{"d", "/", "a/b/", "./x/../y", "/tmp//p-0"} {
		l := &Log{dir: dir}
		slab := newSummarySlab(dir, bases)
		for _, base := range bases {
			got := l.openSummarised(segSummary{base: base, next: base, maxTs: 5, maxOff: base}, &lazyCheck{}, slab)
			want := newSegment(nil, dir, base)
			if got.logPath != want.logPath || got.idxPath != want.idxPath || got.tidxPath != want.tidxPath || got.base != base {
				t.Fatalf("dir %q base %d: %q %q %q, want %q %q %q", dir, base,
					got.logPath, got.idxPath, got.tidxPath, want.logPath, want.idxPath, want.tidxPath)
			}
			if m := got.maxMark.Load(); m.ts != 5 || m.off != base || got.unchecked == nil {
				t.Fatalf("dir %q base %d: mark %+v", dir, base, m)
			}
		}
	}
}
