package segment_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// kibBatch is a 1 KiB batch of 4 records.
func kibBatch() []byte {
	v := bytes.Repeat([]byte{'x'}, 230)
	b := segmenttest.Batch(1, v, v, v, v)
	return b
}

func BenchmarkAppend(b *testing.B) {
	for _, durable := range []bool{false, true} {
		name := "page-cache"
		if durable {
			name = "wait-durable"
		}
		b.Run(name, func(b *testing.B) {
			l := mustOpen(b, b.TempDir(), segment.Config{SegmentBytes: 64 << 20})
			defer l.Close()
			src := kibBatch()
			buf := make([]byte, len(src))
			b.SetBytes(int64(len(src)))
			b.ResetTimer()
			for b.Loop() {
				copy(buf, src)
				info, err := l.Append(buf, segment.AppendOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if durable {
					if err := l.WaitDurable(b.Context(), info.LastOffset+1); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// benchLog fills a log with n 1 KiB batches in 64 MiB segments.
func benchLog(b *testing.B, n int) *segment.Log {
	l := mustOpen(b, b.TempDir(), segment.Config{SegmentBytes: 64 << 20})
	src := kibBatch()
	for range n {
		if _, err := l.Append(bytes.Clone(src), segment.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// BenchmarkIndexLookup reads one batch at random offsets: index binary search plus the
// forward scan to the batch.
func BenchmarkIndexLookup(b *testing.B) {
	l := benchLog(b, 50_000)
	defer l.Close()
	r := rand.New(rand.NewPCG(1, 1))
	next := l.NextOffset()
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Read(r.Int64N(next), 1, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads 1 MiB fetches sequentially, including the copy out of the file.
func BenchmarkRead(b *testing.B) {
	l := benchLog(b, 50_000)
	defer l.Close()
	off, total := int64(0), 0
	b.ResetTimer()
	for b.Loop() {
		res, err := l.Read(off, 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		data, err := res.Bytes()
		if err != nil {
			b.Fatal(err)
		}
		total += len(data)
		batches := split(b, data)
		off = lastOf(batches[len(batches)-1]) + 1
		if off >= l.NextOffset() {
			off = 0
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds()/1e6, "MB/s")
}

// BenchmarkAppendGroupCommit: 16 goroutines append 1 KiB batches and wait for durability;
// fsyncs are shared.
func BenchmarkAppendGroupCommit(b *testing.B) {
	l := mustOpen(b, b.TempDir(), segment.Config{SegmentBytes: 64 << 20})
	defer l.Close()
	src := kibBatch()
	var mu sync.Mutex
	b.SetBytes(int64(len(src)))
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, len(src))
		for pb.Next() {
			copy(buf, src)
			mu.Lock()
			info, err := l.Append(buf, segment.AppendOptions{})
			mu.Unlock()
			if err != nil {
				b.Error(err)
				return
			}
			if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
