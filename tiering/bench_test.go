package tiering_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering"
)

// BenchmarkTier measures upload and sequential remote-read throughput against memstore
// (the tier's own overhead: scanning, CRC, chunking, cache), 32 MiB in 8 MiB segments.
//
//	go test -run XXX -bench Tier -benchtime 3x ./tiering
func BenchmarkTier(b *testing.B) {
	l, _, err := segment.Open(b.TempDir(), segment.Config{SegmentBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	val := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	for i := range 2048 {
		if _, err := l.Append(segmenttest.Batch(int64(i), val), segment.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	l.Roll()
	var total int64
	for _, s := range l.Segments() {
		total += s.Size
	}
	newPartition := func(store tiering.ObjectStore) (*tiering.RemotePartition, *cache.Cache) {
		c, _ := cache.New(cache.Config{MaxBytes: 256 << 20})
		m, err := tiering.NewManager(tiering.Config{}, store, c, nil, prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		p, err := m.OpenPartition(context.Background(), "bench", testTopicID, 0, l, tiering.PartitionConfig{})
		if err != nil {
			b.Fatal(err)
		}
		return p, c
	}
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			p, c := newPartition(newMem())
			if err := p.UploadPending(context.Background()); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	store := newMem()
	p, c := newPartition(store)
	if err := p.UploadPending(context.Background()); err != nil {
		b.Fatal(err)
	}
	c.Close()
	readAll := func(b *testing.B, p *tiering.RemotePartition) {
		_, end, _ := p.Bounds()
		for off := int64(0); off < end; {
			out, err := p.Read(context.Background(), off, 1<<20, true)
			if err != nil {
				b.Fatal(err)
			}
			off = lastOffset(b, out) + 1
		}
	}
	b.Run("read-cold", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			b.StopTimer()
			m, err := tiering.NewManager(tiering.Config{}, store, nil, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			rp, err := m.OpenPartition(context.Background(), "bench", testTopicID, 0, nil, tiering.PartitionConfig{})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			readAll(b, rp)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			m.Run(ctx) // closes the owned cache
		}
	})
	b.Run("read-warm", func(b *testing.B) {
		p, c := newPartition(store)
		defer c.Close()
		readAll(b, p)
		time.Sleep(10 * time.Millisecond)
		b.SetBytes(total)
		b.ResetTimer()
		for b.Loop() {
			readAll(b, p)
		}
	})
}

func lastOffset(b *testing.B, out []byte) int64 {
	last := int64(-1)
	for len(out) > 0 {
		_, l, size, err := tiering.BatchBounds(out)
		if err != nil {
			b.Fatal(err)
		}
		last, out = l, out[size:]
	}
	return last
}
