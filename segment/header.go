package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The RecordBatch header codec. It is the one place in Strata that knows where the fields
// of a batch header are: the log, the broker's produce checks and ListOffsets walks, the
// remote tier and the CLI all decode headers with DecodeBatchHeader, and the test batch
// builder (segmenttest) encodes them with BatchHeader.Put. The byte layout is
// specified in the package documentation ("Record batch (magic 2)") and on BatchHeader.

const (
	// BatchHeaderSize is the size of a v2 header, up to and including the records count.
	BatchHeaderSize = 61
	// LogOverhead is baseOffset + batchLength: the bytes of a batch that batchLength does
	// not count. The whole batch is BatchLength + LogOverhead bytes.
	LogOverhead = 12
	// BatchPrefixSize is the part common to every message format (magic 0, 1 and 2):
	// baseOffset, batchLength, partitionLeaderEpoch (the CRC of v0/v1) and magic.
	BatchPrefixSize = offMagic + 1
	// BatchCRCStart is the first byte covered by the batch CRC-32C (the attributes). The
	// bytes before it - base offset, batch length, partition leader epoch, magic and the CRC
	// itself - are not covered: readers check them by framing and offset continuity.
	BatchCRCStart = offAttributes
	// MinBatchLength is the smallest batchLength of a v2 batch (a header without records).
	MinBatchLength = BatchHeaderSize - LogOverhead
)

// ErrShortBatch is returned by DecodeBatchHeader for fewer bytes than a header. It wraps
// ErrInvalidBatch.
var ErrShortBatch = fmt.Errorf("%w: shorter than its header", ErrInvalidBatch)

// BatchHeader is the decoded fixed part of a RecordBatch. Integers are big-endian; the
// comment of each field gives its bytes, relative to the start of the batch.
type BatchHeader struct {
	BaseOffset           int64  // 0-7: offset of the first record; set by the log on append
	BatchLength          int32  // 8-11: bytes after this field
	PartitionLeaderEpoch int32  // 12-15: stored as received
	Magic                int8   // 16: message format, 2 for a RecordBatch
	CRC                  uint32 // 17-20: CRC-32C (Castagnoli) of bytes 21 to the end
	Attributes           int16  // 21-22: bits 0-2 codec, 3 LogAppendTime, 4 transactional, 5 control
	LastOffsetDelta      int32  // 23-26: last offset - BaseOffset
	FirstTimestamp       int64  // 27-34: baseTimestamp
	MaxTimestamp         int64  // 35-42
	ProducerID           int64  // 43-50
	ProducerEpoch        int16  // 51-52
	BaseSequence         int32  // 53-56
	NumRecords           int32  // 57-60: records count; the records follow from byte 61
}

// DecodeBatchHeader decodes the header at the start of b. Bytes 0-16 are common to every
// message format: when the magic is not 2 only BaseOffset, BatchLength,
// PartitionLeaderEpoch and Magic are decoded and err is nil, so that the caller answers
// older formats with its own error. Fewer than BatchPrefixSize bytes, or a v2 header cut
// short, is ErrShortBatch. Nothing is checked beyond the length of b (see Check).
func DecodeBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchPrefixSize {
		return BatchHeader{}, ErrShortBatch
	}
	if b[offMagic] != 2 || len(b) < BatchHeaderSize {
		be := binary.BigEndian
		h := BatchHeader{
			BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
			BatchLength:          int32(be.Uint32(b[offBatchLength:])),
			PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
			Magic:                int8(b[offMagic]),
		}
		if h.Magic == 2 {
			return h, ErrShortBatch
		}
		return h, nil
	}
	return decodeBatchHeader(b), nil
}

// decodeBatchHeader decodes a v2 header from b, which holds at least BatchHeaderSize bytes.
func decodeBatchHeader(b []byte) BatchHeader {
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(be.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offRecordCount:])),
	}
}

// Put encodes h into the first BatchHeaderSize bytes of b (the CRC as h has it: see
// BatchCRC). It is DecodeBatchHeader's inverse, for code that builds batches.
func (h BatchHeader) Put(b []byte) {
	_ = b[BatchHeaderSize-1]
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(h.BatchLength))
	be.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = byte(h.Magic)
	be.PutUint32(b[offCRC:], h.CRC)
	be.PutUint16(b[offAttributes:], uint16(h.Attributes))
	be.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offFirstTimestamp:], uint64(h.FirstTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(h.NumRecords))
}

// Size is the whole batch in bytes, BatchLength + LogOverhead.
func (h BatchHeader) Size() int64 { return int64(h.BatchLength) + LogOverhead }

// LastOffset is the offset of the batch's last record, BaseOffset + LastOffsetDelta.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// LastSequence is the producer sequence of the batch's last record.
func (h BatchHeader) LastSequence() int32 { return h.BaseSequence + h.LastOffsetDelta }

// Codec is the compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (h BatchHeader) Codec() int8 { return int8(h.Attributes & attrCompressionMask) }

// LogAppendTime reports whether the timestamps are the broker's (MaxTimestamp).
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// Transactional reports the transactional attribute.
func (h BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports the control attribute (a transaction marker).
func (h BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// Check checks what can be checked of a decoded header without the records: magic 2, a
// batch length of at least a header that fits in limit bytes (limit < 0: unknown), a
// non-negative last offset delta and offsets that do not overflow. Errors wrap
// ErrUnsupportedMagic or ErrInvalidBatch.
func (h BatchHeader) Check(limit int64) error { return checkHeader(&h, limit) }

// BatchCRC returns the CRC-32C of the bytes of batch the header's CRC covers (from
// BatchCRCStart to the end). batch holds at least BatchCRCStart bytes.
func BatchCRC(batch []byte) uint32 { return crc32.Checksum(batch[offAttributes:], castagnoli) }

// PutBatchCRC writes BatchCRC(batch) into the batch's CRC field (bytes 17-20).
func PutBatchCRC(batch []byte) {
	binary.BigEndian.PutUint32(batch[offCRC:], BatchCRC(batch))
}

// UpdateBatchCRC continues crc, a CRC-32C as BatchCRC returns it, over b.
func UpdateBatchCRC(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

// ErrOffsetGap marks a batch whose base offset does not continue the batches before it (or
// the segment's base offset), or whose last offset passes the end it was expected to have.
// It wraps ErrCorrupt.
var ErrOffsetGap = fmt.Errorf("%w: offsets not contiguous", ErrCorrupt)

// CheckContinuity checks that a batch with header h continues a contiguous run of offsets:
// its base offset is next (the base offset of the segment for its first batch, the previous
// batch's last offset + 1 after that) and its last offset is at most last (the segment's
// last offset; last < 0: unknown). A batch that passes this and the header Check cannot
// move, duplicate or drop offsets without also failing the CRC. Errors wrap ErrOffsetGap.
func CheckContinuity(h BatchHeader, next, last int64) error {
	if h.BaseOffset != next {
		return fmt.Errorf("%w: base offset %d, expected %d", ErrOffsetGap, h.BaseOffset, next)
	}
	if h.LastOffsetDelta < 0 || (last >= 0 && h.LastOffset() > last) {
		return fmt.Errorf("%w: batch at base offset %d ends at %d, past the last offset %d", ErrOffsetGap, h.BaseOffset, h.LastOffset(), last)
	}
	return nil
}
