package tiering

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-io/strata/segment"
)

// BenchmarkProducerSnapshotLookup measures the snapshot lookup of one upload in a partition
// directory of files*3 segment files and no snapshot: listed for each upload (untracked)
// or from the set the broker's reports keep (tracked; its one listing is not timed).
func BenchmarkProducerSnapshotLookup(b *testing.B) {
	for _, segs := range []int{100, 10000, 50000} {
		dir := b.TempDir()
		for i := range segs {
			for _, ext := range []string{".log", ".index", ".timeindex"} {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d%s", i*10, ext)), nil, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
		seg := segment.SegmentInfo{BaseOffset: 10, NextOffset: 20, LogPath: filepath.Join(dir, fmt.Sprintf("%020d.log", 10))}
		for _, tracked := range []bool{false, true} {
			b.Run(fmt.Sprintf("segments=%d/tracked=%v", segs, tracked), func(b *testing.B) {
				p := &RemotePartition{}
				p.snaps.tracked = tracked
				p.producerSnapshotCandidates(seg) // a tracked set lists once, here
				for b.Loop() {
					if c := p.producerSnapshotCandidates(seg); len(c) != 0 {
						b.Fatal(c)
					}
				}
			})
		}
	}
}
