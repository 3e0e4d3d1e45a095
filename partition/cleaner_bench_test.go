package partition

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// benchDirtyPartition fills a compacted partition with updates: keys keys, updates
// records of 200-byte values, in batches of 10 records, lz4-compressed as clients send them.
func benchDirtyPartition(b *testing.B, updates, keys int) *Partition {
	b.Helper()
	cfg := compactConfig(b, "compact")
	cfg.SegmentBytes = 8 << 20
	p := openCompacted(b, nil, b.TempDir(), cfg)
	b.Cleanup(func() { p.Close() })
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 100)
	for i := 0; i < updates; i += 10 {
		var rs []kv
		for j := range 10 {
			for k := range raw {
				raw[k] = byte(rng.Uint32())
			}
			rs = append(rs, rec(fmt.Sprintf("key-%07d", ((i+j)*7919)%keys), hex.EncodeToString(raw))) // 200 bytes, about half of them left by lz4
		}
		appendKeyed(b, p, keyedBatch(b, now.UnixMilli(), codecLZ4, -1, 0, rs...), now)
	}
	p.Roll()
	return p
}

// resetClean forgets what was cleaned, so that the next Clean rewrites the whole log.
func (p *Partition) resetClean() {
	p.clean.mu.Lock()
	p.clean.loaded, p.clean.firstDirty, p.clean.horizons = true, 0, nil
	p.clean.mu.Unlock()
}

// BenchmarkCleaner reports the cleaner's throughput on one core (a clean runs on one
// goroutine): bytes of dirty log cleaned per second (wall clock, fsyncs included), 200,000
// updates of 200-byte values over 20,000 keys, lz4 batches of 10 records.
func BenchmarkCleaner(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		p := benchDirtyPartition(b, 200_000, 20_000)
		size := p.SizeBytes()
		m := newOffsetMap(64 << 20)
		b.StartTimer()
		start := time.Now()
		st, err := p.Clean(context.Background(), time.Now(), cleanIO{m: m, dec: new(recordDecoder)})
		if err != nil || !st.Cleaned {
			b.Fatalf("%+v %v", st, err)
		}
		took := time.Since(start)
		b.ReportMetric(float64(size)/took.Seconds()/1e6, "MB/s/core")
		b.ReportMetric(float64(size)/1e6, "MB")
		b.ReportMetric(float64(p.SizeBytes())/float64(size), "size_after/before")
		p.Close()
	}
}

// BenchmarkProduceWhileCleaning compares the append throughput of one partition (10-record
// batches, an fsync every 16 of them as acks=-1 producers cause) alone and while another,
// large partition is cleaned again and again by a cleaner thread. It reports both rates and
// their ratio (the issue asks for at least 0.85).
func BenchmarkProduceWhileCleaning(b *testing.B) {
	big := benchDirtyPartition(b, 300_000, 30_000)
	cfg := compactConfig(b, "delete")
	cfg.SegmentBytes = 64 << 20
	hot := openCompacted(b, nil, b.TempDir(), cfg)
	defer hot.Close()
	val := strings.Repeat("p", 200)
	batch := keyedBatch(b, time.Now().UnixMilli(), codecNone, -1, 0, rec("a", val), rec("b", val), rec("c", val), rec("d", val),
		rec("e", val), rec("f", val), rec("g", val), rec("h", val), rec("i", val), rec("j", val))
	produce := func(d time.Duration) float64 {
		var n int64
		start := time.Now()
		for i := 0; time.Since(start) < d; i++ {
			r := appendKeyed(b, hot, append([]byte(nil), batch...), time.Now())
			n += int64(len(batch))
			if i%16 == 15 {
				if err := hot.WaitDurable(context.Background(), r.Info.LastOffset+1); err != nil {
					b.Fatal(err)
				}
			}
		}
		return float64(n) / time.Since(start).Seconds() / 1e6
	}
	m := newOffsetMap(64 << 20)
	for _, limit := range []float64{0, 20e6} {
		name := "io_unlimited"
		var thr func(context.Context, int64) error
		if limit > 0 {
			name = fmt.Sprintf("io_max_%.0fMBps", limit/1e6)
			thr = (&rateLimiter{rate: limit}).wait
		}
		b.Run(name, func(b *testing.B) { produceWhileCleaning(b, big, m, thr, produce) })
	}
}

// produceWhileCleaning alternates 250 ms windows without and with the cleaner running (8
// of each), so that the machine's other load affects both alike.
func produceWhileCleaning(b *testing.B, big *Partition, m *offsetMap, thr func(context.Context, int64) error, produce func(time.Duration) float64) {
	for b.Loop() {
		var idle, busy float64
		cleans := 0
		for range 8 {
			idle += produce(250 * time.Millisecond)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int)
			go func() {
				n := 0
				for ctx.Err() == nil {
					big.resetClean()
					if _, err := big.Clean(ctx, time.Now(), cleanIO{m: m, dec: new(recordDecoder), throttle: thr}); err != nil && ctx.Err() == nil && !errors.Is(err, errCleanStopped) {
						b.Error(err)
					}
					n++
				}
				done <- n
			}()
			busy += produce(250 * time.Millisecond)
			cancel()
			cleans += <-done
		}
		b.ReportMetric(idle/8, "MB/s_idle")
		b.ReportMetric(busy/8, "MB/s_cleaning")
		b.ReportMetric(busy/idle, "ratio")
		b.ReportMetric(float64(cleans), "cleans")
	}
}
