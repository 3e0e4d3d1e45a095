package segment_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// randomBatch returns a batch of 1-5 records with values of 0-300 bytes.
func randomBatch(r *rand.Rand, ts int64) []byte {
	vs := make([][]byte, 1+r.IntN(5))
	for i := range vs {
		vs[i] = make([]byte, r.IntN(300))
		for j := range vs[i] {
			vs[i][j] = byte(r.UintN(256))
		}
	}
	return segmenttest.Batch(ts, vs...)
}

// checkAfterCrash opens the crashed filesystem and checks that the log is a contiguous
// prefix of what was appended that includes every acknowledged batch, byte for byte, and
// that appends continue right after it and survive the next crash once acknowledged.
func checkAfterCrash(t *testing.T, fsys *segmenttest.MemFS, cfg segment.Config, appended [][]byte, acked int, start int64) {
	t.Helper()
	cfg.FS = fsys
	l, rep, err := segment.Open(testDir, cfg)
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	if l.LogStartOffset() != start {
		t.Fatalf("log start %d after crash, want %d", l.LogStartOffset(), start)
	}
	// The batches from the one holding the log start on.
	first := 0
	for first < len(appended) && lastOf(appended[first]) < start {
		first++
	}
	got := readAll(t, l, start)
	if first+len(got) < acked || first+len(got) > len(appended) {
		t.Fatalf("%d batches from %d after crash, %d acknowledged, %d appended (report %+v)", len(got), start, acked, len(appended), rep)
	}
	for i, b := range got {
		if !bytes.Equal(b, appended[first+i]) {
			t.Fatalf("batch %d differs after crash (report %+v)", first+i, rep)
		}
	}
	next := start
	if len(got) > 0 {
		next = lastOf(got[len(got)-1]) + 1
	}
	if l.NextOffset() != next {
		t.Fatalf("next offset %d, want %d", l.NextOffset(), next)
	}
	b := batchOf(7, 2)
	if info := mustAppend(t, l, b); info.BaseOffset != next {
		t.Fatalf("append after crash at %d, want %d", info.BaseOffset, next)
	}
	waitDurable(t, l)
	fs2 := fsys.Crash()
	l.Close()
	cfg.FS = fs2
	l2 := mustOpen(t, testDir, cfg)
	defer l2.Close()
	equalBatches(t, readAll(t, l2, start), append(got, b))
}

// TestCrashRandomPoints: a single writer appends, waits for durability now and then and rolls;
// the filesystem crashes after a random number of operations.
func TestCrashRandomPoints(t *testing.T) {
	for seed := range uint64(150) {
		r := rand.New(rand.NewPCG(seed, 99))
		cfg := segment.Config{
			SegmentBytes:       int64(1000 + r.IntN(8000)),
			IndexIntervalBytes: 64 + r.IntN(1024),
		}
		if r.IntN(4) == 0 {
			cfg.FlushMessages = int64(1 + r.IntN(20))
		}
		fsys := segmenttest.NewMemFS()
		cfg.FS = fsys
		l := mustOpen(t, testDir, cfg)
		var appended [][]byte
		acked := 0
		ops := r.IntN(200)
		for i := range ops {
			switch x := r.IntN(100); {
			case x < 80:
				b := randomBatch(r, int64(i))
				mustAppend(t, l, b)
				appended = append(appended, bytes.Clone(b))
			case x < 95:
				waitDurable(t, l)
				acked = len(appended)
			case x < 97:
				if err := l.Roll(); err != nil {
					t.Fatal(err)
				}
				acked = len(appended) // a roll fsyncs the sealed segment
			case x < 98:
				if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: int64(r.IntN(20000))}, time.Now(), nil); err != nil {
					t.Fatal(err)
				}
			case x < 99:
				if l.NextOffset() > l.LogStartOffset() {
					if err := l.SetLogStartOffset(l.LogStartOffset() + r.Int64N(l.NextOffset()-l.LogStartOffset()+1)); err != nil {
						t.Fatal(err)
					}
				}
			default:
				// Reopen cleanly in the middle.
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				acked = len(appended)
				l = mustOpen(t, testDir, cfg)
			}
		}
		start := l.LogStartOffset()
		crashed := fsys.Crash()
		l.Close() // fails on the crashed filesystem; stops the flusher
		checkAfterCrash(t, crashed, segment.Config{SegmentBytes: cfg.SegmentBytes, IndexIntervalBytes: cfg.IndexIntervalBytes}, appended, acked, start)
	}
}

// TestCrashConcurrent: writers append and wait for durability concurrently while the
// filesystem crashes at a random moment; every batch whose WaitDurable returned before the
// crash must survive.
func TestCrashConcurrent(t *testing.T) {
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 7))
		cfg := segment.Config{SegmentBytes: 8 << 10, IndexIntervalBytes: 512, FlushInterval: time.Millisecond}
		fsys := segmenttest.NewMemFS()
		cfg.FS = fsys
		l := mustOpen(t, testDir, cfg)
		var mu sync.Mutex // serialises appends (one writer) and guards the slices
		var appended [][]byte
		durable := int64(0) // offsets below are acknowledged
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				for ctx.Err() == nil {
					b := randomBatch(r, 1)
					mu.Lock()
					info, err := l.Append(b, segment.AppendOptions{})
					if err == nil {
						appended = append(appended, bytes.Clone(b))
					}
					mu.Unlock()
					if err != nil {
						return
					}
					if err := l.WaitDurable(ctx, info.LastOffset+1); err != nil {
						return
					}
					mu.Lock()
					durable = max(durable, info.LastOffset+1)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(1+r.IntN(20)) * time.Millisecond)
		mu.Lock()
		ackedOffset := durable
		mu.Unlock()
		crashed := fsys.Crash()
		cancel()
		wg.Wait()
		l.Close()
		acked := 0
		for acked < len(appended) && lastOf(appended[acked]) < ackedOffset {
			acked++
		}
		checkAfterCrash(t, crashed, segment.Config{SegmentBytes: cfg.SegmentBytes, IndexIntervalBytes: cfg.IndexIntervalBytes}, appended, acked, 0)
	}
}
