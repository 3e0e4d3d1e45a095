package segment_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// A busy acks=-1 partition pays one fsync per group commit, not three: the index files are
// fsynced at most once a second until they fall 16 MiB behind, and recovery after a crash
// still scans no more than that.
func TestIndexSyncIsAmortized(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	cfg := segment.Config{FS: fsys}
	l := mustOpen(t, testDir, cfg)
	vals := make([][]byte, 256)
	for i := range vals {
		vals[i] = bytes.Repeat([]byte{byte(i)}, 1000) // ~256 KiB batches
	}
	const n = 80 // ~20 MiB: past the 16 MiB bound once
	start := time.Now()
	for i := range n {
		mustAppend(t, l, segmenttest.Batch(int64(i), vals...))
		waitDurable(t, l)
	}
	logSyncs, idxSyncs := fsys.SyncCount(".log"), fsys.SyncCount(".index")
	if logSyncs < n {
		t.Fatalf("%d .log fsyncs for %d durable appends", logSyncs, n)
	}
	// Index fsyncs are due every 16 MiB, or every second once 256 KiB behind (indexSyncBytes,
	// indexSyncInterval): a slow machine (-race, load) earns one more per elapsed second.
	if bound := n/8 + int(time.Since(start)/time.Second); idxSyncs == 0 || idxSyncs > bound {
		t.Fatalf("%d .index fsyncs for %d durable appends of 256 KiB in %v (want at most %d)", idxSyncs, n, time.Since(start), bound)
	}
	if got := fsys.SyncCount(".timeindex"); got != idxSyncs {
		t.Fatalf("%d .timeindex fsyncs, %d .index fsyncs", got, idxSyncs)
	}
	size := l.Size()
	crashed := fsys.Crash()
	l.Close()
	cfg.FS = crashed
	l2, rep, err := segment.Open(testDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.TruncatedBytes != 0 || l2.NextOffset() != int64(n*len(vals)) {
		t.Fatalf("report %+v, next offset %d", rep, l2.NextOffset())
	}
	if bound := int64(16<<20) + 4096 + size/n; rep.RecoveredBytes > bound {
		t.Fatalf("recovery scanned %d of %d bytes (bound %d)", rep.RecoveredBytes, size, bound)
	}
}
