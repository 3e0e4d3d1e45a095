package partition

import (
	"fmt"
	"os"
	"testing"

	"github.com/strata-io/strata/broker/producer"
)

// BenchmarkSaveProducerState is the maintenance loop's producer snapshot (save at the log
// end, prune the older ones) of a tiered partition whose local log holds n segments (and
// their roll snapshots): the cost should not grow with n.
func BenchmarkSaveProducerState(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if d, err := os.MkdirTemp("/dev/shm", "strata-bench-"); err == nil { // in memory: no fsync cost
				dir = d
				b.Cleanup(func() { os.RemoveAll(d) })
			}
			cfg := testConfig(b, map[string]string{"segment.bytes": "1", "remote.storage.enable": "true"})
			p, err := Open(Options{Topic: "t", Dir: dir + "/t-0", Config: cfg})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.close() })
			st := producer.NewState(producer.StateConfig{})
			p.installProducerState(st)
			appendRecords(b, p, n, 1000) // one segment (and roll snapshot) per record
			p.SaveProducerState()        // the first prune lists the directory
			cfg.SegmentBytes = 1 << 30   // no more rolls
			p.SetConfig(cfg)
			b.ResetTimer()
			for b.Loop() {
				appendRecords(b, p, 1, 5000)
				p.SaveProducerState()
			}
		})
	}
}
