package partition

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
)

// The maintenance snapshot's prune, which lists the directory only once, leaves exactly the
// snapshot files a prune that lists it every time leaves: the one at the log end and, in a
// tiered partition, the roll snapshots at the base offsets of local segments; through rolls,
// local retention, DeleteRecords, maintenance runs without appends, and a switch of the
// topic to local-only storage and back.
func TestProducerSnapshotPruneWithoutListing(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "300", "remote.storage.enable": "true"})
	st := producer.NewState(producer.StateConfig{})
	p.installProducerState(st)
	// rollSnapsFrom is the offset from which local segment bases have roll snapshots. It
	// is local: as a package variable it kept the last run's value, and the test failed
	// at round 0 of its second run under -count=2.
	var rollSnapsFrom int64

	check := func(step string) {
		t.Helper()
		got, err := producer.Snapshots(nil, p.dir)
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{p.HighWatermark()}
		if p.config().RemoteStorageEnable {
			for _, s := range p.log.Segments() {
				if s.BaseOffset > 0 && s.BaseOffset != want[0] && s.BaseOffset >= rollSnapsFrom {
					want = append(want, s.BaseOffset)
				}
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: snapshot files at %v, want %v (segments from %d)", step, got, want, p.log.Segments()[0].BaseOffset)
		}
	}
	setTiered := func(on bool) {
		cfg := p.config()
		cfg.RemoteStorageEnable = on
		p.SetConfig(cfg)
	}
	for round := range 12 {
		appendN(t, p, 15+round, int64(1000*round)) // rolls every few records
		p.SaveProducerState()
		check(fmt.Sprintf("round %d", round))
		switch round % 4 {
		case 1: // local retention of the oldest segments
			p.applyLocalRetention(segment.RetentionPolicy{Ms: -1, Bytes: p.SizeBytes() / 2}, time.Now(), nil)
		case 2:
			if _, err := p.deleteRecords(context.Background(), p.HighWatermark()-3); err != nil {
				t.Fatal(err)
			}
		case 3:
			p.SaveProducerState() // nothing appended: nothing to do
		}
		if round == 6 {
			setTiered(false) // roll snapshots of the segments are no longer kept
			rollSnapsFrom = 1 << 62
		}
		if round == 8 {
			setTiered(true)
			rollSnapsFrom = p.HighWatermark() + 1 // rolls from now on have snapshots
		}
		appendN(t, p, 1, 99)
		p.SaveProducerState()
		check(fmt.Sprintf("round %d, after the change", round))
	}
}
