package group

import (
	"errors"
	"testing"

	"github.com/strata-io/strata/segment/segmenttest"
)

// TestFileStoreCrashAtAnyInstant: a crash at any instant of a run of offset commits,
// compactions included, loses no acknowledged commit and never brings back an older
// offset than the last acknowledged one for a partition. Every prefix of the run's
// filesystem operations is crashed on segmenttest.MemFS (only synced bytes and synced
// directory entries survive) and the store reopened from what is left.
func TestFileStoreCrashAtAnyInstant(t *testing.T) {
	errCrash := errors.New("injected crash")
	const commits = 40
	const dir = "/data/meta/groups"
	for n := 0; ; n++ {
		fs := segmenttest.NewMemFS()
		ops := 0
		fs.SetFault(func(op, name string) error {
			if ops++; ops > n {
				return errCrash
			}
			return nil
		})
		acked := map[tp]int64{}
		opened := false
		// 256 bytes: a compaction every few commits, so crashes land inside them too.
		if s, err := OpenFileStore(FileConfig{Dir: dir, CompactBytes: 256, FS: fs}); err == nil {
			opened = true
			for i := range commits {
				p := tp{"t", int32(i % 3)}
				if err := s.Append([]Record{offsetRec("g", p.topic, p.partition, int64(i))}); err != nil {
					break
				}
				acked[p] = int64(i)
			}
		}
		faulted := ops > n
		fs.SetFault(nil)
		after := fs.Crash()
		s2, err := OpenFileStore(FileConfig{Dir: dir, CompactBytes: 256, FS: after})
		if err != nil {
			t.Fatalf("crash after %d operations: cannot reopen: %v", n, err)
		}
		st := loadAll(t, s2)
		for p, want := range acked {
			got, ok := st.offsets["g"][p]
			if !ok || got.Offset < want {
				t.Fatalf("crash after %d operations: %v committed at %d (acknowledged), reopened at %+v (present %v)", n, p, want, got, ok)
			}
		}
		s2.Close()
		if !faulted {
			if !opened || len(acked) != 3 {
				t.Fatalf("run without a fault acknowledged %d partitions", len(acked))
			}
			if n < commits {
				t.Fatalf("only %d operations for %d commits", n, commits)
			}
			t.Logf("crashed at each of %d operations", n)
			return
		}
	}
}
