package producer

import (
	"errors"
	"testing"

	"github.com/strata-io/strata/segment/segmenttest"
)

// TestManagerCrashAtAnyInstant: a crash at any instant while producer ids are handed out
// (block reservations included) never lets the reopened manager hand out an id that was
// handed out before. Every prefix of the run's filesystem operations is crashed on
// segmenttest.MemFS.
func TestManagerCrashAtAnyInstant(t *testing.T) {
	errCrash := errors.New("injected crash")
	const dir = "/data/meta/producer"
	for n := 0; ; n++ {
		fs := segmenttest.NewMemFS()
		ops := 0
		fs.SetFault(func(op, name string) error {
			if ops++; ops > n {
				return errCrash
			}
			return nil
		})
		maxID := int64(-1)
		if m, err := NewManager(Config{Dir: dir, BlockSize: 3, FS: fs}); err == nil {
			for range 10 {
				id, err := m.NextID()
				if err != nil {
					break
				}
				maxID = max(maxID, id)
			}
		}
		faulted := ops > n
		fs.SetFault(nil)
		m2, err := NewManager(Config{Dir: dir, BlockSize: 3, FS: fs.Crash()})
		if err != nil {
			t.Fatalf("crash after %d operations: cannot reopen: %v", n, err)
		}
		id, err := m2.NextID()
		if err != nil {
			t.Fatal(err)
		}
		if id <= maxID {
			t.Fatalf("crash after %d operations: id %d handed out again (up to %d were handed out before)", n, id, maxID)
		}
		if !faulted {
			if maxID != 9 {
				t.Fatalf("run without a fault handed out up to %d", maxID)
			}
			return
		}
	}
}
