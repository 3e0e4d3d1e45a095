package producer

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-io/strata/segment/segmenttest"
)

// TestSnapshotSaveCrashAtAnyInstant: a crash at any instant of Save leaves the previous
// snapshot or the new one, whole, never a torn file under a snapshot name; once Save
// returned nil the new one survives. Every prefix of Save's filesystem operations is
// crashed on segmenttest.MemFS.
func TestSnapshotSaveCrashAtAnyInstant(t *testing.T) {
	errCrash := errors.New("injected crash")
	const dir = "/data/orders-0"
	older := NewState(StateConfig{})
	run(t, older, []step{{pid: 1, base: 0, n: 2}})
	newer := NewState(StateConfig{})
	run(t, newer, []step{{pid: 1, base: 0, n: 2}, {pid: 1, base: 2, n: 3}, {pid: 9, epoch: 2, base: 0, n: 1}})
	for n := 0; ; n++ {
		fs := segmenttest.NewMemFS()
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := older.Save(fs, dir, 10); err != nil {
			t.Fatal(err)
		}
		ops := 0
		fs.SetFault(func(op, name string) error {
			if ops++; ops > n {
				return errCrash
			}
			return nil
		})
		saveErr := newer.Save(fs, dir, 20)
		faulted := ops > n
		fs.SetFault(nil)
		after := fs.Crash()

		got := NewState(StateConfig{})
		off, found, err := got.LoadLatest(after, dir, 100)
		if err != nil || !found {
			t.Fatalf("crash after %d operations: LoadLatest: %d %v %v", n, off, found, err)
		}
		switch {
		case off == 20 && bytes.Equal(got.Encode(), newer.Encode()):
		case off == 10 && bytes.Equal(got.Encode(), older.Encode()) && saveErr != nil:
		default:
			t.Fatalf("crash after %d operations (Save: %v): loaded the snapshot at %d, want the old one at 10 or the new one at 20 whole", n, saveErr, off)
		}
		offs, err := Snapshots(after, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range offs {
			if err := NewState(StateConfig{}).Load(after, dir, o); err != nil {
				t.Fatalf("crash after %d operations: snapshot at %d: %v", n, o, err)
			}
		}
		if !faulted {
			if saveErr != nil || off != 20 {
				t.Fatalf("run without a fault: Save %v, loaded %d", saveErr, off)
			}
			return
		}
	}
}
