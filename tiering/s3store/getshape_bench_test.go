package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering/s3store"
)

// BenchmarkGetShape reads a 64 MiB object as ranged GETs of several sizes, one after the
// other and four at a time, and reports this process's CPU per MB (user+system), so that the
// per-request cost of the SDK and MinIO can be weighed against larger ranges.
func BenchmarkGetShape(b *testing.B) {
	ctx := context.Background()
	st, err := s3store.New(ctx, storeConfig(srv, srv.NewBucket(b)))
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := st.Put(ctx, "obj", bytes.NewReader(data), size); err != nil {
		b.Fatal(err)
	}
	for _, chunk := range []int64{1 << 20, 4 << 20, 8 << 20, 16 << 20, 64 << 20} {
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("range=%dMiB/par=%d", chunk>>20, par), func(b *testing.B) {
				b.SetBytes(size)
				var ru0, ru1 syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
				for b.Loop() {
					sem := make(chan struct{}, par)
					var wg sync.WaitGroup
					for off := int64(0); off < size; off += chunk {
						sem <- struct{}{}
						wg.Add(1)
						go func() {
							defer wg.Done()
							defer func() { <-sem }()
							rc, err := st.GetRange(ctx, "obj", off, chunk)
							if err != nil {
								b.Error(err)
								return
							}
							buf := make([]byte, chunk)
							if _, err := io.ReadFull(rc, buf); err != nil {
								b.Error(err)
							}
							rc.Close()
						}()
					}
					wg.Wait()
				}
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
				cpu := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/(size/1e6), "cpu-us/MB")
			})
		}
	}
}
