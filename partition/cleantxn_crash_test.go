package partition

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/strata-io/strata/segment/segmenttest"
)

// TestCleanerTxnCrashAtEveryStep: a power loss at each filesystem operation of the clean
// that removes aborted data (the first) and of the clean that removes markers and their
// aborted-index entries (after the horizon) leaves a partition whose read_committed view
// is the model, with no transaction open, and which cleans on to the same view.
func TestCleanerTxnCrashAtEveryStep(t *testing.T) {
	const dir = "/data/ct-0"
	cfg := compactConfig(t, "compact")
	cfg.SegmentBytes = 800
	now := time.UnixMilli(5_000_000)
	second := now.Add(time.Hour)
	horizonTime := time.UnixMilli(second.UnixMilli() + cfg.DeleteRetentionMs + 1)
	model := map[string]string{}
	build := func(phase int) *segmenttest.MemFS {
		fs := segmenttest.NewMemFS()
		p := openCompacted(t, fs, dir, cfg)
		rng := rand.New(rand.NewPCG(3, 4))
		seq := int32(0)
		for i := range 40 {
			k := fmt.Sprintf("k%d", rng.IntN(6))
			v := fmt.Sprintf("v%d", i)
			if i%3 == 0 {
				appendKeyed(t, p, keyedBatch(t, now.UnixMilli(), codecNone, -1, 0, rec(k, v)), now)
				model[k] = v
				continue
			}
			appendKeyed(t, p, txnKeyed(t, now.UnixMilli(), 11, seq, rec(k, v)), now)
			seq++
			commit := i%2 == 0
			if _, err := p.WriteTxnMarker(11, 0, commit, 0, now); err != nil {
				t.Fatal(err)
			}
			if commit {
				model[k] = v
			}
		}
		if err := p.Roll(); err != nil {
			t.Fatal(err)
		}
		if phase == 2 {
			clean(t, p, now, 1<<20)
			clean(t, p, second, 1<<20)
			p.SaveProducerState()
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	for _, phase := range []int{1, 2} {
		at := now
		if phase == 2 {
			at = horizonTime
		}
		ops := 0
		{
			fs := build(phase)
			p := openCompacted(t, fs, dir, cfg)
			fs.SetFault(func(op, name string) error { ops++; return nil })
			st := clean(t, p, at, 1<<20)
			fs.SetFault(nil)
			if !st.Cleaned || (phase == 2 && st.Markers == 0) {
				t.Fatalf("phase %d reference clean: %+v", phase, st)
			}
			if got := readCommitted(t, p); !equalMaps(got, model) {
				t.Fatalf("phase %d reference: view %v, model %v", phase, got, model)
			}
			p.Close()
		}
		for k := 1; k <= ops+1; k++ {
			fs := build(phase)
			p := openCompacted(t, fs, dir, cfg)
			n := 0
			fs.SetFault(func(op, name string) error {
				n++
				if n >= k {
					return fmt.Errorf("power lost at %s %s: %w", op, name, errors.ErrUnsupported)
				}
				return nil
			})
			_, _ = p.Clean(t.Context(), at, cleanIO{m: newOffsetMap(1 << 20)})
			q := openCompacted(t, fs.Crash(), dir, cfg)
			if lso, hw := q.LastStableOffset(), q.HighWatermark(); lso != hw {
				t.Fatalf("phase %d, power loss at operation %d of %d: LSO %d, HW %d", phase, k, ops, lso, hw)
			}
			if got := readCommitted(t, q); !equalMaps(got, model) {
				t.Fatalf("phase %d, power loss at operation %d of %d: view %v, model %v", phase, k, ops, got, model)
			}
			clean(t, q, at, 1<<20)
			clean(t, q, horizonTime.Add(time.Hour), 1<<20)
			q.SaveProducerState()
			clean(t, q, horizonTime.Add(time.Duration(2*cfg.DeleteRetentionMs)*time.Millisecond), 1<<20)
			if got := readCommitted(t, q); !equalMaps(got, model) {
				t.Fatalf("phase %d, power loss at operation %d: after cleaning on, view %v, model %v", phase, k, got, model)
			}
			q.Close()
		}
		t.Logf("phase %d: %d crash points", phase, ops+1)
	}
}
