package segment_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-io/strata/segment"
)

// TestCleanShutdownSummary: after a clean shutdown Open takes the sealed segments from the
// summary in the marker, and finds them exactly as checking their files would (a v0 marker
// or a damaged summary takes that path); the marker is consumed, so reopening without a
// Close takes the full recovery path; segments the summary does not name (copied in
// after Close) are checked as before.
func TestCleanShutdownSummary(t *testing.T) {
	cfg := segment.Config{IndexIntervalBytes: 200, SegmentBytes: 2000}
	write := func(t *testing.T) (string, [][]byte) {
		dir := t.TempDir()
		l := mustOpen(t, dir, cfg)
		var want [][]byte
		for i := range 60 {
			b := batchOf(int64(1000+i*10), 3)
			mustAppend(t, l, b)
			want = append(want, bytes.Clone(b))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return dir, want
	}
	type view struct {
		base, next, size, maxTs int64
		sealed                  bool
	}
	views := func(l *segment.Log) []view {
		var out []view
		for _, s := range l.Segments() {
			out = append(out, view{s.BaseOffset, s.NextOffset, s.Size, s.MaxTimestamp, s.Sealed})
		}
		return out
	}
	open := func(t *testing.T, dir string, wantSummary int, wantClean bool) (*segment.Log, []view) {
		t.Helper()
		l, rep, err := segment.Open(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if n := l.OpenedFromSummary(); n != wantSummary || rep.CleanShutdown != wantClean || rep.RebuiltIndexes != 0 {
			t.Fatalf("%d segments from the summary (want %d), report %+v", n, wantSummary, rep)
		}
		return l, views(l)
	}
	marker := func(dir string) string { return filepath.Join(dir, "clean-shutdown") }

	dir, want := write(t)
	ref := func() []view { // the same log opened by checking every segment's files
		d2, _ := write(t)
		os.WriteFile(marker(d2), []byte("0\n"), 0o644)
		l, v := open(t, d2, 0, true)
		l.Close()
		return v
	}()
	l, got := open(t, dir, len(ref)-1, true)
	if len(got) < 4 || !equalViews(got, ref) {
		t.Fatalf("from the summary: %+v\nchecked: %+v", got, ref)
	}
	equalBatches(t, readAll(t, l, 0), want)
	if r, found, err := l.FindTimestamp(1305); err != nil || !found || r.FirstOffset != 93 {
		t.Fatalf("find timestamp: %+v %v %v", r, found, err)
	}
	if _, err := os.Stat(marker(dir)); !os.IsNotExist(err) {
		t.Fatalf("marker not consumed: %v", err)
	}
	// A crash now (no Close): the next Open is unclean and checks every segment.
	l2, got2 := open(t, dir, 0, false)
	if !equalViews(got2, ref) {
		t.Fatalf("after a crash: %+v\nwant %+v", got2, ref)
	}
	l2.Close()
	l.Close()

	t.Run("damaged summary", func(t *testing.T) {
		dir, want := write(t)
		b, _ := os.ReadFile(marker(dir))
		b[len(b)/2] ^= 1
		os.WriteFile(marker(dir), b, 0o644)
		l, got := open(t, dir, 0, true)
		defer l.Close()
		if !equalViews(got, ref) {
			t.Fatalf("%+v\nwant %+v", got, ref)
		}
		equalBatches(t, readAll(t, l, 0), want)
	})
	t.Run("segments not in the summary", func(t *testing.T) {
		dir, want := write(t)
		// The first segment's files vanish (as after an operator's cleanup): the second
		// segment onwards are still named by the summary, with the same successors.
		segs := ref
		for _, ext := range []string{".log", ".index", ".timeindex"} {
			os.Remove(filepath.Join(dir, segmentName(segs[0].base)+ext))
		}
		l, got := open(t, dir, len(ref)-2, true)
		defer l.Close()
		if !equalViews(got, ref[1:]) {
			t.Fatalf("%+v\nwant %+v", got, ref[1:])
		}
		var rest [][]byte
		for _, b := range want {
			if baseOf(b) >= segs[1].base {
				rest = append(rest, b)
			}
		}
		equalBatches(t, readAll(t, l, segs[1].base), rest)
	})
}

func segmentName(base int64) string {
	const digits = "00000000000000000000"
	s := []byte(digits)
	for i := len(s) - 1; base > 0; i-- {
		s[i] = byte('0' + base%10)
		base /= 10
	}
	return string(s)
}

func equalViews[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOpenOtherFiles: Open reports the files beside the log that are not its own, so that
// a caller need not list the directory again, whenever it lists the directory; after a
// clean shutdown whose marker names every segment it does not list it (OtherFiles nil) and
// leaves leftovers for the next Open that does.
func TestOpenOtherFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := segment.Config{SegmentBytes: 200}
	l := mustOpen(t, dir, cfg)
	var want [][]byte
	for i := range 10 {
		b := batchOf(int64(i), 3)
		mustAppend(t, l, b)
		want = append(want, bytes.Clone(b))
	}
	l.Close()
	for _, name := range []string{"00000000000000000042.snapshot", "leader-epoch-checkpoint", "00000000000000000000.index.tmp"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	open := func() segment.RecoveryReport {
		t.Helper()
		l, rep, err := segment.Open(dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		equalBatches(t, readAll(t, l, 0), want)
		l.Close()
		return rep
	}
	if rep := open(); rep.OtherFiles != nil || !rep.CleanShutdown || rep.Segments < 3 {
		t.Fatalf("clean open listed the directory: %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.index.tmp")); err != nil {
		t.Fatalf("clean open touched a leftover: %v", err)
	}
	os.Remove(filepath.Join(dir, "clean-shutdown")) // as after a crash
	rep := open()
	got := map[string]bool{}
	for _, n := range rep.OtherFiles {
		got[n] = true
	}
	if len(got) != 2 || !got["00000000000000000042.snapshot"] || !got["leader-epoch-checkpoint"] || rep.CleanShutdown {
		t.Fatalf("other files %q, report %+v", rep.OtherFiles, rep)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.index.tmp")); !os.IsNotExist(err) {
		t.Fatalf("leftover not removed by the listing open: %v", err)
	}
}

// TestLazyIndexCheckWrongEntry: after a clean shutdown, an index whose last entry is
// plausible (inside the file, increasing) but does not name a batch start is caught on
// first use and rebuilt; reads through it return the right batches.
func TestLazyIndexCheckWrongEntry(t *testing.T) {
	dir := t.TempDir()
	cfg := segment.Config{IndexIntervalBytes: 200, SegmentBytes: 2000}
	want, segs := writeClosedLog(t, dir, cfg)
	idx, err := os.ReadFile(segs[0].IndexPath)
	if err != nil || len(idx) < 16 {
		t.Fatalf("index of %d bytes: %v", len(idx), err)
	}
	// Move the last entry's position 5 bytes further: still below the size and increasing.
	n := len(idx) - 8
	pos := uint32(idx[n+4])<<24 | uint32(idx[n+5])<<16 | uint32(idx[n+6])<<8 | uint32(idx[n+7])
	pos += 5
	idx[n+4], idx[n+5], idx[n+6], idx[n+7] = byte(pos>>24), byte(pos>>16), byte(pos>>8), byte(pos)
	os.WriteFile(segs[0].IndexPath, idx, 0o644)
	l2, rep, err := segment.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if !rep.CleanShutdown || l2.OpenedFromSummary() != len(segs)-1 {
		t.Fatalf("report %+v, %d from the summary", rep, l2.OpenedFromSummary())
	}
	for i, b := range want {
		if baseOf(b) >= segs[0].NextOffset {
			break
		}
		got := readAll(t, l2, baseOf(b))
		if len(got) == 0 || !bytes.Equal(got[0], b) {
			t.Fatalf("read at %d (batch %d): wrong batch", baseOf(b), i)
		}
	}
	if n := l2.LazyRebuiltIndexes(); n != 1 {
		t.Fatalf("%d indexes rebuilt on first use, want 1", n)
	}
	if got, _ := os.ReadFile(segs[0].IndexPath); bytes.Equal(got, idx) {
		t.Fatal("damaged index left on disk")
	}
}

// TestActiveSegment: ActiveSegment is the last of Segments, after appends, rolls, a clean
// reopen and a raised log start.
func TestActiveSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := segment.Config{SegmentBytes: 300}
	check := func(l *segment.Log) {
		t.Helper()
		segs := l.Segments()
		if got := l.ActiveSegment(); got != segs[len(segs)-1] {
			t.Fatalf("active %+v, want %+v", got, segs[len(segs)-1])
		}
	}
	l := mustOpen(t, dir, cfg)
	check(l)
	for i := range 12 {
		mustAppend(t, l, batchOf(int64(i), 3))
		check(l)
	}
	l.Close()
	l = mustOpen(t, dir, cfg)
	check(l)
	if err := l.SetLogStartOffset(20); err != nil { // retention of the older segments
		t.Fatal(err)
	}
	check(l)
	l.Close()
}
