package segment_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-io/strata/segment"
)

// BenchmarkOpenSealed opens (cleanly closed) logs of many one-batch sealed segments: the
// cost of start-up with a long local history (Open only, not Close) (every Open but the first uses the summary). The segments are copies of one written by
// the log itself, with the base offset rewritten.
func BenchmarkOpenSealed(b *testing.B) {
	for _, n := range []int{100, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			l := mustOpen(b, dir, segment.Config{SegmentBytes: 1})
			mustAppend(b, l, batchOf(1000, 2))
			if err := l.Roll(); err != nil {
				b.Fatal(err)
			}
			files := map[string][]byte{}
			for _, ext := range []string{".log", ".index", ".timeindex"} {
				files[ext], _ = os.ReadFile(filepath.Join(dir, fmt.Sprintf("%020d%s", 0, ext)))
			}
			l.Close() // the empty active segment at 2 is overwritten by a copy below
			for i := 1; i < n; i++ {
				base := int64(2 * i)
				binary.BigEndian.PutUint64(files[".log"][0:8], uint64(base))
				for ext, data := range files {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext)), data, 0o644); err != nil {
						b.Fatal(err)
					}
				}
			}
			for _, ext := range []string{".log", ".index", ".timeindex"} {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d%s", 2*n, ext)), nil, 0o644)
			}
			// Segments copied in after Close are not in the clean-shutdown summary, which
			// Open would trust without listing the directory: a v0 marker (clean, no
			// summary) makes the first Open check them all; its Close writes the summary.
			os.WriteFile(filepath.Join(dir, "clean-shutdown"), []byte("0\n"), 0o644)
			if l, _, err := segment.Open(dir, segment.Config{SegmentBytes: 1}); err != nil {
				b.Fatal(err)
			} else {
				l.Close()
			}
			b.ResetTimer()
			for b.Loop() {
				l, rep, err := segment.Open(dir, segment.Config{SegmentBytes: 1})
				if err != nil || rep.Segments != n+1 || !rep.CleanShutdown {
					b.Fatalf("open: %v %+v", err, rep)
				}
				b.StopTimer() // Open alone: Close writes (and fsyncs) the marker
				l.Close()
				b.StartTimer()
			}
		})
	}
}
