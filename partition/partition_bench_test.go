package partition

import (
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
)

// BenchmarkPartitionAppend measures the produce path below the network: validation,
// append (page cache) and fetch wake-up, for ~1.8 KiB batches of 160 records.
func BenchmarkPartitionAppend(b *testing.B) {
	p := benchPartition(b)
	batch := testBatch(b, codecNone, 1000, make([]int64, 160), false)
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for b.Loop() {
		c := append([]byte(nil), batch...) // the log owns the batch after the call
		h, err := validateBatch(c, p.config(), time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.append(c, h, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPartitionAppendDurable adds the acks=-1 wait (fsync, group commit).
func BenchmarkPartitionAppendDurable(b *testing.B) {
	p := benchPartition(b)
	batch := testBatch(b, codecNone, 1000, make([]int64, 160), false)
	b.SetBytes(int64(len(batch)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := append([]byte(nil), batch...)
			h, err := validateBatch(c, p.config(), time.Now())
			if err != nil {
				b.Error(err)
				return
			}
			res, err := p.append(c, h, time.Time{})
			if err != nil {
				b.Error(err)
				return
			}
			if err := p.waitDurable(b.Context(), res.Info.LastOffset+1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPartitionReadLocal measures the fetch path below the network: 1 MiB reads of
// whole batches from the page cache.
func BenchmarkPartitionReadLocal(b *testing.B) {
	p := benchPartition(b)
	batch := testBatch(b, codecNone, 1000, make([]int64, 160), false)
	const n = 2000
	for range n {
		c := append([]byte(nil), batch...)
		h, _ := validateBatch(c, p.config(), time.Now())
		if _, err := p.append(c, h, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	hw := p.HighWatermark()
	b.ResetTimer()
	var off int64
	var total int64
	for b.Loop() {
		data, _, err := p.readLocal(off, 1<<20, true)
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
		var last int64
		_ = SplitBatches(data, func(h segment.BatchHeader, _ []byte) (bool, error) { last = h.LastOffset(); return true, nil })
		off = last + 1
		if off >= hw {
			off = 0
		}
	}
	b.SetBytes(total / int64(b.N))
}

func benchPartition(b *testing.B) *Partition {
	b.Helper()
	p, err := Open(Options{Topic: "bench", Dir: b.TempDir(), Config: testConfig(b, nil)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.close() })
	return p
}
