package segment_test

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// kmsgBatch encodes a batch with franz-go's kmsg types, as a franz-go producer would.
func kmsgBatch(ts int64, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: []byte("k"), Value: []byte(v),
			Headers: []kmsg.Header{{Key: "h", Value: []byte("x")}}}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // Length 0 takes one varint byte
		recs = r.AppendTo(recs)
	}
	n := int32(len(values))
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: n - 1, FirstTimestamp: ts,
		MaxTimestamp: ts + int64(n) - 1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: n, Records: recs}
	b.Length = int32(49 + len(recs))
	enc := b.AppendTo(nil)
	binary.BigEndian.PutUint32(enc[17:], crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
	return enc
}

// decodeKmsg decodes a stored batch and its records with kmsg and checks its CRC.
func decodeKmsg(t *testing.T, b []byte) (kmsg.RecordBatch, []kmsg.Record) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg cannot decode the batch: %v", err)
	}
	if uint32(rb.CRC) != crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)) {
		t.Fatal("stored batch fails its CRC")
	}
	var recs []kmsg.Record
	rest := rb.Records
	for range rb.NumRecords {
		var r kmsg.Record
		if err := r.ReadFrom(rest); err != nil {
			t.Fatalf("kmsg cannot decode record: %v", err)
		}
		n := 0
		_, n = binary.Varint(rest)
		rest = rest[n+int(r.Length):]
		recs = append(recs, r)
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the records", len(rest))
	}
	return rb, recs
}

func TestKmsgCompatibility(t *testing.T) {
	l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS()})
	defer l.Close()
	mustAppend(t, l, segmenttest.Batch(5, []byte("a")))
	info := mustAppend(t, l, kmsgBatch(1000, "one", "two", "three"))
	if info.BaseOffset != 1 || info.LastOffset != 3 || info.MaxTimestamp != 1002 {
		t.Fatalf("info %+v", info)
	}
	now := time.UnixMilli(1_800_000_000_000)
	if _, err := l.Append(segmenttest.Batch(7, []byte("x"), []byte("y")), segment.AppendOptions{Now: now, LogAppendTime: true}); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, l, 0)

	rb, recs := decodeKmsg(t, got[0])
	if rb.FirstOffset != 0 || len(recs) != 1 || string(recs[0].Value) != "a" || recs[0].Key != nil || rb.FirstTimestamp != 5 {
		t.Fatalf("segmenttest batch decoded as %+v %+v", rb, recs)
	}
	rb, recs = decodeKmsg(t, got[1])
	if rb.FirstOffset != 1 || rb.NumRecords != 3 || string(recs[2].Value) != "three" || recs[2].OffsetDelta != 2 || string(recs[1].Headers[0].Value) != "x" {
		t.Fatalf("kmsg batch decoded as %+v %+v", rb, recs)
	}
	rb, _ = decodeKmsg(t, got[2])
	if rb.FirstOffset != 4 || rb.Attributes&0x08 == 0 || rb.MaxTimestamp != now.UnixMilli() || rb.FirstTimestamp != 7 {
		t.Fatalf("LogAppendTime batch decoded as %+v", rb)
	}
}
