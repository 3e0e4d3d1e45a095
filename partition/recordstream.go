package partition

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/strata-io/strata/segment"
)

// Streaming record walks. The broker looks inside stored batches only to answer
// ListOffsets by timestamp; it needs each record's offset and timestamp deltas, which
// are the first bytes of the record. A compressed batch is therefore decoded as a stream
// and every record's key, value and headers are skipped, so the memory a walk takes is
// the decoder's state plus a small buffer, whatever the batch inflates to: a batch of a
// few kilobytes of zstd or gzip that inflates to hundreds of megabytes (a decompression
// bomb, produced once and then looked up by any number of ListOffsets requests) costs CPU
// bounded by maxDecompressedBatch, not memory. Snappy has no streaming form in Kafka's
// raw-block encoding; its block states its decoded length up front and snappy cannot
// inflate more than about 21 times, so it keeps the whole-block decode (bounded the same).
const maxZstdWindow = 16 << 20 // larger windows than producers use (8 MiB at most) are refused

// recordStream returns a reader of the records section of one v2 batch (decompressed as
// it is read, at most maxDecompressedBatch bytes) and a function releasing the decoder.
func recordStream(h segment.BatchHeader, batch []byte) (*bufio.Reader, func(), error) {
	if len(batch) < segment.BatchHeaderSize {
		return nil, nil, segment.ErrShortBatch
	}
	src := batch[segment.BatchHeaderSize:]
	var r io.Reader
	release := func() {}
	switch h.Codec() {
	case codecNone:
		r = bytes.NewReader(src)
	case codecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, nil, fmt.Errorf("partition: gzip: %w", err)
		}
		r, release = zr, func() { zr.Close() }
	case codecLZ4:
		r = lz4.NewReader(bytes.NewReader(src))
	case codecZstd:
		zr, err := zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxDecompressedBatch))
		if err != nil {
			return nil, nil, fmt.Errorf("partition: zstd: %w", err)
		}
		r, release = zr, zr.Close
	default:
		payload, err := decompress(h.Codec(), src) // snappy (bounded), or an unknown codec error
		if err != nil {
			return nil, nil, err
		}
		r = bytes.NewReader(payload)
	}
	lr := &limitedReader{r: r, n: maxDecompressedBatch}
	return bufio.NewReaderSize(lr, 4096), release, nil
}

// limitedReader is io.LimitReader that reports errBatchTooLarge instead of a silent EOF.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errBatchTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// walkRecordsStream is walkRecords over a stream: it reads each record's length,
// attributes, timestamp delta and offset delta, and discards the rest of the record.
func walkRecordsStream(h segment.BatchHeader, batch []byte, fn func(offset, ts int64) bool) error {
	br, release, err := recordStream(h, batch)
	if err != nil {
		return err
	}
	defer release()
	bad := func(i int32, what string, err error) error {
		if errors.Is(err, errBatchTooLarge) {
			return fmt.Errorf("partition: record %d of batch at %d: %w", i, h.BaseOffset, errBatchTooLarge)
		}
		return fmt.Errorf("partition: record %d of batch at %d: %s (%v): %w", i, h.BaseOffset, what, err, errBadRecord)
	}
	cr := &countingByteReader{br: br}
	for i := int32(0); i < h.NumRecords; i++ {
		length, err := binary.ReadVarint(br)
		if err != nil || length < 1 {
			return bad(i, "bad length", err)
		}
		cr.n = 0
		if _, err := cr.ReadByte(); err != nil { // attributes
			return bad(i, "truncated", err)
		}
		tsDelta, err := binary.ReadVarint(cr)
		if err != nil {
			return bad(i, "bad timestamp delta", err)
		}
		offDelta, err := binary.ReadVarint(cr)
		if err != nil {
			return bad(i, "bad offset delta", err)
		}
		used := cr.n
		if used > length {
			return bad(i, "record shorter than its header", nil)
		}
		ts := h.FirstTimestamp + tsDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp
		}
		if !fn(h.BaseOffset+offDelta, ts) {
			return nil
		}
		if n, err := io.CopyN(io.Discard, br, length-used); err != nil || n != length-used {
			return bad(i, "truncated", err)
		}
	}
	return nil
}

// countingByteReader counts the bytes read through it.
type countingByteReader struct {
	br *bufio.Reader
	n  int64
}

func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}
