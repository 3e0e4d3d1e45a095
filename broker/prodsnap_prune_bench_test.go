package broker

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
			bc, err := ParseConfig(nil)
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			if d, err := os.MkdirTemp("/dev/shm", "strata-bench-"); err == nil { // in memory: no fsync cost
				dir = d
				b.Cleanup(func() { os.RemoveAll(d) })
			}
			bc.DataDir = dir
			topic := &Topic{Name: "t"}
			cfg := effectiveTopicConfig(&bc, map[string]string{"segment.bytes": "1", "remote.storage.enable": "true"})
			topic.cfg.Store(&cfg)
			p, err := openPartition(&Broker{cfg: bc}, topic, 0, dir+"/t-0")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.close() })
			st := producer.NewState(producer.StateConfig{})
			p.setProducerState(st)
			br := &Broker{}
			br.prodStates.Store(p, &prodState{st: st, saved: -1})
			appendRecords(b, p, n, 1000) // one segment (and roll snapshot) per record
			br.saveProducerState(p)      // the first prune lists the directory
			cfg.SegmentBytes = 1 << 30   // no more rolls
			p.applyConfig(cfg)
			b.ResetTimer()
			for b.Loop() {
				appendRecords(b, p, 1, 5000)
				br.saveProducerState(p)
			}
		})
	}
}
