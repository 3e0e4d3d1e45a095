package segment_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// A retention that deletes many segments fsyncs the directory once for all of them (plus
// the checkpoint's), and a crash at any step of it leaves either the log as it was or
// the log without them: the log start is the old or the new one, every batch from it on
// is there, and no leftover of a deleted segment is read.
func TestRetentionBatchCrashAtEveryStep(t *testing.T) {
	const segs, deleteN = 10, 6
	var appended [][]byte
	build := func(t *testing.T) (*segmenttest.MemFS, *segment.Log, segment.Config) {
		fsys := segmenttest.NewMemFS()
		b := batchOf(0, 2)
		cfg := segment.Config{FS: fsys, SegmentBytes: int64(len(b))}
		l := mustOpen(t, testDir, cfg)
		appended = appended[:0]
		for i := range segs {
			b := batchOf(int64(1000+i), 2)
			mustAppend(t, l, b)
			appended = append(appended, b)
		}
		waitDurable(t, l)
		if n := len(l.Segments()); n != segs {
			t.Fatalf("%d segments, want %d", n, segs)
		}
		return fsys, l, cfg
	}
	// The size that keeps the newest segs-deleteN batches.
	policy := segment.RetentionPolicy{Ms: -1, Bytes: int64(len(batchOf(0, 2)) * (segs - deleteN))}
	newStart := int64(2 * deleteN)

	// Without a crash: count the operations and directory fsyncs.
	fsys, l, _ := build(t)
	var ops, syncDirs atomic.Int64
	fsys.SetFault(func(op, name string) error {
		ops.Add(1)
		if op == "syncdir" {
			syncDirs.Add(1)
		}
		return nil
	})
	deleted, err := l.ApplyRetention(policy, time.Now(), nil)
	fsys.SetFault(nil)
	if err != nil || len(deleted) != deleteN || l.LogStartOffset() != newStart {
		t.Fatalf("retention deleted %d, start %d, err %v; want %d, %d", len(deleted), l.LogStartOffset(), err, deleteN, newStart)
	}
	if n := syncDirs.Load(); n > 2 {
		t.Fatalf("%d directory fsyncs to delete %d segments, want at most 2 (checkpoint, deletions)", n, deleteN)
	}
	total := int(ops.Load())
	l.Close()

	errDead := errors.New("disk gone")
	for k := range total + 1 {
		fsys, l, cfg := build(t)
		var n atomic.Int64
		fsys.SetFault(func(op, name string) error {
			if n.Add(1) > int64(k) {
				return errDead // everything from the k+1th operation on fails: a crash there
			}
			return nil
		})
		l.ApplyRetention(policy, time.Now(), nil)
		crashed := fsys.Crash()
		l.Close()
		cfg.FS = crashed
		l2, _, err := segment.Open(testDir, cfg)
		if err != nil {
			t.Fatalf("crash after %d of %d operations: open: %v", k, total, err)
		}
		start := l2.LogStartOffset()
		if start != 0 && start != newStart {
			t.Fatalf("crash after %d of %d operations: log start %d, want 0 or %d", k, total, start, newStart)
		}
		equalBatches(t, readAll(t, l2, start), appended[start/2:])
		if l2.NextOffset() != 2*segs {
			t.Fatalf("crash after %d operations: next offset %d", k, l2.NextOffset())
		}
		entries, err := crashed.ReadDir(testDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".deleted") {
				t.Fatalf("crash after %d operations: %s left after Open", k, e.Name())
			}
		}
		// The next retention finishes the job.
		if _, err := l2.ApplyRetention(policy, time.Now(), nil); err != nil || l2.LogStartOffset() != newStart {
			t.Fatalf("crash after %d operations: retention after reopen: start %d, err %v", k, l2.LogStartOffset(), err)
		}
		l2.Close()
	}
}

// BenchmarkRetentionDelete is one ApplyRetention deleting 100 segments on the OS
// filesystem (the test's temporary directory, on disk): its cost is mostly fsyncs.
func BenchmarkRetentionDelete(b *testing.B) {
	const n = 100
	batch := batchOf(0, 1)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		l := mustOpen(b, dir, segment.Config{SegmentBytes: int64(len(batch))})
		for j := range n + 1 {
			mustAppend(b, l, batchOf(int64(j), 1))
		}
		b.StartTimer()
		deleted, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 1}, time.Now(), nil)
		b.StopTimer()
		if err != nil || len(deleted) != n {
			b.Fatalf("deleted %d, err %v", len(deleted), err)
		}
		l.Close()
	}
}
