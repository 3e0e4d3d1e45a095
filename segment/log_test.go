package segment_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

func TestAppendAssignsOffsetsAndReads(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	l := mustOpen(t, testDir, segment.Config{FS: fsys})
	defer l.Close()
	var want [][]byte
	for i := range 10 {
		b := batchOf(int64(1000+i*10), i%3+1)
		info := mustAppend(t, l, b)
		if info.NumRecords != int32(i%3+1) || info.LastOffset != info.BaseOffset+int64(i%3) || info.Size != len(b) {
			t.Fatalf("batch %d: info %+v", i, info)
		}
		if i > 0 && info.BaseOffset != lastOf(want[len(want)-1])+1 {
			t.Fatalf("batch %d: base offset %d not contiguous", i, info.BaseOffset)
		}
		want = append(want, bytes.Clone(b))
	}
	if got := l.NextOffset(); got != lastOf(want[9])+1 {
		t.Fatalf("next offset %d", got)
	}
	equalBatches(t, readAll(t, l, 0), want)
	// Reading any offset inside a batch returns that batch first.
	for _, w := range want {
		for off := baseOf(w); off <= lastOf(w); off++ {
			r, err := l.Read(off, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := r.Bytes()
			if !bytes.Equal(b, w) || r.FirstOffset != baseOf(w) {
				t.Fatalf("read %d: got batch at %d", off, r.FirstOffset)
			}
		}
	}
}

func TestReadLimits(t *testing.T) {
	l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS(), IndexIntervalBytes: 100})
	defer l.Close()
	var sizes []int64
	for i := range 20 {
		b := batchOf(int64(i), 2)
		sizes = append(sizes, int64(len(b)))
		mustAppend(t, l, b)
	}
	f := func(offset int64, maxBytes int, minOne bool, wantSize int64, wantErr error) {
		t.Helper()
		r, err := l.Read(offset, maxBytes, minOne)
		if !errors.Is(err, wantErr) {
			t.Fatalf("read(%d, %d, %v): err %v, want %v", offset, maxBytes, minOne, err, wantErr)
		}
		if err == nil && r.Size != wantSize {
			t.Fatalf("read(%d, %d, %v): size %d, want %d", offset, maxBytes, minOne, r.Size, wantSize)
		}
	}
	one := sizes[0]
	f(0, int(one), false, one, nil)
	f(0, int(one)-1, false, 0, nil)
	f(0, int(one)-1, true, one, nil)
	f(0, int(3*one)+5, false, 3*one, nil)
	f(7, int(2*one), false, 2*one, nil) // offset 7 is in batch 3
	f(0, 1<<20, false, 20*one, nil)
	f(40, 100, true, 0, nil) // log end: empty
	f(41, 100, true, 0, segment.ErrOffsetOutOfRange)
	f(-1, 100, true, 0, segment.ErrOffsetOutOfRange)
	for max := int(one); max < int(20*one); max += 7 {
		f(0, max, false, int64(max)/one*one, nil)
	}
}

func TestRollBySegmentBytesAndIndexes(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	b0 := batchOf(0, 5)
	cfg := segment.Config{FS: fsys, SegmentBytes: int64(len(b0)) * 10, IndexIntervalBytes: len(b0) * 2}
	l := mustOpen(t, testDir, cfg)
	var want [][]byte
	for i := range 95 {
		b := batchOf(int64(i*5), 5)
		mustAppend(t, l, b)
		want = append(want, bytes.Clone(b))
	}
	segs := l.Segments()
	if len(segs) != 10 {
		t.Fatalf("%d segments, want 10", len(segs))
	}
	for i, s := range segs {
		if s.BaseOffset != int64(i*50) || s.Sealed != (i < 9) {
			t.Fatalf("segment %d: %+v", i, s)
		}
		if i < 9 && (s.Size != int64(len(b0))*10 || s.NextOffset != int64(i*50+50) || s.MaxTimestamp != int64(i*50+49)) {
			t.Fatalf("segment %d: %+v", i, s)
		}
		if filepath.Base(s.LogPath) != fmt.Sprintf("%020d.log", i*50) {
			t.Fatalf("segment %d: log path %s", i, s.LogPath)
		}
	}
	// Sealed index files are trimmed: entries every > 2 batches => 3 entries per 10 batches.
	idx, _ := fsys.ReadFile(segs[0].IndexPath)
	tidx, _ := fsys.ReadFile(segs[0].TimeIndexPath)
	if len(idx) != 3*8 || len(tidx)%12 != 0 || len(tidx) == 0 {
		t.Fatalf("index sizes %d, %d", len(idx), len(tidx))
	}
	equalBatches(t, readAll(t, l, 0), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen (clean): same segments, same data, lazy index loading.
	l2, rep, err := segment.Open(testDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if !rep.CleanShutdown || rep.TruncatedBytes != 0 || rep.RebuiltIndexes != 0 || rep.Segments != 10 {
		t.Fatalf("report %+v", rep)
	}
	got := l2.Segments()
	for i := range segs {
		g, w := got[i], segs[i]
		if g.BaseOffset != w.BaseOffset || g.NextOffset != w.NextOffset || g.Size != w.Size || g.MaxTimestamp != w.MaxTimestamp || g.Sealed != w.Sealed {
			t.Fatalf("segment %d after reopen: %+v, want %+v", i, g, w)
		}
	}
	equalBatches(t, readAll(t, l2, 0), want)
	for off := int64(0); off < l2.NextOffset(); off += 3 {
		r, err := l2.Read(off, 1, true)
		if err != nil || r.FirstOffset != off/5*5 {
			t.Fatalf("read %d: first %d err %v", off, r.FirstOffset, err)
		}
	}
	if info := mustAppend(t, l2, batchOf(1000, 1)); info.BaseOffset != 475 {
		t.Fatalf("append after reopen at %d", info.BaseOffset)
	}
}

func TestRollBySegmentMs(t *testing.T) {
	l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS(), SegmentMs: time.Hour})
	defer l.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if rolled, err := l.MaybeRoll(t0); rolled || err != nil {
		t.Fatalf("empty log rolled: %v %v", rolled, err)
	}
	if _, err := l.Append(batchOf(1, 1), segment.AppendOptions{Now: t0}); err != nil {
		t.Fatal(err)
	}
	if rolled, _ := l.MaybeRoll(t0.Add(59 * time.Minute)); rolled {
		t.Fatal("rolled too early")
	}
	if rolled, err := l.MaybeRoll(t0.Add(time.Hour)); !rolled || err != nil {
		t.Fatalf("did not roll: %v", err)
	}
	// Append also rolls an expired segment.
	l.Append(batchOf(2, 1), segment.AppendOptions{Now: t0.Add(2 * time.Hour)})
	l.Append(batchOf(3, 1), segment.AppendOptions{Now: t0.Add(3 * time.Hour)})
	segs := l.Segments()
	if len(segs) != 3 || segs[2].BaseOffset != 2 || segs[1].NextOffset != 2 {
		t.Fatalf("segments %+v", segs)
	}
	if err := l.Roll(); err != nil || len(l.Segments()) != 4 {
		t.Fatalf("explicit roll: %v, %d segments", err, len(l.Segments()))
	}
	if err := l.Roll(); err != nil || len(l.Segments()) != 4 {
		t.Fatalf("roll of an empty segment: %v, %d segments", err, len(l.Segments()))
	}
}

func TestAppendValidation(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	l := mustOpen(t, testDir, segment.Config{FS: fsys})
	defer l.Close()
	good := batchOf(5, 3)
	f := func(name string, mutate func(b []byte) []byte, want error) {
		t.Helper()
		b := mutate(bytes.Clone(good))
		_, err := l.Append(b, segment.AppendOptions{})
		if !errors.Is(err, want) {
			t.Fatalf("%s: err %v, want %v", name, err, want)
		}
		if l.NextOffset() != 0 || l.Size() != 0 {
			t.Fatalf("%s: something was written", name)
		}
	}
	f("magic 1", func(b []byte) []byte { b[16] = 1; return b }, segment.ErrUnsupportedMagic)
	f("crc", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, segment.ErrCorruptBatchCRC)
	f("short", func(b []byte) []byte { return b[:40] }, segment.ErrInvalidBatch)
	f("truncated", func(b []byte) []byte { return b[:len(b)-1] }, segment.ErrInvalidBatch)
	f("trailing", func(b []byte) []byte { return append(b, 0) }, segment.ErrInvalidBatch)
	f("zero count", func(b []byte) []byte { b[57], b[58], b[59], b[60] = 0, 0, 0, 0; return segmenttest.Fix(b) }, segment.ErrInvalidBatch)
	f("huge count", func(b []byte) []byte { b[57] = 0x10; return segmenttest.Fix(b) }, segment.ErrInvalidBatch)
	f("delta", func(b []byte) []byte { b[26] = 7; return segmenttest.Fix(b) }, segment.ErrInvalidBatch)
	f("codec", func(b []byte) []byte { b[22] |= 7; return segmenttest.Fix(b) }, segment.ErrInvalidBatch)
	f("empty", func(b []byte) []byte { return nil }, segment.ErrInvalidBatch)
	if _, err := l.Append(good, segment.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestBatchInfoAndLogAppendTime(t *testing.T) {
	l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS()})
	defer l.Close()
	b := segmenttest.BatchWith(segmenttest.BatchOptions{FirstTimestamp: 100, TimestampStep: 10, ProducerID: 42, ProducerEpoch: 3, BaseSequence: 7, Transactional: true}, val(1), val(2))
	info := mustAppend(t, l, b)
	want := segment.BatchInfo{BaseOffset: 0, LastOffset: 1, MaxTimestamp: 110, FirstTimestamp: 100, NumRecords: 2,
		ProducerID: 42, ProducerEpoch: 3, BaseSequence: 7, IsTransactional: true, Size: len(b)}
	if info != want {
		t.Fatalf("info %+v, want %+v", info, want)
	}
	now := time.UnixMilli(1_700_000_000_000)
	b2 := batchOf(5, 2)
	info, err := l.Append(b2, segment.AppendOptions{Now: now, LogAppendTime: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.MaxTimestamp != now.UnixMilli() || info.BaseOffset != 2 {
		t.Fatalf("info %+v", info)
	}
	r, _ := l.Read(2, 1<<20, true)
	got, _ := r.Bytes()
	// The stored batch verifies (CRC recomputed) and carries the LogAppendTime bit.
	if _, err := segment.ValidateBatch(got); err != nil {
		t.Fatalf("stored batch does not validate: %v", err)
	}
	if got[22]&0x08 == 0 {
		t.Fatal("timestamp type bit not set")
	}
	if ts, off := l.MaxTimestamp(); ts != now.UnixMilli() || off != 2 {
		t.Fatalf("max timestamp %d at %d", ts, off)
	}
}

func TestFindTimestamp(t *testing.T) {
	b0 := batchOf(0, 2)
	cfg := segment.Config{FS: segmenttest.NewMemFS(), SegmentBytes: int64(len(b0)) * 8, IndexIntervalBytes: len(b0)}
	l := mustOpen(t, testDir, cfg)
	// Batch i (offsets 2i, 2i+1) has timestamps 10i, 10i+1, except that batch 5 goes back in time.
	ts := func(i int) int64 {
		if i == 5 {
			return 3
		}
		return int64(10 * i)
	}
	for i := range 30 {
		mustAppend(t, l, batchOf(ts(i), 2))
	}
	check := func(l *segment.Log) {
		f := func(target int64, wantBase int64, wantFound bool) {
			t.Helper()
			r, found, err := l.FindTimestamp(target)
			if err != nil || found != wantFound || (found && (r.FirstOffset != wantBase || r.Size != int64(len(b0)))) {
				t.Fatalf("find %d: %+v found=%v err=%v, want base %d found=%v", target, r, found, err, wantBase, wantFound)
			}
		}
		f(-5, 0, true)
		f(0, 0, true)
		f(1, 0, true)
		f(2, 2, true)
		f(4, 2, true)  // batch 1 (10, 11) comes before batch 5 (3, 4)
		f(41, 8, true) // batch 4 max 41
		f(42, 12, true)
		f(150, 30, true)
		f(291, 58, true)
		f(292, 0, false)
		if mt, off := l.MaxTimestamp(); mt != 291 || off != 58 {
			t.Fatalf("max timestamp %d at %d", mt, off)
		}
	}
	check(l)
	l.Close()
	l = mustOpen(t, testDir, cfg)
	defer l.Close()
	check(l)
}

func TestLogStartOffsetAndCheckpoint(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	b0 := batchOf(0, 4)
	cfg := segment.Config{FS: fsys, SegmentBytes: int64(len(b0)) * 2}
	l := mustOpen(t, testDir, cfg)
	for i := range 10 {
		mustAppend(t, l, batchOf(int64(i), 4))
	}
	// Segments hold offsets [0,8) [8,16) ... [32,40).
	if err := l.SetLogStartOffset(9); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 9 || l.Segments()[0].BaseOffset != 8 {
		t.Fatalf("start %d, first segment %d", l.LogStartOffset(), l.Segments()[0].BaseOffset)
	}
	if _, err := l.Read(8, 100, true); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	if r, err := l.Read(9, 100, true); err != nil || r.FirstOffset != 8 {
		t.Fatalf("read at log start: %+v %v", r, err)
	}
	if err := l.SetLogStartOffset(3); err != nil || l.LogStartOffset() != 9 {
		t.Fatalf("lowering: %v, start %d", err, l.LogStartOffset())
	}
	if err := l.SetLogStartOffset(41); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("beyond the end of a non-empty log: %v", err)
	}
	if err := l.SetLogStartOffset(40); err != nil || len(l.Segments()) != 1 {
		t.Fatalf("to the end: %v, %d segments", err, len(l.Segments()))
	}
	if _, err := l.Read(39, 100, true); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatal(err)
	}
	// Crash without Close: the checkpoint is durable.
	l2 := mustOpen(t, testDir, segment.Config{FS: fsys.Crash(), SegmentBytes: cfg.SegmentBytes})
	defer l2.Close()
	l.Close()
	if l2.LogStartOffset() != 40 || l2.NextOffset() != 40 {
		t.Fatalf("after crash: start %d next %d", l2.LogStartOffset(), l2.NextOffset())
	}
}

func TestRestartEmptyLog(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	l := mustOpen(t, testDir, segment.Config{FS: fsys})
	if err := l.SetLogStartOffset(1000); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1000 || l.NextOffset() != 1000 || l.Segments()[0].BaseOffset != 1000 {
		t.Fatalf("start %d next %d segs %+v", l.LogStartOffset(), l.NextOffset(), l.Segments())
	}
	if info := mustAppend(t, l, batchOf(1, 2)); info.BaseOffset != 1000 {
		t.Fatalf("base %d", info.BaseOffset)
	}
	waitDurable(t, l)
	fsys2 := fsys.Crash()
	l.Close()
	l2, rep, err := segment.Open(testDir, segment.Config{FS: fsys2})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.CleanShutdown || l2.LogStartOffset() != 1000 || l2.NextOffset() != 1002 {
		t.Fatalf("rep %+v start %d next %d", rep, l2.LogStartOffset(), l2.NextOffset())
	}
	if hasSuffixFile(t, fsys2, testDir, "00000000000000000000.log") {
		t.Fatal("old segment file left behind")
	}
}

func TestRetention(t *testing.T) {
	b0 := batchOf(0, 1)
	size := int64(len(b0))
	now := time.UnixMilli(100_000)
	setup := func() *segment.Log {
		l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS(), SegmentBytes: size * 2})
		for i := range 10 { // 5 segments of 2 batches; segment k has max timestamp 1000*(2k+1)
			mustAppend(t, l, batchOf(int64(1000*i), 1))
		}
		return l
	}
	f := func(p segment.RetentionPolicy, allow func(segment.SegmentInfo) bool, wantDeleted []int64) {
		t.Helper()
		l := setup()
		defer l.Close()
		del, err := l.ApplyRetention(p, now, allow)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, d := range del {
			got = append(got, d.BaseOffset)
		}
		if fmt.Sprint(got) != fmt.Sprint(wantDeleted) {
			t.Fatalf("policy %+v deleted %v, want %v", p, got, wantDeleted)
		}
		want := int64(0)
		if len(got) > 0 {
			want = got[len(got)-1] + 2
		}
		if l.LogStartOffset() != want || l.Segments()[0].BaseOffset != want {
			t.Fatalf("log start %d, want %d", l.LogStartOffset(), want)
		}
	}
	f(segment.RetentionPolicy{Ms: -1, Bytes: -1}, nil, nil)
	f(segment.RetentionPolicy{Ms: 100_000 - 3001, Bytes: -1}, nil, []int64{0, 2})
	f(segment.RetentionPolicy{Ms: 100_000 - 3000, Bytes: -1}, nil, []int64{0})
	f(segment.RetentionPolicy{Ms: 0, Bytes: -1}, nil, []int64{0, 2, 4, 6}) // never the active segment
	f(segment.RetentionPolicy{Ms: -1, Bytes: size * 5}, nil, []int64{0, 2})
	f(segment.RetentionPolicy{Ms: -1, Bytes: size * 4}, nil, []int64{0, 2, 4})
	f(segment.RetentionPolicy{Ms: -1, Bytes: 0}, nil, []int64{0, 2, 4, 6})
	f(segment.RetentionPolicy{Ms: 0, Bytes: -1}, func(s segment.SegmentInfo) bool { return s.BaseOffset < 4 }, []int64{0, 2})
	f(segment.RetentionPolicy{Ms: 0, Bytes: -1}, func(s segment.SegmentInfo) bool { return s.BaseOffset != 0 }, nil)
}

func TestDeleteOldestSegment(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	l := mustOpen(t, testDir, segment.Config{FS: fsys, SegmentBytes: 1})
	defer l.Close()
	for i := range 3 {
		mustAppend(t, l, batchOf(int64(i), 1))
	}
	old, _ := l.Read(0, 1000, true)
	if err := l.DeleteOldestSegment(1); err == nil {
		t.Fatal("deleted a segment that is not the oldest")
	}
	if err := l.DeleteOldestSegment(0); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1 || hasSuffixFile(t, fsys, testDir, "00000000000000000000.log") {
		t.Fatalf("log start %d", l.LogStartOffset())
	}
	// A reader holding a result of the deleted segment still reads it (the file is retired).
	if b, err := old.Bytes(); err != nil || len(b) == 0 {
		t.Fatalf("retired read: %v", err)
	}
	l.DeleteOldestSegment(1)
	if err := l.DeleteOldestSegment(2); err == nil {
		t.Fatal("deleted the active segment")
	}
}

func TestFenceOnWriteError(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	l := mustOpen(t, testDir, segment.Config{FS: fsys})
	mustAppend(t, l, batchOf(1, 1))
	boom := errors.New("disk on fire")
	fsys.SetFault(func(op, name string) error {
		if op == "sync" {
			return boom
		}
		return nil
	})
	if err := l.WaitDurable(context.Background(), 1); !errors.Is(err, boom) || !errors.Is(err, segment.ErrFenced) {
		t.Fatalf("wait durable: %v", err)
	}
	fsys.SetFault(nil)
	if _, err := l.Append(batchOf(2, 1), segment.AppendOptions{}); !errors.Is(err, segment.ErrFenced) {
		t.Fatalf("append after failed fsync: %v", err)
	}
	l.Close()
	if hasSuffixFile(t, fsys, testDir, "clean-shutdown") {
		t.Fatal("fenced log wrote the clean shutdown marker")
	}

	fsys = segmenttest.NewMemFS()
	l = mustOpen(t, testDir, segment.Config{FS: fsys})
	defer l.Close()
	fsys.SetFault(func(op, name string) error {
		if op == "write" && filepath.Ext(name) == ".log" {
			return boom
		}
		return nil
	})
	if _, err := l.Append(batchOf(1, 1), segment.AppendOptions{}); !errors.Is(err, boom) {
		t.Fatalf("append: %v", err)
	}
	fsys.SetFault(nil)
	if _, err := l.Append(batchOf(1, 1), segment.AppendOptions{}); !errors.Is(err, segment.ErrFenced) {
		t.Fatalf("append after a failed write: %v", err)
	}
}

func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	counter := &countingFS{FS: segment.OSFS{}}
	l := mustOpen(t, dir, segment.Config{FS: counter})
	defer l.Close()
	const writers, perWriter = 16, 25
	var mu sync.Mutex // the log has one writer; appends are serialised, waits are not
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				mu.Lock()
				info, err := l.Append(batchOf(int64(w*1000+i), 1), segment.AppendOptions{})
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.WaitDurable(t.Context(), info.LastOffset+1); err != nil {
					t.Error(err)
					return
				}
				if l.DurableOffset() < info.LastOffset+1 {
					t.Errorf("durable offset %d below %d", l.DurableOffset(), info.LastOffset+1)
				}
			}
		})
	}
	wg.Wait()
	syncs := counter.logSyncs()
	t.Logf("%d appends, %d fsyncs", writers*perWriter, syncs)
	if syncs >= writers*perWriter || syncs == 0 {
		t.Fatalf("%d fsyncs for %d appends", syncs, writers*perWriter)
	}
}

func TestFlushPolicy(t *testing.T) {
	f := func(cfg segment.Config) {
		t.Helper()
		cfg.FS = segmenttest.NewMemFS()
		l := mustOpen(t, testDir, cfg)
		defer l.Close()
		for i := range 5 {
			mustAppend(t, l, batchOf(int64(i), 2))
		}
		deadline := time.Now().Add(5 * time.Second)
		for l.DurableOffset() < 10 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if l.DurableOffset() < 10 {
			t.Fatalf("%+v: durable offset %d, want 10", cfg, l.DurableOffset())
		}
	}
	f(segment.Config{FlushMessages: 10})
	f(segment.Config{FlushInterval: 20 * time.Millisecond})
}

func TestWaitDurableContext(t *testing.T) {
	l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS()})
	mustAppend(t, l, batchOf(1, 1))
	if err := l.WaitDurable(t.Context(), 5); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("beyond the end: %v", err)
	}
	waitDurable(t, l)
	if l.DurableOffset() != 1 {
		t.Fatal(l.DurableOffset())
	}
	l.Close()
	if _, err := l.Append(batchOf(1, 1), segment.AppendOptions{}); !errors.Is(err, segment.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestDelete(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	l := mustOpen(t, testDir, segment.Config{FS: fsys})
	mustAppend(t, l, batchOf(1, 1))
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(testDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir still there: %v", err)
	}
}

// TestConcurrentReadersWithWriterAndRetention runs readers against a log that is appended
// to, rolled and trimmed at the same time (run with -race).
func TestConcurrentReadersWithWriterAndRetention(t *testing.T) {
	l := mustOpen(t, t.TempDir(), segment.Config{SegmentBytes: 4096, IndexIntervalBytes: 256})
	defer l.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start, next := l.LogStartOffset(), l.NextOffset()
				if next == start {
					continue
				}
				off := start + (next-start)/2
				r, err := l.Read(off, 2048, true)
				if errors.Is(err, segment.ErrOffsetOutOfRange) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				b, err := r.Bytes()
				if err != nil {
					continue // the segment may have been deleted and its file closed
				}
				for _, batch := range split(t, b) {
					if _, err := segment.ValidateBatch(batch); err != nil {
						t.Errorf("read a bad batch: %v", err)
						return
					}
				}
				l.FindTimestamp(int64(off))
				l.Segments()
				l.MaxTimestamp()
			}
		})
	}
	for i := range 2000 {
		mustAppend(t, l, batchOf(int64(i), 3))
		if i%100 == 99 {
			if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 16 << 10}, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
		}
		if i%300 == 0 {
			go l.Flush()
		}
	}
	close(stop)
	wg.Wait()
	l.Flush()
}

type countingFS struct {
	segment.FS
	mu    sync.Mutex
	syncs int
}

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (segment.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil || filepath.Ext(name) != ".log" {
		return f, err
	}
	return &countingFile{File: f, c: c}, nil
}

func (c *countingFS) logSyncs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.syncs
}

type countingFile struct {
	segment.File
	c *countingFS
}

func (f *countingFile) Sync() error {
	f.c.mu.Lock()
	f.c.syncs++
	f.c.mu.Unlock()
	time.Sleep(time.Millisecond) // a disk, not tmpfs
	return f.File.Sync()
}

func TestRetentionFallsBackToLastModified(t *testing.T) {
	l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS(), SegmentBytes: 1})
	defer l.Close()
	t0 := time.UnixMilli(1_000_000)
	for i := range 3 { // no timestamps: max timestamp -1
		b := segmenttest.Batch(-1, val(i))
		if _, err := l.Append(b, segment.AppendOptions{Now: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if s := l.Segments()[0]; s.MaxTimestamp != -1 || !s.LastModified.Equal(t0) {
		t.Fatalf("segment %+v", s)
	}
	del, err := l.ApplyRetention(segment.RetentionPolicy{Ms: int64(90 * time.Second / time.Millisecond), Bytes: -1}, t0.Add(2*time.Minute), nil)
	if err != nil || len(del) != 1 || del[0].BaseOffset != 0 {
		t.Fatalf("deleted %+v, %v", del, err)
	}
}

func TestReadResultFileIsOSFile(t *testing.T) {
	l := mustOpen(t, t.TempDir(), segment.Config{SegmentBytes: 1})
	defer l.Close()
	mustAppend(t, l, batchOf(1, 1))
	mustAppend(t, l, batchOf(2, 1))
	for _, off := range []int64{0, 1, 2} { // sealed, active, log end
		r, err := l.Read(off, 1000, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r.File.(*os.File); !ok {
			t.Fatalf("offset %d: File is %T, want *os.File (sendfile)", off, r.File)
		}
	}
	l.Close()
	// After reopen the sealed segment's file is an *os.File too.
	l2 := mustOpen(t, l.Dir(), segment.Config{SegmentBytes: 1})
	defer l2.Close()
	if r, err := l2.Read(0, 1000, true); err != nil {
		t.Fatal(err)
	} else if _, ok := r.File.(*os.File); !ok {
		t.Fatalf("File is %T", r.File)
	}
}

// A log start checkpoint beyond the recovered log end restarts the log there, so that no
// offset below the log start is handed out twice.
func TestCheckpointBeyondLogEnd(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	l := mustOpen(t, testDir, segment.Config{FS: fsys, SegmentBytes: 1})
	for i := range 3 {
		mustAppend(t, l, batchOf(int64(i), 2))
	}
	l.Close()
	if err := fsys.WriteFile(filepath.Join(testDir, "log-start-offset"), []byte("0\n100\n")); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, testDir, segment.Config{FS: fsys})
	defer l2.Close()
	if l2.LogStartOffset() != 100 || l2.NextOffset() != 100 || len(l2.Segments()) != 1 || l2.Size() != 0 {
		t.Fatalf("start %d next %d segments %+v", l2.LogStartOffset(), l2.NextOffset(), l2.Segments())
	}
	if info := mustAppend(t, l2, batchOf(5, 1)); info.BaseOffset != 100 {
		t.Fatalf("append at %d", info.BaseOffset)
	}
}

// Close while appenders wait for durability: every waiter returns (nil or ErrClosed), none hangs.
func TestCloseWithWaiters(t *testing.T) {
	for range 20 {
		l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS(), FlushInterval: time.Millisecond})
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 50 {
					mu.Lock()
					info, err := l.Append(batchOf(1, 1), segment.AppendOptions{})
					mu.Unlock()
					if errors.Is(err, segment.ErrClosed) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					if err := l.WaitDurable(t.Context(), info.LastOffset+1); err != nil && !errors.Is(err, segment.ErrClosed) {
						t.Error(err)
						return
					}
				}
			})
		}
		time.Sleep(time.Millisecond)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}
