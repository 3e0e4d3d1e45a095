package tiering_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// BenchmarkVerifyChain100k is the hash chain check a broker runs when it loads the manifest
// of a partition with 100,000 segments (strata-bench's flat-with-history phase measured
// ~300-700 ms of its start-up attach there).
func BenchmarkVerifyChain100k(b *testing.B) {
	const n = 100_000
	id := [16]byte{7}
	prefix := tiering.PartitionPrefix("", "hist", id, 0)
	entries := make([]tiering.SegmentEntry, 0, n)
	for base := int64(0); base < n; base++ {
		log := segmenttest.Batch(1_000_000+base, bytes.Repeat([]byte("v"), 50))
		binary.BigEndian.PutUint64(log[0:8], uint64(base))
		so, err := tiering.DescribeSegment(prefix, base, log, tiering.Config{})
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, so.Entry)
	}
	head, err := tiering.WriteManifest(context.Background(), memstore.New(), prefix, "hist", id, 0, entries, tiering.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if breaks := tiering.VerifyChain(head, entries); len(breaks) > 0 {
			b.Fatal(breaks[0])
		}
	}
}
