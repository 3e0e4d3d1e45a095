package broker

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/partition/partitiontest"
	"github.com/strata-io/strata/segment"
)

// Helpers of the broker's tests that stage partitions directly.

const (
	codecNone = partitiontest.CodecNone
	codecGzip = partitiontest.CodecGzip
)

// fakeTier is the in-memory remote tier of package partitiontest.
type fakeTier = partitiontest.Tier

// testBatch builds a v2 record batch (partitiontest.Batch).
func testBatch(t testing.TB, codec int8, firstTs int64, tsDeltas []int64, xerial bool) []byte {
	t.Helper()
	return partitiontest.Batch(t, codec, firstTs, tsDeltas, xerial)
}

// idempotentBatch is a batch of n records of producer pid at epoch from sequence seq.
func idempotentBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	b := testBatch(t, codecNone, 1000, make([]int64, n), false)
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// appendBatch appends one batch to p as a produce would (after the broker's checks).
func appendBatch(t testing.TB, p *partition.Partition, batch []byte) (partition.AppendResult, error) {
	t.Helper()
	h, err := segment.DecodeBatchHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	return p.Append(batch, h, time.Now(), true)
}

// appendN appends n single-record batches with timestamps ts0, ts0+1, ...
func appendN(t testing.TB, p *partition.Partition, n int, ts0 int64) {
	t.Helper()
	for i := range n {
		if _, err := appendBatch(t, p, testBatch(t, codecNone, ts0+int64(i), []int64{0}, false)); err != nil {
			t.Fatal(err)
		}
	}
}

// testPartition opens a partition of a topic with the broker's default config and
// overrides in a temporary directory.
func testPartition(t testing.TB, overrides map[string]string) *partition.Partition {
	t.Helper()
	bc, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := effectiveTopicConfig(&bc, overrides)
	p, err := partition.Open(partition.Options{Topic: "t", Dir: t.TempDir(), Config: partitionConfig(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// batchOffsets returns the base offsets of the batches in data.
func batchOffsets(t *testing.T, data []byte) []int64 {
	t.Helper()
	var offs []int64
	if err := partition.SplitBatches(data, func(h segment.BatchHeader, _ []byte) (bool, error) {
		offs = append(offs, h.BaseOffset)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return offs
}
