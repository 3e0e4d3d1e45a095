package segment_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/segment"
)

// openLogFiles counts this process's file descriptors open on .log files under dir.
func openLogFiles(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		if runtime.GOOS == "linux" {
			t.Fatalf("cannot count open files: %v", err)
		}
		t.Skip("counting open files needs /proc/self/fd (Linux); the cap is still exercised, not counted")
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir) && strings.HasSuffix(target, ".log") {
			n++
		}
	}
	return n
}

// writeSegments writes n one-batch sealed segments (and an empty active one) into dir.
func writeSegments(t *testing.T, dir string, n int) [][]byte {
	t.Helper()
	l := mustOpen(t, dir, segment.Config{SegmentBytes: 1})
	var want [][]byte
	for i := range n {
		b := batchOf(int64(1000+i), 2)
		mustAppend(t, l, b)
		want = append(want, b)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// A log with more sealed segments than MaxOpenSealedFiles opens with at most that many
// files open, serves every offset of every segment, and finds timestamps in all of them.
func TestOpenMoreSegmentsThanFileCap(t *testing.T) {
	dir := t.TempDir()
	const segs, maxOpen = 60, 4
	want := writeSegments(t, dir, segs)

	l := mustOpen(t, dir, segment.Config{SegmentBytes: 1, MaxOpenSealedFiles: maxOpen})
	defer l.Close()
	if n := openLogFiles(t, dir); n > maxOpen+1 { // + the active segment
		t.Fatalf("%d .log files open after Open, want at most %d", n, maxOpen+1)
	}
	if got := len(l.Segments()); got != segs+1 {
		t.Fatalf("%d segments, want %d", got, segs+1)
	}
	for pass := range 2 { // the second pass reopens files the first one evicted
		got := readAll(t, l, 0)
		if len(got) != len(want) {
			t.Fatalf("pass %d: %d batches, want %d", pass, len(got), len(want))
		}
		for i := range got {
			if string(got[i][16:]) != string(want[i][16:]) || baseOf(got[i]) != int64(2*i) {
				t.Fatalf("pass %d: batch %d differs", pass, i)
			}
		}
		if open, _ := l.OpenSealedFiles(); open > maxOpen {
			t.Fatalf("pass %d: %d lazily opened files, cap %d", pass, open, maxOpen)
		}
	}
	for i := range segs {
		ts := int64(1001 + i) // the max timestamp of batch i
		r, ok, err := l.FindTimestamp(ts)
		if err != nil || !ok || r.FirstOffset != int64(2*i) {
			t.Fatalf("FindTimestamp(%d) = %+v %v %v, want the batch at offset %d", ts, r, ok, err, 2*i)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openLogFiles(t, dir); n != 0 {
		t.Fatalf("%d .log files still open after Close", n)
	}
}

// A ReadResult stays readable after its file was evicted, for the retire delay; then the
// evicted file is closed and the segment reopens on the next read.
func TestEvictedFileStaysReadableUntilRetired(t *testing.T) {
	dir := t.TempDir()
	want := writeSegments(t, dir, 10)
	synctest.Test(t, func(t *testing.T) {
		l := mustOpen(t, dir, segment.Config{SegmentBytes: 1, MaxOpenSealedFiles: 3})
		defer l.Close()
		first, err := l.Read(0, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(2); off < 12; off += 2 { // evicts segment 0's file, retires < 3
			if _, err := l.Read(off, 1<<20, true); err != nil {
				t.Fatal(err)
			}
		}
		if _, retired := l.OpenSealedFiles(); retired == 0 {
			t.Fatal("nothing was evicted")
		}
		b, err := first.Bytes()
		if err != nil || string(b) != string(want[0]) {
			t.Fatalf("evicted ReadResult: %v, %d bytes", err, len(b))
		}
		time.Sleep(31 * time.Second)
		if _, err := l.Read(0, 1<<20, true); err != nil { // reopens, reaps the retired
			t.Fatal(err)
		}
		if open, retired := l.OpenSealedFiles(); open > 3 || retired > 1 {
			t.Fatalf("after the retire delay: %d open, %d retired", open, retired)
		}
		if _, err := first.Bytes(); err == nil {
			t.Fatal("the retired file is still open after the retire delay")
		}
	})
}

// Retention deletes lazily opened segments; their files are closed after the retire delay
// and reads below the new log start are out of range.
func TestRetentionOfLazySegments(t *testing.T) {
	dir := t.TempDir()
	writeSegments(t, dir, 20)
	l := mustOpen(t, dir, segment.Config{SegmentBytes: 1, MaxOpenSealedFiles: 3})
	defer l.Close()
	readAll(t, l, 0)
	deleted, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 0}, time.Now(), nil)
	if err != nil || len(deleted) != 20 {
		t.Fatalf("retention deleted %d segments (%v), want 20", len(deleted), err)
	}
	if _, err := l.Read(0, 1<<20, true); !errors.Is(err, segment.ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: -1}, time.Now().Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if n := openLogFiles(t, dir); n > 1+3 {
		t.Fatalf("%d .log files open after deleted segments were reaped", n)
	}
}

// Concurrent readers of many segments through a small cache always get the right bytes
// (or, when evictions outrun the cap, os.ErrClosed: never another file's bytes).
func TestConcurrentReadsThroughFileCap(t *testing.T) {
	dir := t.TempDir()
	want := writeSegments(t, dir, 30)
	l := mustOpen(t, dir, segment.Config{SegmentBytes: 1, MaxOpenSealedFiles: 2})
	defer l.Close()
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range 300 {
				seg := (i*7 + g*11) % len(want)
				r, err := l.Read(int64(2*seg), 1<<20, true)
				if err == nil {
					var b []byte
					if b, err = r.Bytes(); err == nil && (len(b) < len(want[seg]) || string(b[16:len(want[seg])]) != string(want[seg][16:])) {
						err = errors.New("wrong bytes")
					}
				}
				if errors.Is(err, os.ErrClosed) {
					// More evictions than the cap within the retire delay closed this
					// file early (files.go): the caller retries, as the broker does.
					continue
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A reader racing through more segments than the cap within the retire delay never makes
// the log hold more than twice the cap of files.
func TestRetiredFilesAreBounded(t *testing.T) {
	dir := t.TempDir()
	writeSegments(t, dir, 50)
	l := mustOpen(t, dir, segment.Config{SegmentBytes: 1, MaxOpenSealedFiles: 3})
	defer l.Close()
	readAll(t, l, 0)
	if open, retired := l.OpenSealedFiles(); open > 3 || retired > 3 {
		t.Fatalf("%d open, %d retired, want at most 3 each", open, retired)
	}
	if n := openLogFiles(t, dir); n > 2*3+1 {
		t.Fatalf("%d .log files open", n)
	}
}

// Open checks a long log's sealed segments in parallel: every segment is there, damaged
// indexes are rebuilt and counted once, and every batch reads back.
func TestParallelOpenOfSealedSegments(t *testing.T) {
	defer segment.SetOpenSealedParallel(2)()
	dir := t.TempDir()
	want := writeSegments(t, dir, 40)
	for _, base := range []int{4, 30, 62} {
		os.Remove(filepath.Join(dir, fmt.Sprintf("%020d.index", base)))
	}
	os.Remove(filepath.Join(dir, "clean-shutdown"))
	l, rep, err := segment.Open(dir, segment.Config{SegmentBytes: 1, MaxOpenSealedFiles: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rep.Segments != 41 || rep.RebuiltIndexes != 3 {
		t.Fatalf("report %+v, want 41 segments and 3 rebuilt indexes", rep)
	}
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if baseOf(got[i]) != int64(2*i) || string(got[i][16:]) != string(want[i][16:]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

func TestSegmentsFrom(t *testing.T) {
	dir := t.TempDir()
	writeSegments(t, dir, 10) // segments [0,2), [2,4), ... [18,20), active at 20
	l := mustOpen(t, dir, segment.Config{SegmentBytes: 1})
	defer l.Close()
	all := l.Segments()
	f := func(offset int64, wantFirst int) {
		t.Helper()
		got := l.SegmentsFrom(offset)
		if len(got) != len(all)-wantFirst || got[0] != all[wantFirst] || got[len(got)-1] != all[len(all)-1] {
			t.Fatalf("SegmentsFrom(%d): %d segments from base %d, want from index %d", offset, len(got), got[0].BaseOffset, wantFirst)
		}
	}
	f(0, 0)
	f(1, 0)
	f(2, 1)
	f(19, 9)
	f(20, 10) // only the active segment
	f(99, 10)
}

func TestSegmentPathsAsKafka(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, segment.Config{})
	defer l.Close()
	if err := l.SetLogStartOffset(1234567890123); err != nil { // restarts the empty log there
		t.Fatal(err)
	}
	s := l.Segments()[0]
	if want := filepath.Join(dir, "00000001234567890123.log"); s.LogPath != want || s.IndexPath != filepath.Join(dir, "00000001234567890123.index") || s.TimeIndexPath != filepath.Join(dir, "00000001234567890123.timeindex") {
		t.Fatalf("paths %q %q %q, want %q and its .index, .timeindex", s.LogPath, s.IndexPath, s.TimeIndexPath, want)
	}
}

// Segments rolled by this process are handed to the cache too: a log that rolls far more
// segments than the cap holds at most twice the cap of their files, and reads them all.
func TestRolledSegmentsAreCapped(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, segment.Config{SegmentBytes: 1, MaxOpenSealedFiles: 3})
	var want [][]byte
	for i := range 40 {
		b := batchOf(int64(1000+i), 2)
		mustAppend(t, l, b)
		want = append(want, b)
		if n := openLogFiles(t, dir); n > 2*3+1 {
			t.Fatalf("after %d rolls: %d .log files open", i, n)
		}
	}
	got := readAll(t, l, 0)
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if baseOf(got[i]) != int64(2*i) || string(got[i][16:]) != string(want[i][16:]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	if n := openLogFiles(t, dir); n > 2*3+1 {
		t.Fatalf("after reading: %d .log files open", n)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if n := openLogFiles(t, dir); n != 0 {
		t.Fatalf("%d .log files open after Close", n)
	}
}

// One FileCache shared by many logs caps their sealed files together: reading every
// segment of every log (twice, concurrently) returns the right bytes while the process
// never holds more than twice the cap of their .log files (plus the active segments);
// closing and deleting logs leaves none open.
func TestSharedFileCacheAcrossLogs(t *testing.T) {
	const logs, segs, maxOpen = 12, 15, 5
	root := t.TempDir()
	want := make([][][]byte, logs)
	dirs := make([]string, logs)
	for i := range logs {
		dirs[i] = filepath.Join(root, fmt.Sprintf("p-%d", i))
		want[i] = writeSegments(t, dirs[i], segs)
	}
	files := segment.NewFileCache(maxOpen)
	ls := make([]*segment.Log, logs)
	for i := range logs {
		// MaxOpenSealedFiles is ignored when Files is set.
		ls[i] = mustOpen(t, dirs[i], segment.Config{SegmentBytes: 1, MaxOpenSealedFiles: 1000, Files: files})
	}
	bound := func(step string) {
		t.Helper()
		if n := openLogFiles(t, root); n > 2*maxOpen+logs { // + the active segments
			t.Fatalf("%s: %d .log files open, want at most %d", step, n, 2*maxOpen+logs)
		}
		if open, retired := files.Files(); open > maxOpen || retired > maxOpen {
			t.Fatalf("%s: cache holds %d open and %d retired files, cap %d", step, open, retired, maxOpen)
		}
	}
	bound("open")
	errs := make(chan error, logs)
	for i := range logs {
		go func() {
			for pass := range 2 {
				for j := range segs {
					r, err := ls[i].Read(int64(2*j), 1<<20, true)
					var b []byte
					if err == nil {
						b, err = r.Bytes()
					}
					if errors.Is(err, os.ErrClosed) {
						continue // closed early by evictions beyond the cap (files.go); a reader retries
					}
					if err != nil {
						errs <- fmt.Errorf("log %d pass %d segment %d: %w", i, pass, j, err)
						return
					}
					if len(b) != len(want[i][j]) || string(b[16:]) != string(want[i][j][16:]) {
						errs <- fmt.Errorf("log %d pass %d segment %d: wrong bytes", i, pass, j)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range logs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	bound("concurrent reads")
	for i := range logs { // sequentially, every read must succeed
		got := readAll(t, ls[i], 0)
		if len(got) != segs {
			t.Fatalf("log %d: %d batches, want %d", i, len(got), segs)
		}
		for j := range got {
			if string(got[j][16:]) != string(want[i][j][16:]) || baseOf(got[j]) != int64(2*j) {
				t.Fatalf("log %d: batch %d differs", i, j)
			}
		}
		bound(fmt.Sprintf("read log %d", i))
	}
	// Close half of the logs and delete the others: no .log file stays open.
	for i, l := range ls {
		var err error
		if i%2 == 0 {
			err = l.Close()
		} else {
			err = l.Delete()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := openLogFiles(t, root); n != 0 {
		t.Fatalf("%d .log files open after every log was closed or deleted", n)
	}
	if open, retired := files.Files(); open != 0 || retired != 0 {
		t.Fatalf("cache still holds %d open and %d retired files", open, retired)
	}
}

// A ReadResult of one log stays readable when reads of other logs evict its file from the
// shared cache, for the retire delay; closing the other logs does not close it.
func TestSharedFileCacheRetiresAcrossLogs(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	wantA := writeSegments(t, a, 3)
	writeSegments(t, b, 10)
	files := segment.NewFileCache(4)
	la := mustOpen(t, a, segment.Config{SegmentBytes: 1, Files: files})
	defer la.Close()
	r, err := la.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	lb := mustOpen(t, b, segment.Config{SegmentBytes: 1, Files: files})
	for off := int64(0); off < 8; off += 2 { // the fourth evicts a's file: retired, not closed
		if _, err := lb.Read(off, 1<<20, true); err != nil {
			t.Fatal(err)
		}
	}
	if open, retired := la.OpenSealedFiles(); open != 0 || retired != 1 {
		t.Fatalf("log a: %d open, %d retired files, want 0 and 1", open, retired)
	}
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := r.Bytes()
	if err != nil || string(got) != string(wantA[0]) {
		t.Fatalf("read of an evicted file: %v", err)
	}
	if err := la.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Bytes(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after the log closed: %v, want os.ErrClosed", err)
	}
}

func TestHasSegment(t *testing.T) {
	dir := t.TempDir()
	writeSegments(t, dir, 5) // segments at 0, 2, ... 8, active at 10
	l := mustOpen(t, dir, segment.Config{SegmentBytes: 1})
	defer l.Close()
	for off := int64(-1); off <= 12; off++ {
		want := off >= 0 && off <= 10 && off%2 == 0
		if got := l.HasSegment(off); got != want {
			t.Fatalf("HasSegment(%d) = %v, want %v", off, got, want)
		}
	}
	if err := l.DeleteOldestSegment(0); err != nil {
		t.Fatal(err)
	}
	if l.HasSegment(0) || !l.HasSegment(2) {
		t.Fatal("HasSegment after deleting the oldest segment")
	}
}

// Logs sharing a FileCache are closed, deleted and reopened while other logs are read
// through it: the other readers always get their own bytes (or os.ErrClosed for a file
// closed early), and nothing stays open at the end.
func TestSharedFileCacheCloseWhileReading(t *testing.T) {
	const logs, segs = 6, 12
	root := t.TempDir()
	want := make([][][]byte, logs)
	dirs := make([]string, logs)
	for i := range logs {
		dirs[i] = filepath.Join(root, fmt.Sprintf("p-%d", i))
		want[i] = writeSegments(t, dirs[i], segs)
	}
	files := segment.NewFileCache(4)
	cfg := segment.Config{SegmentBytes: 1, Files: files}
	ls := make([]*segment.Log, logs)
	for i := range logs {
		ls[i] = mustOpen(t, dirs[i], cfg)
	}
	stop := make(chan struct{})
	errs := make(chan error, logs)
	for i := 1; i < logs; i++ { // log 0 is closed and reopened meanwhile
		go func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				j := (n*5 + i) % segs
				r, err := ls[i].Read(int64(2*j), 1<<20, true)
				var b []byte
				if err == nil {
					b, err = r.Bytes()
				}
				if errors.Is(err, os.ErrClosed) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("log %d segment %d: %w", i, j, err)
					return
				}
				if string(b[16:]) != string(want[i][j][16:]) {
					errs <- fmt.Errorf("log %d segment %d: wrong bytes", i, j)
					return
				}
			}
		}()
	}
	for range 20 {
		for j := range segs {
			for {
				r, err := ls[0].Read(int64(2*j), 1<<20, true)
				var b []byte
				if err == nil {
					b, err = r.Bytes()
				}
				if errors.Is(err, os.ErrClosed) {
					continue // closed early by the other readers' evictions: retry
				}
				if err != nil || string(b[16:]) != string(want[0][j][16:]) {
					t.Fatalf("log 0 segment %d: %v", j, err)
				}
				break
			}
		}
		if err := ls[0].Close(); err != nil {
			t.Fatal(err)
		}
		ls[0] = mustOpen(t, dirs[0], cfg)
	}
	close(stop)
	for i := 1; i < logs; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := ls[0].Delete(); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls[1:] {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := openLogFiles(t, root); n != 0 {
		t.Fatalf("%d .log files open after every log was closed", n)
	}
	if open, retired := files.Files(); open != 0 || retired != 0 {
		t.Fatalf("cache still holds %d open and %d retired files", open, retired)
	}
}
