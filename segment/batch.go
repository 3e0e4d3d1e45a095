package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Record batch v2 header offsets (see doc.go).
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	attrCompressionMask = 0x07
	attrTimestampType   = 0x08 // 1 = LogAppendTime
	attrTransactional   = 0x10
	attrControl         = 0x20

	// minRecordSize is the smallest encoding of one uncompressed record: length, attributes,
	// timestampDelta, offsetDelta, keyLength, valueLength and header count, one byte each.
	minRecordSize = 7
	// maxCompressionCodec is zstd (4); 5-7 are not defined.
	maxCompressionCodec = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkHeader checks the parts of a header that can be checked without the records:
// magic, a batch length that fits in limit bytes (limit < 0: unknown), a non-negative
// last offset delta. It is what readers check while walking a segment.
func checkHeader(h *BatchHeader, limit int64) error {
	if h.Magic != 2 {
		return fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, h.Magic)
	}
	if h.BatchLength < BatchHeaderSize-LogOverhead {
		return fmt.Errorf("%w: batch length %d below header size", ErrInvalidBatch, h.BatchLength)
	}
	if limit >= 0 && h.Size() > limit {
		return fmt.Errorf("%w: batch length %d exceeds the %d bytes available", ErrInvalidBatch, h.BatchLength, limit-LogOverhead)
	}
	if h.LastOffsetDelta < 0 {
		return fmt.Errorf("%w: negative last offset delta %d", ErrInvalidBatch, h.LastOffsetDelta)
	}
	if h.BaseOffset < 0 || h.BaseOffset > math.MaxInt64-int64(h.LastOffsetDelta) {
		return fmt.Errorf("%w: base offset %d out of range", ErrInvalidBatch, h.BaseOffset)
	}
	return nil
}

// ValidateBatch checks that b is exactly one well-formed v2 record batch as a producer
// sends it and returns its decoded header fields. It never modifies b.
func ValidateBatch(b []byte) (BatchInfo, error) {
	h, err := parseBatch(b, true)
	if err != nil {
		return BatchInfo{}, err
	}
	return h.info(), nil
}

// parseBatch validates b as exactly one v2 batch. producer additionally requires
// lastOffsetDelta == count-1 (a producer batch is never compacted) and base offset 0 is not
// required (the broker overwrites it). Errors wrap ErrUnsupportedMagic, ErrCorruptBatchCRC or
// ErrInvalidBatch; nothing is changed in b.
func parseBatch(b []byte, producer bool) (BatchHeader, error) {
	if len(b) <= offMagic {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrInvalidBatch, len(b))
	}
	if b[offMagic] != 2 {
		return BatchHeader{}, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, int8(b[offMagic]))
	}
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrInvalidBatch, len(b))
	}
	if len(b)-LogOverhead > math.MaxInt32 {
		return BatchHeader{}, fmt.Errorf("%w: batch of %d bytes is too large", ErrInvalidBatch, len(b))
	}
	h := decodeBatchHeader(b)
	if int64(h.BatchLength) != int64(len(b)-LogOverhead) {
		return h, fmt.Errorf("%w: batch length %d, but %d bytes follow it", ErrInvalidBatch, h.BatchLength, len(b)-LogOverhead)
	}
	if producer {
		h.BaseOffset = 0 // overwritten on append; any value is accepted
	}
	if err := checkHeader(&h, int64(len(b))); err != nil {
		return h, err
	}
	if crc := crc32.Checksum(b[offAttributes:], castagnoli); crc != h.CRC {
		return h, fmt.Errorf("%w: stored %#08x, computed %#08x", ErrCorruptBatchCRC, h.CRC, crc)
	}
	if h.NumRecords < 1 {
		return h, fmt.Errorf("%w: record count %d", ErrInvalidBatch, h.NumRecords)
	}
	codec := h.Attributes & attrCompressionMask
	if codec > maxCompressionCodec {
		return h, fmt.Errorf("%w: unknown compression codec %d", ErrInvalidBatch, codec)
	}
	if codec == 0 && int64(h.NumRecords)*minRecordSize > int64(len(b)-BatchHeaderSize) {
		return h, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalidBatch, h.NumRecords, len(b)-BatchHeaderSize)
	}
	if producer && h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: last offset delta %d with %d records", ErrInvalidBatch, h.LastOffsetDelta, h.NumRecords)
	}
	if !producer && h.LastOffsetDelta < h.NumRecords-1 {
		return h, fmt.Errorf("%w: last offset delta %d with %d records", ErrInvalidBatch, h.LastOffsetDelta, h.NumRecords)
	}
	return h, nil
}

func (h BatchHeader) info() BatchInfo {
	return BatchInfo{
		BaseOffset:      h.BaseOffset,
		LastOffset:      h.LastOffset(),
		MaxTimestamp:    h.MaxTimestamp,
		FirstTimestamp:  h.FirstTimestamp,
		NumRecords:      h.NumRecords,
		ProducerID:      h.ProducerID,
		ProducerEpoch:   h.ProducerEpoch,
		BaseSequence:    h.BaseSequence,
		IsTransactional: h.Attributes&attrTransactional != 0,
		IsControl:       h.Attributes&attrControl != 0,
		Size:            int(h.Size()),
	}
}

// setBaseOffset rewrites bytes 0-7; they are not covered by the CRC.
func setBaseOffset(b []byte, base int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(base))
}

// setLogAppendTime sets the timestamp-type attribute bit and maxTimestamp, both covered by
// the CRC, and recomputes the CRC.
func setLogAppendTime(b []byte, ms int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:]) | attrTimestampType
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint64(b[offMaxTimestamp:], uint64(ms))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}
