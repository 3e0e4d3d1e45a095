package partition

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment/segmenttest"
)

// TestProducerSnapshotCrashAtAnyInstant: the producer snapshots of a partition are written
// on its filesystem seam, so a power loss at any instant of SaveProducerState (the write
// of the new snapshot and the removal of the old ones) is simulated on segmenttest.MemFS.
// Whatever instant the power goes, the partition reopens, every snapshot file it finds
// loads whole, and the retry of an acknowledged idempotent batch is still answered as a
// duplicate with its original offsets.
func TestProducerSnapshotCrashAtAnyInstant(t *testing.T) {
	errCrash := errors.New("injected crash")
	const dir = "/data/ps-0"
	cfg := testConfig(t, nil)
	for n := 0; ; n++ {
		fs := segmenttest.NewMemFS()
		p, err := Open(Options{Topic: "ps", Dir: dir, Config: cfg, FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		app := func(p *Partition, b []byte) AppendResult {
			t.Helper()
			h, err := validateBatch(b, p.config(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.append(b, h, time.Now())
			if err != nil {
				t.Fatalf("crash after %d operations: append: %v", n, err)
			}
			if err := p.waitDurable(context.Background(), r.Info.LastOffset+1); err != nil {
				t.Fatal(err)
			}
			return r
		}
		app(p, idempotentBatch(t, 7, 0, 0, 2))
		p.SaveProducerState() // an older snapshot for the next save to replace
		last := app(p, idempotentBatch(t, 7, 0, 2, 3))
		ops := 0
		fs.SetFault(func(op, name string) error {
			if ops++; ops > n {
				return errCrash
			}
			return nil
		})
		p.SaveProducerState()
		faulted := ops > n
		fs.SetFault(nil)
		after := fs.Crash()
		_ = p.close()

		p2, err := Open(Options{Topic: "ps", Dir: dir, Config: cfg, FS: after})
		if err != nil {
			t.Fatalf("crash after %d operations: reopen: %v", n, err)
		}
		offs, err := producer.Snapshots(after, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !faulted && !slices.Contains(offs, 5) {
			t.Fatalf("run without a fault left snapshots %v, without the one at the log end (5)", offs)
		}
		for _, o := range offs {
			if err := producer.NewState(producer.StateConfig{}).Load(after, dir, o); err != nil {
				t.Fatalf("crash after %d operations: snapshot at %d: %v", n, o, err)
			}
		}
		r := app(p2, idempotentBatch(t, 7, 0, 2, 3))
		if !r.Duplicate || r.Info.BaseOffset != last.Info.BaseOffset || r.Info.LastOffset != last.Info.LastOffset {
			t.Fatalf("crash after %d operations: retry of the acknowledged batch: %+v, want a duplicate at %d-%d", n, r, last.Info.BaseOffset, last.Info.LastOffset)
		}
		_ = p2.close()
		if !faulted {
			return
		}
	}
}
