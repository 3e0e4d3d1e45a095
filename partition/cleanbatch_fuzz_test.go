package partition

import (
	"bytes"
	"testing"

	"github.com/strata-io/strata/segment"
)

// FuzzBatchRecords: the records of any bytes behind a v2 header decode without a panic
// (the broker decodes produced batches of compacted topics to refuse keyless records),
// and a batch that decodes is rebuilt by the cleaner into a batch with a valid CRC whose
// records decode to the same offsets, keys and values.
func FuzzBatchRecords(f *testing.F) {
	for _, codec := range []int8{codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd} {
		f.Add(keyedBatch(f, 1000, codec, -1, 0, rec("a", "1"), tomb("b"), kv{value: []byte("keyless")}))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := segment.DecodeBatchHeader(b)
		if err != nil || h.Magic != 2 || h.Control() || h.Size() != int64(len(b)) || h.NumRecords < 0 || h.NumRecords > 1<<16 {
			return
		}
		if _, err := KeylessRecords(h, b); err != nil {
			return
		}
		recs, err := batchRecords(h, b, nil)
		if err != nil {
			t.Fatalf("KeylessRecords accepted what batchRecords refuses: %v", err)
		}
		nb, err := rebuildBatch(h, b, recs)
		if err != nil {
			return // e.g. an unknown codec bit pattern that decodes as none
		}
		nh, err := segment.DecodeBatchHeader(nb)
		if err != nil || segment.BatchCRC(nb) != nh.CRC || nh.BaseOffset != h.BaseOffset || nh.LastOffsetDelta != h.LastOffsetDelta {
			t.Fatalf("rebuilt header %+v, crc ok %v, err %v", nh, segment.BatchCRC(nb) == nh.CRC, err)
		}
		again, err := batchRecords(nh, nb, nil)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("rebuilt batch: %d records, %v; want %d", len(again), err, len(recs))
		}
		for i := range recs {
			if again[i].offset != recs[i].offset || !bytes.Equal(again[i].key, recs[i].key) || !bytes.Equal(again[i].raw, recs[i].raw) {
				t.Fatalf("record %d differs after rebuilding", i)
			}
		}
	})
}
