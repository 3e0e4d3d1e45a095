package partition

// Record batch decoding for the data path. Batches are stored exactly as produced and
// never decoded on the produce or fetch hot path; the partition looks inside a batch only
// to answer ListOffsets by timestamp (which record, not which batch, has ts >= target)
// and for the max-timestamp lookup.
//
// The batch header is decoded by segment.DecodeBatchHeader (its layout is documented on
// segment.BatchHeader); this file decodes what follows it, the records.
//
// Each record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
// key (varint length, -1 = null), value (likewise), header count varint, headers.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/strata-io/strata/segment"
)

const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4

	attrTimestampLogAppend = 0x08
	attrControl            = 0x20

	// maxDecompressedBatch bounds what one batch may inflate to while we look inside it.
	maxDecompressedBatch = 256 << 20
)

var (
	errBadRecord      = errors.New("partition: malformed record in batch")
	errUnknownCodec   = errors.New("partition: unknown compression codec")
	errBatchTooLarge  = errors.New("partition: decompressed record batch too large")
	xerialSnappyMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}
)

// SplitBatches calls fn for each whole batch in b (a concatenation of batches, possibly
// ending with a partial one, which is ignored as Kafka's fetch responses allow).
func SplitBatches(b []byte, fn func(h segment.BatchHeader, batch []byte) (more bool, err error)) error {
	for len(b) >= segment.BatchPrefixSize {
		h, err := segment.DecodeBatchHeader(b)
		if err != nil {
			return nil // partial trailing header
		}
		if h.BatchLength < 0 {
			return fmt.Errorf("partition: negative batch length %d at offset %d: %w", h.BatchLength, h.BaseOffset, errBadRecord)
		}
		n := int(h.Size())
		if n > len(b) {
			return nil // partial trailing batch
		}
		more, err := fn(h, b[:n])
		if err != nil || !more {
			return err
		}
		b = b[n:]
	}
	return nil
}

var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecompressedBatch))
})

// decompress inflates a records section compressed with Kafka codec id codec.
func decompress(codec int8, src []byte) ([]byte, error) {
	switch codec {
	case codecNone:
		return src, nil
	case codecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("partition: gzip: %w", err)
		}
		defer zr.Close()
		return readAllBounded(zr, "gzip")
	case codecSnappy:
		return decodeSnappy(src)
	case codecLZ4:
		return readAllBounded(lz4.NewReader(bytes.NewReader(src)), "lz4")
	case codecZstd:
		d, err := zstdDecoder()
		if err != nil {
			return nil, fmt.Errorf("partition: zstd: %w", err)
		}
		out, err := d.DecodeAll(src, nil)
		if err != nil {
			return nil, fmt.Errorf("partition: zstd: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("codec %d: %w", codec, errUnknownCodec)
	}
}

func readAllBounded(r io.Reader, codec string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressedBatch+1))
	if err != nil {
		return nil, fmt.Errorf("partition: %s: %w", codec, err)
	}
	if len(out) > maxDecompressedBatch {
		return nil, fmt.Errorf("partition: %s: %w", codec, errBatchTooLarge)
	}
	return out, nil
}

// decodeSnappy handles both encodings Kafka clients produce: a raw snappy block
// (franz-go, librdkafka by default) and the Java client's xerial framing
// (8-byte magic, int32 version, int32 compatible version, then blocks each prefixed
// with a big-endian int32 length).
func decodeSnappy(src []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialSnappyMagic) || len(src) < 16 {
		return decodeSnappyBlock(nil, src)
	}
	var out []byte
	for b := src[16:]; len(b) > 0; {
		if len(b) < 4 {
			return nil, errors.New("partition: snappy: truncated xerial chunk length")
		}
		n := int(binary.BigEndian.Uint32(b))
		b = b[4:]
		if n < 0 || n > len(b) {
			return nil, errors.New("partition: snappy: xerial chunk exceeds input")
		}
		var err error
		if out, err = decodeSnappyBlock(out, b[:n]); err != nil {
			return nil, err
		}
		b = b[n:]
	}
	return out, nil
}

// decodeSnappyBlock appends the decoding of one snappy block to dst. s2 decodes the
// snappy block format (it is a superset).
func decodeSnappyBlock(dst, block []byte) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("partition: snappy: %w", err)
	}
	if n > maxDecompressedBatch || len(dst)+n > maxDecompressedBatch {
		return nil, fmt.Errorf("partition: snappy: %w", errBatchTooLarge)
	}
	buf := make([]byte, n)
	out, err := s2.Decode(buf, block)
	if err != nil {
		return nil, fmt.Errorf("partition: snappy: %w", err)
	}
	return append(dst, out...), nil
}

// walkRecords calls fn with the absolute offset and timestamp of each record of one v2
// batch, in order, until fn returns false. With LogAppendTime every record's timestamp is
// the batch's max timestamp, as Kafka specifies.
func walkRecords(h segment.BatchHeader, batch []byte, fn func(offset, ts int64) bool) error {
	if h.Magic != 2 {
		return fmt.Errorf("partition: walk records of magic %d: %w", h.Magic, errBadRecord)
	}
	return walkRecordsStream(h, batch, fn) // recordstream.go: bounded memory for any codec
}

// firstOffsetAtOrAfter returns the offset and timestamp of the first record in batches
// whose offset >= minOffset and whose timestamp >= ts.
func firstOffsetAtOrAfter(batches []byte, ts, minOffset int64) (offset, timestamp int64, found bool, err error) {
	err = SplitBatches(batches, func(h segment.BatchHeader, batch []byte) (bool, error) {
		if h.Magic != 2 || h.LastOffset() < minOffset || h.MaxTimestamp < ts || h.Control() {
			return true, nil
		}
		werr := walkRecords(h, batch, func(o, t int64) bool {
			if o >= minOffset && t >= ts {
				offset, timestamp, found = o, t, true
				return false
			}
			return true
		})
		return !found, werr
	})
	return offset, timestamp, found, err
}

// offsetOfMaxTimestamp returns the offset of the first record of batch whose timestamp
// equals the batch's max timestamp (the answer to ListOffsets -3 within that batch).
func offsetOfMaxTimestamp(batch []byte) (offset, ts int64, err error) {
	h, err := segment.DecodeBatchHeader(batch)
	if err != nil {
		return -1, -1, err
	}
	// When no record matches (a producer that lied in maxTimestamp) the last offset stands.
	offset, ts = h.LastOffset(), h.MaxTimestamp
	err = walkRecords(h, batch[:min(len(batch), int(h.Size()))], func(o, t int64) bool {
		if t == h.MaxTimestamp {
			offset = o
			return false
		}
		return true
	})
	if err != nil {
		return -1, -1, err
	}
	return offset, ts, nil
}
