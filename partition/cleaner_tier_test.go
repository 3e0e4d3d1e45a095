package partition

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// TestCleanerTieredKeepsHistoryInBucket: in a tiered compacted partition only uploaded
// segments are cleaned, so the bucket keeps every record while the local log holds the
// compacted view; with compact,delete the cleaned local segments can then go by local
// retention (their offsets are in the bucket).
func TestCleanerTieredKeepsHistoryInBucket(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "400", "remote.storage.enable": "true",
		"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1"})
	rp := attachMemTier(t, p)
	now := time.UnixMilli(1_000_000)
	for i := range 40 {
		appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec(fmt.Sprintf("k%d", i%4), fmt.Sprint(i))), now)
	}
	p.Roll()
	before := readRecords(t, p)
	if st := clean(t, p, now, 1<<20); st.Cleaned {
		t.Fatalf("cleaned before upload: %+v", st)
	}
	if err := rp.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.Maintain(now, false) // snapshots listed once; later prunes go from the oldest only
	if snaps, _ := producer.Snapshots(nil, p.Dir()); len(snaps) < 3 {
		t.Fatalf("roll snapshots %v", snaps)
	}
	cfg := p.config()
	cfg.SegmentBytes = 1300 // the cleaned segments are merged by threes
	p.SetConfig(cfg)
	nsegs := len(p.log.Segments())
	if st := clean(t, p, now, 1<<20); !st.Cleaned || st.Segments < 3 {
		t.Fatalf("not cleaned after upload: %+v", st)
	}
	if n := len(p.log.Segments()); n >= nsegs-2 || n < 3 {
		t.Fatalf("%d segments after cleaning %d, want them merged into a few", n, nsegs)
	}
	if after := readRecords(t, p); len(after) != 4 {
		t.Fatalf("local compacted view: %d records, want 4", len(after))
	}
	// The roll snapshots of the segments merged away go at the next snapshot.
	appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k8", "x")), now)
	p.Maintain(now, false)
	snaps, err := producer.Snapshots(nil, p.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range snaps {
		if o != p.HighWatermark() && !p.log.HasSegment(o) {
			t.Fatalf("producer snapshot at %d kept: neither a segment base nor the log end (%v)", o, snaps)
		}
	}
	// The bucket: every record.
	var remote int
	_, end, _ := rp.Bounds()
	for off := int64(0); off < end; {
		recs, err := rp.ReadRecords(t.Context(), off, 1<<20, true, tiering.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b := recs.AppendTo(nil)
		if len(b) == 0 {
			break
		}
		SplitBatches(b, func(h segment.BatchHeader, _ []byte) (bool, error) {
			remote += int(h.NumRecords)
			off = h.LastOffset() + 1
			return true, nil
		})
	}
	if remote != len(before) {
		t.Fatalf("bucket holds %d records, %d were written", remote, len(before))
	}

	// compact,delete with local.retention.bytes: the cleaned segments, whose offsets are
	// all in the bucket, leave the local disk.
	cfg.CleanupPolicy = "compact,delete"
	cfg.LocalRetentionBytes = 1
	p.SetConfig(cfg)
	appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec("k9", "new")), now) // the active segment holds local.retention.bytes
	p.runMaintenance(now)
	if p.LocalLogStartOffset() == 0 {
		t.Fatalf("local start still 0: cleaned uploaded segments kept by local retention (%d local segments)", len(p.log.Segments()))
	}
	if p.LogStartOffset() != 0 {
		t.Fatalf("log start %d, want 0 (the bucket's)", p.LogStartOffset())
	}
}
