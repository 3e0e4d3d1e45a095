package partition

import (
	"strconv"
	"testing"
	"time"

	"github.com/strata-io/strata/broker/producer"
)

// BenchmarkProducerSnapshotAtRoll is the cost a roll of a tiered partition pays under the
// partition lock for its producer snapshot (atomic write: temp file, fsync, rename, dir
// fsync), by number of producers in the state.
func BenchmarkProducerSnapshotAtRoll(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(strconv.Itoa(n)+"-producers", func(b *testing.B) {
			st := producer.NewState(producer.StateConfig{})
			for pid := range n {
				st.Update(producer.BatchMeta{ProducerID: int64(pid), FirstSeq: 0, LastSeq: 0, FirstOffset: int64(pid), LastOffset: int64(pid)}, time.Now())
			}
			dir := b.TempDir()
			b.ResetTimer()
			for i := range b.N {
				if err := st.Save(nil, dir, int64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
