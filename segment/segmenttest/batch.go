package segmenttest

import (
	"encoding/binary"
	"hash/crc32"
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
	b := make([]byte, 61, 61+len(recs))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(49+len(recs)))
	be.PutUint32(b[12:], 0xffffffff) // partition leader epoch -1
	b[16] = 2
	var attrs uint16
	if o.Transactional {
		attrs |= 0x10
	}
	if o.Control {
		attrs |= 0x20
	}
	be.PutUint16(b[21:], attrs)
	n := len(values)
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[27:], uint64(o.FirstTimestamp))
	be.PutUint64(b[35:], uint64(o.FirstTimestamp+int64(max(n-1, 0))*o.TimestampStep))
	be.PutUint64(b[43:], uint64(o.ProducerID))
	be.PutUint16(b[51:], uint16(o.ProducerEpoch))
	be.PutUint32(b[53:], uint32(o.BaseSequence))
	be.PutUint32(b[57:], uint32(n))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// Fix recomputes the CRC-32C of batch in place (after a test changed covered bytes).
func Fix(batch []byte) []byte {
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
	return batch
}
