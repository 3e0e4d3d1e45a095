package broker

import (
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func BenchmarkObserveRequest(b *testing.B) {
	br := &Broker{topicIDs: map[[16]byte]*Topic{}}
	preq := kmsg.NewPtrProduceRequest()
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "t"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = make([]byte, 1000)
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	presp := preq.ResponseKind().(*kmsg.ProduceResponse)
	rt := kmsg.NewProduceResponseTopic()
	rt.Topic = "t"
	rt.Partitions = append(rt.Partitions, kmsg.NewProduceResponseTopicPartition())
	presp.Topics = append(presp.Topics, rt)
	freq := kmsg.NewPtrFetchRequest()
	fresp := freq.ResponseKind().(*kmsg.FetchResponse)
	ft := kmsg.NewFetchResponseTopic()
	ft.Topic = "t"
	for i := 0; i < 10; i++ {
		fp := kmsg.NewFetchResponseTopicPartition()
		fp.RecordBatches = make([]byte, 100)
		ft.Partitions = append(ft.Partitions, fp)
	}
	fresp.Topics = append(fresp.Topics, ft)
	b.Run("produce", func(b *testing.B) {
		for b.Loop() {
			br.observeRequest(0, preq, presp, nil, time.Millisecond, nil)
		}
	})
	b.Run("fetch10", func(b *testing.B) {
		for b.Loop() {
			br.observeRequest(1, freq, fresp, nil, time.Millisecond, nil)
		}
	})
}

// TestOpsMetricsDoNotPinBrokers: the per-broker metrics entry goes with its broker. It
// watches its own broker's entry: brokers of earlier tests may be collected meanwhile, so
// the number of entries says nothing.
func TestOpsMetricsDoNotPinBrokers(t *testing.T) {
	has := func(k weak.Pointer[Broker]) bool {
		opsMetricsMu.Lock()
		defer opsMetricsMu.Unlock()
		_, ok := opsMetricsFor[k]
		return ok
	}
	var key weak.Pointer[Broker]
	func() {
		b := &Broker{}
		b.ops()
		key = weak.Make(b)
		if !has(key) {
			t.Fatal("no entry for the broker")
		}
	}()
	for i := 0; i < 50 && has(key); i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if has(key) {
		t.Fatal("the entry outlived its broker")
	}
}
