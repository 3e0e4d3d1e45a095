package partitiontest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Kafka's compression codec ids (RecordBatch attributes bits 0-2).
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLZ4    = 3
	CodecZstd   = 4
)

const batchHeaderSize = 61

var xerialSnappyMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// Batch builds a v2 record batch of len(tsDeltas) records with the given codec, each
// record's value "v<i>", without a producer id. xerial selects the Java client's snappy
// framing.
func Batch(t testing.TB, codec int8, firstTs int64, tsDeltas []int64, xerial bool) []byte {
	t.Helper()
	var recs []byte
	maxTs := firstTs
	for i, d := range tsDeltas {
		var body []byte
		body = append(body, 0) // attributes
		body = binary.AppendVarint(body, d)
		body = binary.AppendVarint(body, int64(i))
		body = binary.AppendVarint(body, -1) // null key
		v := fmt.Appendf(nil, "v%d", i)
		body = binary.AppendVarint(body, int64(len(v)))
		body = append(body, v...)
		body = binary.AppendVarint(body, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(body)))
		recs = append(recs, body...)
		maxTs = max(maxTs, firstTs+d)
	}
	payload := compress(t, codec, recs, xerial)
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(payload))
	binary.BigEndian.PutUint32(b[8:], uint32(batchHeaderSize-12+len(payload)))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(codec))
	binary.BigEndian.PutUint32(b[23:], uint32(len(tsDeltas)-1))
	binary.BigEndian.PutUint64(b[27:], uint64(firstTs))
	binary.BigEndian.PutUint64(b[35:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[43:], ^uint64(0)) // producer id -1
	binary.BigEndian.PutUint16(b[51:], 0xffff)
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[57:], uint32(len(tsDeltas)))
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func compress(t testing.TB, codec int8, src []byte, xerial bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case CodecNone:
		return src
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		w.Write(src)
		w.Close()
	case CodecSnappy:
		block := s2.EncodeSnappy(nil, src)
		if !xerial {
			return block
		}
		buf.Write(xerialSnappyMagic)
		buf.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1})
		// two chunks, to exercise the loop
		half := len(src) / 2
		for _, part := range [][]byte{src[:half], src[half:]} {
			blk := s2.EncodeSnappy(nil, part)
			binary.Write(&buf, binary.BigEndian, uint32(len(blk)))
			buf.Write(blk)
		}
	case CodecLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(src)
		w.Close()
	case CodecZstd:
		e, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return e.EncodeAll(src, nil)
	}
	return buf.Bytes()
}
