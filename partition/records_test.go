package partition

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/strata-io/strata/partition/partitiontest"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// testBatch builds a v2 record batch (partitiontest.Batch).
func testBatch(t testing.TB, codec int8, firstTs int64, tsDeltas []int64, xerial bool) []byte {
	t.Helper()
	return partitiontest.Batch(t, codec, firstTs, tsDeltas, xerial)
}

func TestRecordsTimestampLookupEveryCodec(t *testing.T) {
	deltas := []int64{0, 10, 5, 30, 30, 20}
	f := func(name string, codec int8, xerial bool) {
		t.Run(name, func(t *testing.T) {
			b := testBatch(t, codec, 1000, deltas, xerial)
			binary.BigEndian.PutUint64(b[0:], 100) // base offset 100
			h, err := segment.DecodeBatchHeader(b)
			if err != nil || h.Codec() != codec || h.NumRecords != 6 || h.Size() != int64(len(b)) {
				t.Fatalf("header %+v, err %v", h, err)
			}
			var got []int64
			if err := walkRecords(h, b, func(o, ts int64) bool { got = append(got, o, ts); return true }); err != nil {
				t.Fatal(err)
			}
			want := []int64{100, 1000, 101, 1010, 102, 1005, 103, 1030, 104, 1030, 105, 1020}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("walk = %v, want %v", got, want)
			}
			check := func(ts, minOff, wantOff, wantTs int64, wantFound bool) {
				t.Helper()
				o, rts, found, err := firstOffsetAtOrAfter(b, ts, minOff)
				if err != nil || found != wantFound || (found && (o != wantOff || rts != wantTs)) {
					t.Fatalf("firstOffsetAtOrAfter(%d, %d) = %d %d %v %v; want %d %d %v", ts, minOff, o, rts, found, err, wantOff, wantTs, wantFound)
				}
			}
			check(0, 0, 100, 1000, true)
			check(1006, 0, 101, 1010, true)
			check(1011, 0, 103, 1030, true)
			check(1030, 104, 104, 1030, true)
			check(1000, 105, 105, 1020, true)
			check(1031, 0, 0, 0, false)
			o, ts, err := offsetOfMaxTimestamp(b)
			if err != nil || o != 103 || ts != 1030 {
				t.Fatalf("offsetOfMaxTimestamp = %d %d %v", o, ts, err)
			}
		})
	}
	f("none", codecNone, false)
	f("gzip", codecGzip, false)
	f("snappy", codecSnappy, false)
	f("snappy-xerial", codecSnappy, true)
	f("lz4", codecLZ4, false)
	f("zstd", codecZstd, false)
}

func TestRecordsLogAppendTime(t *testing.T) {
	b := testBatch(t, codecNone, 1000, []int64{0, 1, 2}, false)
	binary.BigEndian.PutUint16(b[21:], attrTimestampLogAppend)
	binary.BigEndian.PutUint64(b[35:], 5000)
	o, ts, found, err := firstOffsetAtOrAfter(b, 4000, 0)
	if err != nil || !found || o != 0 || ts != 5000 {
		t.Fatalf("got %d %d %v %v", o, ts, found, err)
	}
}

func TestRecordsMalformed(t *testing.T) {
	b := testBatch(t, codecNone, 1000, []int64{0, 1, 2}, false)
	f := func(name string, mut func([]byte) []byte) {
		t.Run(name, func(t *testing.T) {
			c := mut(bytes.Clone(b))
			h, err := segment.DecodeBatchHeader(c)
			if err != nil {
				return
			}
			// must return an error or stop, never panic
			_ = walkRecords(h, c[:min(len(c), max(int(h.Size()), segment.BatchHeaderSize))], func(int64, int64) bool { return true })
		})
	}
	f("truncated-records", func(c []byte) []byte { return c[:len(c)-3] })
	f("huge-count", func(c []byte) []byte { binary.BigEndian.PutUint32(c[57:], 1<<30); return c })
	f("bad-varint", func(c []byte) []byte { c[61] = 0xff; c[62] = 0xff; return c })
	f("bad-codec", func(c []byte) []byte { binary.BigEndian.PutUint16(c[21:], 7); return c })
	f("bad-gzip", func(c []byte) []byte { binary.BigEndian.PutUint16(c[21:], codecGzip); return c })
	f("bad-zstd", func(c []byte) []byte { binary.BigEndian.PutUint16(c[21:], codecZstd); return c })
	f("bad-lz4", func(c []byte) []byte { binary.BigEndian.PutUint16(c[21:], codecLZ4); return c })
	f("bad-snappy", func(c []byte) []byte { binary.BigEndian.PutUint16(c[21:], codecSnappy); return c })
}

func TestTrimBatches(t *testing.T) {
	a := testBatch(t, codecNone, 0, []int64{0}, false)
	bb := testBatch(t, codecNone, 0, []int64{0, 1}, false)
	data := append(bytes.Clone(a), bb...)
	f := func(max int, minOne bool, want int) {
		t.Helper()
		if got := tiering.RecordsOf(data).Trim(max, minOne).Len(); got != want {
			t.Fatalf("Trim(%d, %v) = %d bytes, want %d", max, minOne, got, want)
		}
	}
	f(len(data), false, len(data))
	f(len(a)+1, false, len(a))
	f(1, true, len(a))
	f(1, false, 0)
}
