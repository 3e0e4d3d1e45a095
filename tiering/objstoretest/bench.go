package objstoretest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/strata-io/strata/tiering"
)

// Bench measures a backend: Put of objects of a few sizes, and ranged GETs of 64 KiB (a
// remote-read chunk) from a 16 MiB object. Throughput is reported as MB/s.
func Bench(b *testing.B, s tiering.ObjectStore) {
	ctx := context.Background()
	for _, size := range []int64{64 << 10, 1 << 20, 16 << 20} {
		data := randBytes(uint64(size), size)
		b.Run(fmt.Sprintf("Put/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(size)
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("bench/put/%d/%d", size, i%16)
				if err := s.Put(ctx, key, bytes.NewReader(data), size); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	const objSize, chunk = 16 << 20, 64 << 10
	data := randBytes(1, objSize)
	if err := s.Put(ctx, "bench/get", bytes.NewReader(data), objSize); err != nil {
		b.Fatal(err)
	}
	b.Run("GetRange/64KiB", func(b *testing.B) {
		b.SetBytes(chunk)
		buf := make([]byte, chunk)
		i := int64(0)
		for b.Loop() {
			off := (i * chunk) % objSize
			rc, err := s.GetRange(ctx, "bench/get", off, chunk)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(rc, buf); err != nil {
				b.Fatal(err)
			}
			rc.Close()
			i++
		}
	})
}
