package partition

import (
	"context"
	"testing"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// watermarkManager is a tier manager over store writing watermarks only when appends pass
// the reservation (and at a final write); it runs until the test ends.
func watermarkManager(t *testing.T, store tiering.ObjectStore) *tiering.Manager {
	t.Helper()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m, err := tiering.NewManager(tiering.Config{ChunkBytes: 1024, WatermarkInterval: time.Hour, OrphanSweepInterval: -1}, store, c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// attachedPartition opens a partition of topic "wm" (tiered) in a fresh directory and
// attaches its tier with m; appends happen only after the attach, as in the broker.
func attachedPartition(t *testing.T, m *tiering.Manager, id [16]byte, before func(*Partition)) *Partition {
	t.Helper()
	p, err := Open(Options{Topic: "wm", TopicID: id, Dir: t.TempDir(), Config: testConfig(t, map[string]string{"remote.storage.enable": "true"})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close() })
	if before != nil {
		before(p)
	}
	if err := p.AttachTier(t.Context(), m, tiering.PartitionConfig{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.ClosePartition("wm", 0) })
	return p
}

// The watermark (tiering/watermark.go) through the partition: Append tells the tier its log
// end, which writes a watermark at once past the (empty) reservation and not within it; a
// brand-new local log attached to the partition's tier (a restore) starts after the
// reservation, never on an offset that may have been acknowledged; after a clean stop's
// final watermark a restore continues right after the last record; a log with data is
// never moved. (Moved from tiering's TestWatermarkReservationAndRestore with the restart,
// which the partition applies.)
func TestWatermarkReservationAndRestore(t *testing.T) {
	store := memstore.New()
	var id [16]byte
	id[0] = 7
	m := watermarkManager(t, store)
	p := attachedPartition(t, m, id, nil)
	prefix := tiering.PartitionPrefix("", "wm", id, 0)
	read := func() tiering.PartitionWatermark {
		w, err := tiering.ReadWatermark(t.Context(), store, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// Ten records in one batch: one append, one NoteLogEnd past the (empty) reservation,
	// written at once (ten appends would move the reservation on the way).
	b := testBatch(t, codecNone, 1000, make([]int64, 10), false)
	h, err := validateBatch(b, p.config(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.append(b, h, time.Now()); err != nil {
		t.Fatal(err)
	}
	end1 := p.HighWatermark()
	waitFor("the first watermark", func() bool { return read().LogEnd == end1 })
	w := read()
	if w.ReservedEnd != 3*end1 || w.Kind != "strata.partition.watermark" || w.Topic != "wm" {
		t.Fatalf("first watermark %+v, want logEnd %d reservedEnd %d", w, end1, 3*end1)
	}
	// Within the reservation nothing is written (the interval would do it).
	appendN(t, p, 1, 2000)
	time.Sleep(50 * time.Millisecond)
	if got := read(); got.LogEnd != end1 {
		t.Fatalf("written within the reservation: %+v", got)
	}

	// A new broker with an empty log for the partition (the disk was lost, nothing uploaded):
	// it starts at the reservation, after every offset the old one may have acknowledged.
	p2 := attachedPartition(t, watermarkManager(t, store), id, nil)
	if p2.HighWatermark() != w.ReservedEnd || p2.LocalLogStartOffset() != w.ReservedEnd || w.ReservedEnd <= p.HighWatermark()-1 {
		t.Fatalf("restored log at [%d, %d), reservation %d, old log end %d", p2.LocalLogStartOffset(), p2.HighWatermark(), w.ReservedEnd, p.HighWatermark())
	}

	// A clean stop records the exact end: a restore continues right after it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m.WriteFinalWatermarks(ctx)
	if got := read(); got.LogEnd != p.HighWatermark() || got.ReservedEnd != p.HighWatermark() {
		t.Fatalf("final watermark %+v, want both at %d", got, p.HighWatermark())
	}
	p3 := attachedPartition(t, watermarkManager(t, store), id, nil)
	if p3.HighWatermark() != p.HighWatermark() {
		t.Fatalf("after a clean stop the restored log starts at %d, want %d", p3.HighWatermark(), p.HighWatermark())
	}
	// A partition with local data is never moved by a watermark.
	p4 := attachedPartition(t, watermarkManager(t, store), id, func(p *Partition) { appendN(t, p, 1, 3000) })
	if p4.LocalLogStartOffset() != 0 {
		t.Fatalf("a log with data was moved to %d", p4.LocalLogStartOffset())
	}
}
