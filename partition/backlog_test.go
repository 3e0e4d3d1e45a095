package partition

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
)

// fullBacklog is localBacklog by a scan of every local segment (what the maintenance
// loop and the metrics scrape did before).
func fullBacklog(l *segment.Log, t Tier) (notRemote, lag, size int64) {
	for _, s := range l.Segments() {
		size += s.Size
		if !t.Uploaded(s) {
			notRemote += s.Size
			if s.Sealed && s.Size > 0 {
				lag += s.Size
			}
		}
	}
	return notRemote, lag, size
}

// The backlog figures of the maintenance loop and the metrics scrape (localBacklog and
// Log.Size, which visit only what changed) equal a full recount after appends, rolls,
// uploads through the real tier, upload-gated local retention, DeleteRecords and total
// retention.
func TestLocalBacklogEqualsRecount(t *testing.T) {
	p := testPartition(t, map[string]string{
		"segment.bytes": "400", "remote.storage.enable": "true",
		"local.retention.bytes": "1500", "retention.ms": "-1", "retention.bytes": "-1",
	})
	rp := attachMemTier(t, p)

	check := func(step string) {
		t.Helper()
		wantNR, wantLag, wantSize := fullBacklog(p.log, rp)
		nr, lag := localBacklog(p.log, rp)
		if nr != wantNR || lag != wantLag || p.log.Size() != wantSize {
			t.Fatalf("%s: not remote %d, lag %d, size %d; recount %d, %d, %d", step, nr, lag, p.log.Size(), wantNR, wantLag, wantSize)
		}
	}
	check("empty")
	for round := range 8 {
		appendN(t, p, 10+3*round, int64(1000*round))
		check(fmt.Sprintf("round %d: appended", round))
		if round%3 == 0 {
			p.mu.Lock()
			if err := p.rollLocked(); err != nil {
				t.Fatal(err)
			}
			p.mu.Unlock()
			check(fmt.Sprintf("round %d: rolled", round))
		}
		if round%2 == 1 {
			if err := rp.UploadPending(t.Context()); err != nil {
				t.Fatal(err)
			}
			check(fmt.Sprintf("round %d: uploaded", round))
		}
		p.runMaintenance(time.Now()) // local retention of uploaded segments
		check(fmt.Sprintf("round %d: maintenance", round))
		if round == 5 {
			if _, err := p.deleteRecords(context.Background(), p.HighWatermark()-5); err != nil {
				t.Fatal(err)
			}
			check("delete records")
		}
	}
	appendN(t, p, 30, 9000)
	check("appended after the last upload")
	if _, lag := localBacklog(p.log, rp); lag == 0 {
		t.Fatal("the test ends with nothing waiting for upload; it should end with a backlog")
	}
	if err := rp.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("final upload")
	if _, lag := localBacklog(p.log, rp); lag != 0 {
		t.Fatalf("lag %d after everything was uploaded", lag)
	}
}
