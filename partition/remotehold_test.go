package partition

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/tiering"
)

// countingTier counts reads of a fakeTier.
type countingTier struct {
	*fakeTier
	reads atomic.Int64
}

func (c *countingTier) ReadRecords(ctx context.Context, offset int64, maxBytes int, minOne bool, o tiering.ReadOptions) (tiering.Records, error) {
	c.reads.Add(1)
	return c.fakeTier.ReadRecords(ctx, offset, maxBytes, minOne, o)
}

// Consumers retrying a remote offset while the bucket is down get the held error instead
// of one failing GET per fetch; the hold grows with consecutive failures up to
// remoteErrorHoldMax; after it the bucket is tried again, and a recovered bucket serves.
// It runs in a synctest bubble: on a real clock, a test goroutine descheduled for more than
// remoteErrorHoldMin (50 ms, easily reached by a loaded 2-core machine under -race) during
// the 20 fetches would let the hold expire and the bucket be read twice; in the bubble the
// holds are exact and the test takes no real time (it took 3 s).
func TestRemoteReadErrorIsHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := testPartition(t, nil)
		ft := &countingTier{fakeTier: &fakeTier{ReadErr: errors.New("bucket down")}}
		p.setTier(ft)
		fetch := func() error {
			_, done, err := p.ReadRemote(t.Context(), 0, 1<<20, true, time.Second)
			if !done {
				t.Fatal("read not done")
			}
			return err
		}
		for i := range 20 {
			if err := fetch(); !errors.Is(err, ErrRemote) { // KAFKA_STORAGE_ERROR
				t.Fatalf("fetch %d: %v, want KAFKA_STORAGE_ERROR", i, err)
			}
		}
		if n := ft.reads.Load(); n != 1 {
			t.Fatalf("%d reads of the bucket for 20 fetches within the hold, want 1", n)
		}
		// Keep failing through the growing holds: about 8 more reads in 2 s, not hundreds.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if err := fetch(); err == nil {
				t.Fatal("served while the bucket is down")
			}
			time.Sleep(time.Millisecond)
		}
		if n := ft.reads.Load(); n < 3 || n > 12 {
			t.Fatalf("%d reads of a down bucket in 2 s of fetches every millisecond, want a handful", n)
		}
		time.Sleep(remoteErrorHoldMax + 50*time.Millisecond)
		before := ft.reads.Load()
		ft.Mu.Lock()
		ft.ReadErr = nil
		ft.Mu.Unlock()
		if err := fetch(); err != nil {
			t.Fatalf("after the hold, with the bucket back: %v", err)
		}
		if n := ft.reads.Load(); n != before+1 {
			t.Fatalf("%d reads, want %d", n, before+1)
		}
		if err := fetch(); err != nil { // the success reset the failure count
			t.Fatal(err)
		}
	})
}
