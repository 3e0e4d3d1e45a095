package segment_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// TestUnfenceAfterNoSpace fills the disk (ENOSPC) at each write the log makes, then frees
// it: Unfence lifts the fence without a reopen, appends carry on at the next offset, every
// acknowledged batch reads back, and a reopen (recovery) agrees.
func TestUnfenceAfterNoSpace(t *testing.T) {
	full := &fs.PathError{Op: "write", Err: syscall.ENOSPC}
	f := func(name, op, suffix string) {
		t.Run(name, func(t *testing.T) {
			fsys := segmenttest.NewMemFS()
			cfg := segment.Config{FS: fsys, SegmentBytes: 2048, IndexIntervalBytes: 1}
			l := mustOpen(t, testDir, cfg)
			var want [][]byte
			for i := range 12 {
				b := batchOf(int64(1000+i), 3)
				mustAppend(t, l, b)
				want = append(want, b)
			}
			fsys.SetFault(func(o, n string) error {
				if o == op && strings.HasSuffix(n, suffix) {
					return full
				}
				return nil
			})
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				b := batchOf(int64(2000+i), 3)
				if _, err = l.Append(b, segment.AppendOptions{}); err == nil {
					want = append(want, b)
				}
			}
			if !errors.Is(err, segment.ErrFenced) || !segment.NoSpace(err) {
				t.Fatalf("append on a full disk: %v", err)
			}
			if _, err := l.Append(batchOf(3000, 1), segment.AppendOptions{}); !errors.Is(err, segment.ErrFenced) {
				t.Fatalf("append after the fence: %v", err)
			}
			fsys.SetFault(nil)
			if ok, err := l.Unfence(); !ok || err != nil {
				t.Fatalf("unfence: %v %v", ok, err)
			}
			if l.Fenced() != nil {
				t.Fatalf("still fenced: %v", l.Fenced())
			}
			for i := range 20 {
				b := batchOf(int64(4000+10*i), 2)
				mustAppend(t, l, b)
				want = append(want, b)
			}
			waitDurable(t, l)
			equalBatches(t, readAll(t, l, 0), want)
			if _, err := l.Unfence(); err != nil {
				t.Fatalf("unfence of a log that is not fenced: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, rep, err := segment.Open(testDir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if rep.TruncatedBytes != 0 || rep.RebuiltIndexes != 0 {
				t.Errorf("reopen after unfence: %+v", rep)
			}
			equalBatches(t, readAll(t, l, 0), want)
			// The rebuilt time index still finds every batch.
			target := want[len(want)-10] // appended with timestamps 4100, 4101
			r, found, err := l.FindTimestamp(4100)
			if err != nil || !found || r.FirstOffset != baseOf(target) {
				t.Errorf("find timestamp 4100 after unfence: %v %v at %d, want %d", found, err, r.FirstOffset, baseOf(target))
			}
		})
	}
	f("log write", "write", ".log")
	f("index write", "write", ".index")
	f("time index write", "write", ".timeindex")
	f("segment create at roll", "open", ".log")
}

// TestUnfenceRefusesFailedFsync: a failed fsync, even with ENOSPC, is not lifted (the
// kernel may have dropped the pages it could not write).
func TestUnfenceRefusesFailedFsync(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	l := mustOpen(t, testDir, segment.Config{FS: fsys})
	defer l.Close()
	mustAppend(t, l, batchOf(1, 1))
	fsys.SetFault(func(op, name string) error {
		if op == "sync" && filepath.Ext(name) == ".log" {
			return &fs.PathError{Op: "sync", Path: name, Err: syscall.ENOSPC}
		}
		return nil
	})
	if err := l.WaitDurable(context.Background(), 1); !errors.Is(err, segment.ErrFenced) || segment.NoSpace(err) {
		t.Fatalf("wait durable: %v (NoSpace %v)", err, segment.NoSpace(err))
	}
	fsys.SetFault(nil)
	if ok, err := l.Unfence(); ok || !errors.Is(err, segment.ErrFenced) {
		t.Fatalf("unfence after a failed fsync: %v %v", ok, err)
	}
}

// TestSetLogStartOffsetOnFullDisk: when the log start checkpoint cannot be written for want
// of space, the segments wholly below the new start are deleted first and the checkpoint
// written after; if even that fails, a reopen starts the log at the first remaining
// segment, never above the requested start.
func TestSetLogStartOffsetOnFullDisk(t *testing.T) {
	f := func(failures int) {
		fsys := segmenttest.NewMemFS()
		cfg := segment.Config{FS: fsys, SegmentBytes: 1024}
		l := mustOpen(t, testDir, cfg)
		var want [][]byte
		for i := range 40 {
			b := batchOf(int64(i), 3)
			mustAppend(t, l, b)
			want = append(want, b)
		}
		segs := l.Segments()
		if len(segs) < 4 {
			t.Fatalf("%d segments", len(segs))
		}
		start := segs[2].BaseOffset + 1 // inside the third segment
		left := failures
		fsys.SetFault(func(op, name string) error {
			if op == "open" && strings.Contains(name, "log-start-offset") && left > 0 {
				left--
				return &fs.PathError{Op: op, Path: name, Err: syscall.ENOSPC}
			}
			return nil
		})
		err := l.SetLogStartOffset(start)
		fsys.SetFault(nil)
		if failures == 1 && (err != nil || l.LogStartOffset() != start) {
			t.Fatalf("set log start on a full disk: %v, start %d want %d", err, l.LogStartOffset(), start)
		}
		if failures == 2 && !segment.NoSpace(err) {
			t.Fatalf("set log start with no space at all: %v", err)
		}
		if got := l.Segments()[0].BaseOffset; got != segs[2].BaseOffset {
			t.Fatalf("first segment %d, want %d (the two below the start deleted first)", got, segs[2].BaseOffset)
		}
		l.Close()
		l, _, err = segment.Open(testDir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		wantStart := start
		if failures == 2 {
			wantStart = segs[2].BaseOffset // no checkpoint: the first remaining segment
		}
		if l.LogStartOffset() != wantStart {
			t.Fatalf("reopened log start %d, want %d", l.LogStartOffset(), wantStart)
		}
		var kept [][]byte
		for _, b := range want {
			if lastOf(b) >= wantStart {
				kept = append(kept, b)
			}
		}
		equalBatches(t, readAll(t, l, wantStart), kept)
	}
	f(1)
	f(2)
}
