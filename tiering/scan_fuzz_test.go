package tiering_test

import (
	"encoding/binary"
	"testing"

	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering"
)

// FuzzScanSegment: the upload scan never panics on arbitrary bytes, and when it accepts a
// segment its indexes are well formed: parallel, entry 0 at position 0, relative offsets
// and positions strictly increasing, positions inside the segment.
func FuzzScanSegment(f *testing.F) {
	var seg []byte
	for i := range 10 {
		b := segmenttest.Batch(int64(i), []byte("hello"), []byte("world"))
		binary.BigEndian.PutUint64(b, uint64(100+2*i))
		seg = append(seg, b...)
	}
	f.Add(seg, 64)
	f.Add(seg[:len(seg)-3], 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, interval int) {
		idx, tidx, _, err := tiering.ScanSegment(b, 100, interval%10000)
		if err != nil {
			return
		}
		if len(idx)%8 != 0 || len(tidx)%12 != 0 || len(idx)/8 != len(tidx)/12 {
			t.Fatalf("index %d bytes, time index %d bytes", len(idx), len(tidx))
		}
		for i := 0; i+8 <= len(idx); i += 8 {
			rel, pos := binary.BigEndian.Uint32(idx[i:]), binary.BigEndian.Uint32(idx[i+4:])
			if i == 0 && pos != 0 {
				t.Fatalf("first block at %d", pos)
			}
			if i > 0 && (rel <= binary.BigEndian.Uint32(idx[i-8:]) || pos <= binary.BigEndian.Uint32(idx[i-4:])) {
				t.Fatalf("index entry %d not increasing", i/8)
			}
			if int(pos) >= len(b) {
				t.Fatalf("position %d outside %d bytes", pos, len(b))
			}
			if binary.BigEndian.Uint32(tidx[i/8*12+8:]) != rel {
				t.Fatalf("time index entry %d not parallel", i/8)
			}
		}
	})
}
