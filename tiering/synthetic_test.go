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

// A history built with DescribeSegment and WriteManifest loads as the broker's own: every
// entry, spilled chunks, an unbroken hash chain, objects that verify.
func TestSyntheticHistoryLoads(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	id := [16]byte{1, 2, 3}
	prefix := tiering.PartitionPrefix("", "hist", id, 0)
	const n = 300
	var entries []tiering.SegmentEntry
	for base := int64(0); base < n; base++ {
		log := segmenttest.Batch(1_000_000+base, bytes.Repeat([]byte("v"), 50))
		binary.BigEndian.PutUint64(log[0:8], uint64(base))
		so, err := tiering.DescribeSegment(prefix, base, log, tiering.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if base%100 == 0 {
			for k, b := range so.Objects {
				if err := st.Put(ctx, k, bytes.NewReader(b), int64(len(b))); err != nil {
					t.Fatal(err)
				}
			}
		}
		entries = append(entries, so.Entry)
	}
	head, err := tiering.WriteManifest(ctx, st, prefix, "hist", id, 0, entries, tiering.Config{ManifestChunkEntries: 64})
	if err != nil {
		t.Fatal(err)
	}
	if head.EndOffset != n || head.LastChunk == nil || head.Chain == nil {
		t.Fatalf("head: end %d, last chunk %v, chain %v", head.EndOffset, head.LastChunk, head.Chain)
	}
	h, got, breaks, err := tiering.ReadPartitionChain(ctx, st, "", "hist", id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || len(breaks) != 0 || h.EndOffset != n {
		t.Fatalf("loaded %d entries (want %d), %d chain breaks, end %d", len(got), n, len(breaks), h.EndOffset)
	}
	if got[100].FirstTimestamp != 1_000_100 || got[100].BaseOffset != 100 {
		t.Fatalf("entry 100: %+v", got[100])
	}
	if err := tiering.VerifyEntry(ctx, st, got[200]); err != nil {
		t.Fatalf("verify entry 200: %v", err)
	}
}
