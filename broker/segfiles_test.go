package broker

import (
	"fmt"
	"testing"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

func TestSegmentFileCap(t *testing.T) {
	if got := segmentFileCap(500); got != 500 {
		t.Fatalf("configured 500: %d", got)
	}
	limit := openFileLimit()
	got := segmentFileCap(0)
	if got < minSegmentFileCap || (limit > 0 && int64(got) > max(limit/segmentFileCapShare, minSegmentFileCap)) {
		t.Fatalf("derived cap %d from the open-file limit %d", got, limit)
	}
	bc, err := ParseConfig(map[string]string{"strata.log.max.open.segment.files": "-1"})
	if err == nil {
		err = bc.Validate()
	}
	if err == nil {
		t.Fatal("a negative strata.log.max.open.segment.files was accepted")
	}
}

// Every partition of a broker opens its sealed segment files through the broker's one
// cache: reading all partitions keeps at most its cap open, whatever the partition count.
func TestPartitionsShareSegmentFiles(t *testing.T) {
	bc, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	bc.DataDir = t.TempDir()
	const capFiles, parts = 3, 6
	br := &Broker{cfg: bc, segFiles: segment.NewFileCache(capFiles)}
	cfg := partitionConfig(effectiveTopicConfig(&bc, map[string]string{"segment.bytes": "1"}))
	var ps []*partition.Partition
	for i := range parts {
		p, err := partition.Open(partition.Options{Topic: "t", Index: int32(i), Dir: fmt.Sprintf("%s/t-%d", bc.DataDir, i), Config: cfg, Files: br.segFiles})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		appendN(t, p, 5, 1000) // one segment per record
		ps = append(ps, p)
	}
	for _, p := range ps {
		for off := int64(0); off < p.HighWatermark(); off++ {
			data, local, err := p.ReadLocal(off, 1<<20, true, nil)
			if err != nil || !local {
				t.Fatalf("partition %d offset %d: %v", p.Index(), off, err)
			}
			if offs := batchOffsets(t, data); len(offs) == 0 || offs[0] != off {
				t.Fatalf("partition %d offset %d: read %v", p.Index(), off, offs)
			}
		}
		if open, retired := br.segFiles.Files(); open == 0 || open > capFiles || retired > capFiles {
			t.Fatalf("after partition %d: the broker's cache holds %d open and %d retired files, cap %d", p.Index(), open, retired, capFiles)
		}
	}
}
