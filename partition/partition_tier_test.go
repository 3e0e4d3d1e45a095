package partition

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// The Partition composed with the real tier (tiering.RemotePartition over memstore):
// upload, upload-gated local deletion, reads below the local start served from the
// bucket byte for byte, timestamp lookups in remote data, DeleteRecords through the
// manifest.
func TestPartitionWithRemotePartition(t *testing.T) {
	p := testPartition(t, map[string]string{
		"segment.bytes": "300", "remote.storage.enable": "true",
		"local.retention.bytes": "1", "retention.ms": "-1", "retention.bytes": "-1",
	})
	rp := attachMemTier(t, p)

	// 12 batches of 3 records (ts 1000 + 10*i + j), several segments.
	var want []byte
	for i := range 12 {
		b := testBatch(t, codecZstd, 1000+int64(10*i), []int64{0, 1, 2}, false)
		h, err := validateBatch(b, p.config(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.append(b, h, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	want, _, err := p.readLocal(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	// readLocal stops at a segment boundary; read the whole log.
	for off := int64(len(batchOffsets(t, want)) * 3); off < p.HighWatermark(); {
		more, _, err := p.readLocal(off, 1<<20, true)
		if err != nil || len(more) == 0 {
			t.Fatalf("read at %d: %v", off, err)
		}
		want = append(want, more...)
		off += int64(len(batchOffsets(t, more)) * 3)
	}
	nsegs := len(p.log.Segments())
	if nsegs < 3 {
		t.Fatalf("only %d segments", nsegs)
	}

	p.runMaintenance(time.Now()) // nothing uploaded yet: nothing deleted
	if p.LocalLogStartOffset() != 0 {
		t.Fatalf("local start %d before upload", p.LocalLogStartOffset())
	}
	if err := rp.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.runMaintenance(time.Now())
	localStart := p.LocalLogStartOffset()
	if localStart == 0 || p.LogStartOffset() != 0 {
		t.Fatalf("after upload: local start %d, log start %d", localStart, p.LogStartOffset())
	}

	// Read everything back: remote below localStart, local above.
	var got []byte
	for off := int64(0); off < p.HighWatermark(); {
		var data []byte
		if off < p.LocalLogStartOffset() {
			d, done, err := p.ReadRemote(t.Context(), off, 1<<20, true, 5*time.Second)
			if err != nil || !done {
				t.Fatalf("remote read at %d: %v %v", off, done, err)
			}
			data = d.AppendTo(nil)
		} else {
			d, _, err := p.readLocal(off, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			data = d
		}
		offs := batchOffsets(t, data)
		if len(offs) == 0 {
			t.Fatalf("empty read at %d", off)
		}
		// Remote reads may return batches the local read already covered only if they
		// start at off; keep the batches from off on.
		got = append(got, data...)
		h, _ := segment.DecodeBatchHeader(data[len(data)-batchLen(t, data):])
		off = h.LastOffset() + 1
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("log read through the tier differs: %d bytes vs %d", len(got), len(want))
	}

	// Timestamp lookup lands in remote data (record 2 of batch 1: ts 1012 -> offset 5).
	if off, ts, err := p.ListOffset(t.Context(), 1012); err != nil || off != 5 || ts != 1012 {
		t.Fatalf("listOffset(1012) = %d %d %v", off, ts, err)
	}
	// DeleteRecords inside the remote range moves the remote start.
	low, err := p.deleteRecords(context.Background(), 4)
	if err != nil || low != 4 {
		t.Fatalf("delete records: %d %v", low, err)
	}
	if start, _, _ := rp.Bounds(); start != 4 {
		t.Fatalf("remote start %d", start)
	}
}

// batchLen returns the size of the last batch in data.
func batchLen(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	_ = SplitBatches(data, func(h segment.BatchHeader, b []byte) (bool, error) { n = len(b); return true, nil })
	return n
}

// attachMemTier attaches to p a remote tier over an in-memory bucket (1 KiB chunks).
func attachMemTier(t *testing.T, p *Partition) *tiering.RemotePartition {
	t.Helper()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m, err := tiering.NewManager(tiering.Config{ChunkBytes: 1024}, memstore.New(), c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := m.OpenPartition(t.Context(), "t", [16]byte{1}, 0, p.log, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.ClosePartition("t", 0) })
	p.setTier(rp)
	return rp
}
