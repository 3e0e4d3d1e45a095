package tiering_test

import (
	"context"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering"
)

// The watermark: written every interval while the log end moves, with a reservation ahead
// of it; a log end past the reservation is written at once; a partition opened again (a
// restore) reports the watermark it read (OpenedWatermark), and the tier never moves the
// local log itself (package partition restarts a brand-new log after the reservation:
// partition.TestWatermarkReservationAndRestore); a final watermark after a clean stop has
// no reservation.
func TestWatermarkReservation(t *testing.T) {
	store := newMem()
	cfg := testConfig()
	cfg.WatermarkInterval = time.Hour // only NoteLogEnd and the final write cause writes here
	e := newEnv(t, store, cfg)
	e.run()
	var id [16]byte
	id[0] = 7
	l := openLog(t, t.TempDir(), 1<<20)
	p, err := e.m.OpenPartition(t.Context(), "wm", id, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := tiering.PartitionPrefix("", "wm", id, 0)
	read := func() tiering.PartitionWatermark {
		w, err := tiering.ReadWatermark(t.Context(), store, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	produce(t, l, 10, 1000)
	end1 := l.NextOffset()
	p.NoteLogEnd(end1) // past the (empty) reservation: written at once
	waitFor(t, "the first watermark", func() bool { return read().LogEnd == end1 })
	w := read()
	if w.ReservedEnd != 3*end1 || w.Kind != "strata.partition.watermark" || w.Topic != "wm" {
		t.Fatalf("first watermark %+v, want logEnd %d reservedEnd %d", w, end1, 3*end1)
	}
	// Within the reservation nothing is written (the interval would do it).
	produce(t, l, 1, 2000)
	p.NoteLogEnd(l.NextOffset())
	time.Sleep(50 * time.Millisecond)
	if got := read(); got.LogEnd != end1 {
		t.Fatalf("written within the reservation: %+v", got)
	}

	// A new broker with an empty log for the partition (the disk was lost, nothing uploaded):
	// the tier reports the reservation; the log is the partition's to move.
	e2 := newEnv(t, store, cfg)
	l2 := openLog(t, t.TempDir(), 1<<20)
	p2, err := e2.m.OpenPartition(t.Context(), "wm", id, 0, l2, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p2.OpenedWatermark(); got.ReservedEnd != w.ReservedEnd || got.LogEnd != w.LogEnd || l2.NextOffset() != 0 {
		t.Fatalf("reopened: watermark %+v, local log at %d; want %+v, 0", got, l2.NextOffset(), w)
	}
	e2.m.ClosePartition("wm", 0)

	// A clean stop records the exact end: a restore continues right after it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	e.m.WriteFinalWatermarks(ctx)
	if got := read(); got.LogEnd != l.NextOffset() || got.ReservedEnd != l.NextOffset() {
		t.Fatalf("final watermark %+v, want both at %d", got, l.NextOffset())
	}
	e3 := newEnv(t, store, cfg)
	l3 := openLog(t, t.TempDir(), 1<<20)
	p3, err := e3.m.OpenPartition(t.Context(), "wm", id, 0, l3, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := p3.OpenedWatermark(); got.ReservedEnd != l.NextOffset() {
		t.Fatalf("after a clean stop the reopened watermark reserves to %d, want %d", got.ReservedEnd, l.NextOffset())
	}
}

// The watermark is never an orphan.
func TestWatermarkNotSwept(t *testing.T) {
	store := newMem()
	cfg := testConfig()
	cfg.WatermarkInterval = time.Hour
	cfg.OrphanGrace = time.Nanosecond
	e := newEnv(t, store, cfg)
	e.run()
	var id [16]byte
	l := openLog(t, t.TempDir(), 1<<20)
	p, err := e.m.OpenPartition(t.Context(), "wm", id, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	produce(t, l, 3, 1000)
	p.NoteLogEnd(l.NextOffset())
	prefix := tiering.PartitionPrefix("", "wm", id, 0)
	waitFor(t, "the watermark", func() bool {
		w, err := tiering.ReadWatermark(t.Context(), store, prefix)
		return err == nil && w.LogEnd > 0
	})
	time.Sleep(time.Millisecond)
	if _, err := p.SweepOrphans(t.Context(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if w, err := tiering.ReadWatermark(t.Context(), store, prefix); err != nil || w.LogEnd == 0 {
		t.Fatalf("watermark swept: %+v %v", w, err)
	}
}
