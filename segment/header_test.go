package segment_test

import (
	"errors"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// The header codec: Put and DecodeBatchHeader are inverses; the CRC covers bytes 21 to the
// end; other magics decode only the common prefix; short input is ErrShortBatch.
func TestBatchHeaderCodec(t *testing.T) {
	want := segment.BatchHeader{BaseOffset: 1 << 40, BatchLength: 49, PartitionLeaderEpoch: -1, Magic: 2,
		CRC: 0xdeadbeef, Attributes: 0x14, LastOffsetDelta: 7, FirstTimestamp: -1, MaxTimestamp: 1 << 41,
		ProducerID: 12345, ProducerEpoch: -3, BaseSequence: 99, NumRecords: 8}
	b := make([]byte, segment.BatchHeaderSize)
	want.Put(b)
	if got, err := segment.DecodeBatchHeader(b); err != nil || got != want {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, want)
	}
	if want.Size() != 61 || want.LastOffset() != 1<<40+7 || want.Codec() != 4 || want.LogAppendTime() ||
		!want.Transactional() || want.Control() || want.LastSequence() != 106 {
		t.Fatalf("derived fields of %+v", want)
	}

	batch := segmenttest.Batch(1000, []byte("a"), []byte("b"))
	h, err := segment.DecodeBatchHeader(batch)
	if err != nil || h.Check(int64(len(batch))) != nil || segment.BatchCRC(batch) != h.CRC {
		t.Fatalf("built batch: %+v, %v", h, err)
	}
	batch[segment.BatchCRCStart] ^= 1
	if segment.BatchCRC(batch) == h.CRC {
		t.Fatal("the CRC does not cover the attributes")
	}

	old := make([]byte, segment.BatchPrefixSize) // a magic 1 message set: only the prefix is decoded
	old[segment.BatchPrefixSize-1] = 1
	old[11] = 30
	if h, err := segment.DecodeBatchHeader(old); err != nil || h.Magic != 1 || h.BatchLength != 30 {
		t.Fatalf("magic 1 prefix: %+v, %v", h, err)
	}
	for _, b := range [][]byte{nil, b[:segment.BatchPrefixSize-1], b[:segment.BatchHeaderSize-1]} {
		if _, err := segment.DecodeBatchHeader(b); !errors.Is(err, segment.ErrShortBatch) || !errors.Is(err, segment.ErrInvalidBatch) {
			t.Fatalf("%d bytes: %v, want ErrShortBatch", len(b), err)
		}
	}
}
