package segmenttest

import (
	"encoding/binary"

	"github.com/strata-io/strata/segment"
)

// BatchOptions describe a v2 record batch built by Batch.
type BatchOptions struct {
	FirstTimestamp int64 // timestamp of the first record; record i has FirstTimestamp+i*TimestampStep
	TimestampStep  int64
	ProducerID     int64 // -1 for none
	ProducerEpoch  int16
	BaseSequence   int32
	Transactional  bool
	Control        bool
}

// Batch encodes an uncompressed v2 record batch (base offset 0) with one record per value
// and records timestamped from ts upwards by one millisecond.
func Batch(ts int64, values ...[]byte) []byte {
	return BatchWith(BatchOptions{FirstTimestamp: ts, TimestampStep: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, values...)
}

// BatchWith encodes an uncompressed v2 record batch as a producer would send it.
func BatchWith(o BatchOptions, values ...[]byte) []byte {
	var recs []byte
	var tmp [binary.MaxVarintLen64]byte
	for i, v := range values {
		var body []byte
		body = append(body, 0) // attributes
		body = append(body, tmp[:binary.PutVarint(tmp[:], int64(i)*o.TimestampStep)]...)
		body = append(body, tmp[:binary.PutVarint(tmp[:], int64(i))]...)
		body = append(body, tmp[:binary.PutVarint(tmp[:], -1)]...) // null key
		body = append(body, tmp[:binary.PutVarint(tmp[:], int64(len(v)))]...)
		body = append(body, v...)
		body = append(body, 0) // no headers
		recs = append(recs, tmp[:binary.PutVarint(tmp[:], int64(len(body)))]...)
		recs = append(recs, body...)
	}
	var attrs int16
	if o.Transactional {
		attrs |= 0x10
	}
	if o.Control {
		attrs |= 0x20
	}
	n := len(values)
	h := segment.BatchHeader{
		BatchLength:          int32(segment.MinBatchLength + len(recs)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       o.FirstTimestamp,
		MaxTimestamp:         o.FirstTimestamp + int64(max(n-1, 0))*o.TimestampStep,
		ProducerID:           o.ProducerID,
		ProducerEpoch:        o.ProducerEpoch,
		BaseSequence:         o.BaseSequence,
		NumRecords:           int32(n),
	}
	b := make([]byte, segment.BatchHeaderSize, segment.BatchHeaderSize+len(recs))
	h.Put(b)
	b = append(b, recs...)
	segment.PutBatchCRC(b)
	return b
}

// Fix recomputes the CRC-32C of batch in place (after a test changed covered bytes).
func Fix(batch []byte) []byte {
	segment.PutBatchCRC(batch)
	return batch
}
