package segment_test

import (
	"bytes"
	"context"
	"os"
	"strings"
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
	l.WaitIndexSync()
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

// blockingFS blocks every fsync of an index file until release is closed.
type blockingFS struct {
	*segmenttest.MemFS
	blocked chan string // receives the name of each index file whose fsync blocks
	release chan struct{}
}

type blockingFile struct {
	segment.File
	fs *blockingFS
}

func (b *blockingFS) OpenFile(name string, flag int, perm os.FileMode) (segment.File, error) {
	f, err := b.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return blockingFile{f, b}, nil
}

func (f blockingFile) Sync() error {
	if strings.HasSuffix(f.Name(), ".index") || strings.HasSuffix(f.Name(), ".timeindex") {
		select {
		case f.fs.blocked <- f.Name():
		default:
		}
		<-f.fs.release
	}
	return f.File.Sync()
}

// An acks=-1 waiter is released by the .log fsync: an index fsync that hangs does not hold
// it back, nor the next group commits, and a crash meanwhile loses no acknowledged record
// (recovery rebuilds the index tail from the .log).
func TestIndexSyncOffAckPath(t *testing.T) {
	mem := segmenttest.NewMemFS()
	fsys := &blockingFS{MemFS: mem, blocked: make(chan string, 1), release: make(chan struct{})}
	cfg := segment.Config{FS: fsys}
	l := mustOpen(t, testDir, cfg)
	released := false
	release := func() {
		if !released {
			released = true
			close(fsys.release)
		}
	}
	defer func() { release(); l.Close() }()

	big := bytes.Repeat([]byte{'x'}, 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appended := 0
	for fsys.waitBlocked() == "" {
		if appended > 64 {
			t.Fatalf("no index fsync started after %d durable appends of 64 KiB", appended)
		}
		mustAppend(t, l, segmenttest.Batch(int64(appended), big))
		appended++
		if err := l.WaitDurable(ctx, l.NextOffset()); err != nil {
			t.Fatalf("wait durable with an index fsync blocked: %v", err)
		}
	}
	// An index fsync hangs now: more acks=-1 appends still complete.
	for i := range 8 {
		mustAppend(t, l, segmenttest.Batch(int64(appended), big))
		appended++
		if err := l.WaitDurable(ctx, l.NextOffset()); err != nil {
			t.Fatalf("append %d after the index fsync blocked: wait durable: %v", i, err)
		}
	}
	if got := l.DurableOffset(); got != int64(appended) {
		t.Fatalf("durable offset %d, want %d", got, appended)
	}

	crashed := mem.Crash()
	release()
	l.Close()
	l2, rep, err := segment.Open(testDir, segment.Config{FS: crashed})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.TruncatedBytes != 0 || l2.NextOffset() != int64(appended) {
		t.Fatalf("after crash: report %+v, next offset %d, want %d", rep, l2.NextOffset(), appended)
	}
	if got := readAll(t, l2, 0); len(got) != appended {
		t.Fatalf("after crash: %d batches readable, want %d", len(got), appended)
	}
}

// waitBlocked returns the name of an index file whose fsync is blocked, "" if none started
// within a short while.
func (b *blockingFS) waitBlocked() string {
	select {
	case name := <-b.blocked:
		return name
	case <-time.After(20 * time.Millisecond):
		return ""
	}
}
