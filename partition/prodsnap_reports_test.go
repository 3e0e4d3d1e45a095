package partition

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
)

// noRollSnapshots hides producer.State's Save from snapshotProducersAtRollLocked, as for
// segments sealed before the topic was tiered: the uploader must fall back to the newest
// snapshot inside each segment, which the maintenance snapshots provide.
type noRollSnapshots struct{ producerState }

// The tier keeps the set of snapshot files from the broker's reports (saves at maintenance
// and rolls, removals by the prune) instead of listing the directory for each upload, and
// uploads the same snapshot with each segment as a listing of the directory just before the
// upload would choose: the one at the segment's end, else the newest in [base, next], else
// none.
func TestProducerSnapshotReportsKeepUploadChoice(t *testing.T) {
	for _, rollSnaps := range []bool{true, false} {
		t.Run(fmt.Sprintf("roll snapshots=%v", rollSnaps), func(t *testing.T) {
			p := testPartition(t, map[string]string{"remote.storage.enable": "true", "retention.ms": "-1"})
			rp := attachMemTier(t, p)
			if !rollSnaps {
				p.mu.Lock()
				p.producers = noRollSnapshots{p.producers}
				p.mu.Unlock()
			}
			seq := int32(0)
			app := func(n int) {
				t.Helper()
				for range n {
					batch := idempotentBatch(t, 5, 0, seq, 1)
					seq++
					h, err := validateBatch(batch, p.config(), time.Now())
					if err != nil {
						t.Fatal(err)
					}
					if _, err := p.append(batch, h, time.Now()); err != nil {
						t.Fatal(err)
					}
				}
			}
			roll := func() {
				p.mu.Lock()
				defer p.mu.Unlock()
				if err := p.rollLocked(); err != nil {
					t.Fatal(err)
				}
			}
			// oldChoice is what a listing of the directory picks for seg.
			oldChoice := func(seg segment.SegmentInfo) int64 {
				offs, err := producer.Snapshots(nil, p.dir)
				if err != nil {
					t.Fatal(err)
				}
				best := int64(-1)
				for _, o := range offs {
					if o == seg.NextOffset {
						return o
					}
					if o >= seg.BaseOffset && o <= seg.NextOffset {
						best = max(best, o)
					}
				}
				return best
			}
			var want []int64
			upload := func() {
				t.Helper()
				done := len(rp.Entries())
				_, uploaded, _ := rp.Bounds()
				segs := p.log.Segments()
				for _, s := range segs[:len(segs)-1] { // the sealed ones
					if s.BaseOffset >= uploaded {
						want = append(want, oldChoice(s))
					}
				}
				if err := rp.UploadPending(t.Context()); err != nil {
					t.Fatal(err)
				}
				if n := len(rp.Entries()) - done; n == 0 {
					t.Fatal("nothing uploaded")
				}
			}

			app(3)
			p.SaveProducerState() // inside segment 0; the first prune lists the directory
			app(3)
			roll()
			upload()
			for range 3 {
				app(2)
				p.SaveProducerState() // removes the previous one (unless a segment base)
				app(2)
				p.SaveProducerState()
				app(1)
				roll()
				app(2)
				roll() // nothing inside this segment but at its base
				upload()
			}
			app(2)
			p.SaveProducerState()
			roll()
			p.SaveProducerState() // nothing appended: no new snapshot
			app(1)
			p.SaveProducerState() // removes none of those at segment bases
			roll()
			upload()

			var got []int64
			for _, e := range rp.Entries() {
				if e.ProducerSnapshot == nil {
					got = append(got, -1)
				} else {
					got = append(got, e.ProducerSnapshotOffset)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("uploaded snapshots at %v, a listing picks %v", got, want)
			}
			t.Logf("snapshots at %v", got)
		})
	}
}
