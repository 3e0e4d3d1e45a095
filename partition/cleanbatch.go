package partition

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/strata-io/strata/segment"
)

// The cleaner's view of the records of a batch, and the rewriting of a batch without some
// of them. A rewritten batch keeps its header but for the records count, the max
// timestamp (recomputed from the records kept, unless LogAppendTime), the length and the
// CRC: the base offset, the last offset delta (so the batch still spans the offsets the
// producer's sequence numbers cover, as Kafka keeps them), the first timestamp, the
// producer id, epoch and base sequence are those of the original. The records kept are
// copied byte for byte: their offset and timestamp deltas are relative to the unchanged
// base offset and first timestamp. A compressed batch is recompressed with its codec
// (snappy in the xerial framing every client reads).

// cleanRecord is one record of a batch as the cleaner sees it.
type cleanRecord struct {
	offset    int64
	ts        int64
	key       []byte // nil: no key
	tombstone bool   // null value
	raw       []byte // the whole record, its length varint included
}

// recordDecoder decompresses record sections into a buffer it reuses (a clean decodes
// every batch of the log: allocating each one's records was most of its garbage).
type recordDecoder struct {
	buf bytes.Buffer
	lz  *lz4.Reader
	gz  *gzip.Reader
}

// decompress returns the records section src of codec decompressed; the result is valid
// until the next call. A nil decoder allocates.
func (d *recordDecoder) decompress(codec int8, src []byte) ([]byte, error) {
	if d == nil || codec == codecNone || codec == codecSnappy {
		return decompress(codec, src)
	}
	d.buf.Reset()
	var r io.Reader
	switch codec {
	case codecLZ4:
		if d.lz == nil {
			d.lz = lz4.NewReader(bytes.NewReader(src))
		} else {
			d.lz.Reset(bytes.NewReader(src))
		}
		r = d.lz
	case codecGzip:
		if d.gz == nil {
			zr, err := gzip.NewReader(bytes.NewReader(src))
			if err != nil {
				return nil, fmt.Errorf("partition: gzip: %w", err)
			}
			d.gz = zr
		} else if err := d.gz.Reset(bytes.NewReader(src)); err != nil {
			return nil, fmt.Errorf("partition: gzip: %w", err)
		}
		r = d.gz
	case codecZstd:
		dec, err := zstdDecoder()
		if err != nil {
			return nil, fmt.Errorf("partition: zstd: %w", err)
		}
		out, err := dec.DecodeAll(src, d.buf.Bytes()[:0])
		if err != nil {
			return nil, fmt.Errorf("partition: zstd: %w", err)
		}
		if len(out) > maxDecompressedBatch {
			return nil, fmt.Errorf("partition: zstd: %w", errBatchTooLarge)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("codec %d: %w", codec, errUnknownCodec)
	}
	if _, err := d.buf.ReadFrom(io.LimitReader(r, maxDecompressedBatch+1)); err != nil {
		return nil, fmt.Errorf("partition: codec %d: %w", codec, err)
	}
	if d.buf.Len() > maxDecompressedBatch {
		return nil, fmt.Errorf("partition: codec %d: %w", codec, errBatchTooLarge)
	}
	return d.buf.Bytes(), nil
}

// batchRecords decodes the records of the v2 batch b (header h): decompressed, then
// split. The records alias the decompressed buffer (d's, valid until its next use) or b.
func batchRecords(h segment.BatchHeader, b []byte, out []cleanRecord) ([]cleanRecord, error) {
	return (*recordDecoder)(nil).records(h, b, out)
}

func (d *recordDecoder) records(h segment.BatchHeader, b []byte, out []cleanRecord) ([]cleanRecord, error) {
	codec := int8(h.Attributes & 0x07)
	body, err := d.decompress(codec, b[segment.BatchHeaderSize:])
	if err != nil {
		return out, err
	}
	logAppend := h.Attributes&attrTimestampLogAppend != 0
	for i := int32(0); i < h.NumRecords; i++ {
		n, k := binary.Varint(body)
		if k <= 0 || n < 0 || int64(len(body)-k) < n {
			return out, fmt.Errorf("record %d of batch %d: bad length: %w", i, h.BaseOffset, errBadRecord)
		}
		raw := body[:k+int(n)]
		r := body[k : k+int(n)]
		body = body[k+int(n):]
		if len(r) < 1 {
			return out, fmt.Errorf("record %d of batch %d: empty: %w", i, h.BaseOffset, errBadRecord)
		}
		r = r[1:] // attributes
		tsd, k1 := binary.Varint(r)
		if k1 <= 0 {
			return out, fmt.Errorf("record %d of batch %d: timestamp: %w", i, h.BaseOffset, errBadRecord)
		}
		r = r[k1:]
		od, k2 := binary.Varint(r)
		if k2 <= 0 {
			return out, fmt.Errorf("record %d of batch %d: offset: %w", i, h.BaseOffset, errBadRecord)
		}
		r = r[k2:]
		kl, k3 := binary.Varint(r)
		if k3 <= 0 || kl < -1 || int64(len(r)-k3) < max(kl, 0) {
			return out, fmt.Errorf("record %d of batch %d: key: %w", i, h.BaseOffset, errBadRecord)
		}
		r = r[k3:]
		var key []byte
		if kl >= 0 {
			key = r[:kl]
			r = r[kl:]
		}
		vl, k4 := binary.Varint(r)
		if k4 <= 0 || vl < -1 {
			return out, fmt.Errorf("record %d of batch %d: value: %w", i, h.BaseOffset, errBadRecord)
		}
		ts := h.FirstTimestamp + tsd
		if logAppend {
			ts = h.MaxTimestamp
		}
		out = append(out, cleanRecord{offset: h.BaseOffset + od, ts: ts, key: key, tombstone: vl < 0, raw: raw})
	}
	return out, nil
}

// rebuildBatch returns the batch h/b with only the records keep (a subsequence of its
// records, in order). No records keeps an empty batch (uncompressed), which Kafka keeps
// for the last batch of an idempotent producer.
func rebuildBatch(h segment.BatchHeader, b []byte, keep []cleanRecord) ([]byte, error) {
	var recs bytes.Buffer
	maxTs := int64(-1)
	for _, r := range keep {
		recs.Write(r.raw)
		maxTs = max(maxTs, r.ts)
	}
	codec := int8(h.Attributes & 0x07)
	body := recs.Bytes()
	attrs := h.Attributes
	if len(keep) == 0 {
		attrs &^= 0x07
		codec = codecNone
	}
	if codec != codecNone {
		var err error
		if body, err = compress(codec, body); err != nil {
			return nil, err
		}
	}
	nh := h
	nh.Attributes = attrs
	nh.NumRecords = int32(len(keep))
	nh.BatchLength = int32(segment.MinBatchLength + len(body))
	if h.Attributes&attrTimestampLogAppend == 0 && maxTs >= 0 {
		nh.MaxTimestamp = maxTs
	}
	out := make([]byte, segment.BatchHeaderSize, segment.BatchHeaderSize+len(body))
	nh.Put(out)
	out = append(out, body...)
	segment.PutBatchCRC(out)
	return out, nil
}

var (
	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	})
	xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
)

// compress compresses a records section with Kafka codec id codec.
func compress(codec int8, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch codec {
	case codecGzip:
		w = gzip.NewWriter(&buf)
	case codecLZ4:
		lw := lz4.NewWriter(&buf)
		// 64 KiB blocks, as the Java client writes them (the library's default of 4 MiB
		// costs a 4 MiB buffer per batch here and in every reader).
		if err := lw.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, fmt.Errorf("partition: lz4: %w", err)
		}
		w = lw
	case codecSnappy:
		// xerial framing, one block per 32 KiB of input (the Java client's block size).
		buf.Write(xerialHeader)
		for len(src) > 0 {
			n := min(len(src), 32<<10)
			block := s2.EncodeSnappy(nil, src[:n])
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(len(block)))
			buf.Write(l[:])
			buf.Write(block)
			src = src[n:]
		}
		return buf.Bytes(), nil
	case codecZstd:
		e, err := zstdEncoder()
		if err != nil {
			return nil, fmt.Errorf("partition: zstd: %w", err)
		}
		return e.EncodeAll(src, nil), nil
	default:
		return nil, fmt.Errorf("codec %d: %w", codec, errUnknownCodec)
	}
	if _, err := w.Write(src); err != nil {
		return nil, fmt.Errorf("partition: compress codec %d: %w", codec, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("partition: compress codec %d: %w", codec, err)
	}
	return buf.Bytes(), nil
}

// KeylessRecords returns the indexes (0-based, in the batch) of the records of the v2
// batch b (header h) that have no key: a compacted topic refuses them (the broker answers
// INVALID_RECORD). A control batch has none. Errors: the records cannot be decoded.
func KeylessRecords(h segment.BatchHeader, b []byte) ([]int32, error) {
	if h.Control() || h.Magic != 2 || int64(len(b)) < h.Size() {
		return nil, nil
	}
	recs, err := batchRecords(h, b[:h.Size()], nil)
	if err != nil {
		return nil, err
	}
	var out []int32
	for i, r := range recs {
		if r.key == nil {
			out = append(out, int32(i))
		}
	}
	return out, nil
}
