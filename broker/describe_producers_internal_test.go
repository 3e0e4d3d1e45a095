package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeProducersPresentedOffsetsTopic: the partitions of the presented
// __consumer_offsets have no producers and no error (kgo routes the request by the
// partitions' leaders, so unknown partitions never reach the broker through it).
func TestDescribeProducersPresentedOffsetsTopic(t *testing.T) {
	b, _ := startTxnBroker(t, t.TempDir(), nil)
	cl := txnRawClient(t, b)
	req := kmsg.NewPtrDescribeProducersRequest()
	for _, tp := range []struct {
		topic string
		parts []int32
	}{{offsetsTopicName, []int32{0, 49}}} {
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = tp.topic, tp.parts
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Topics); n != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("response %+v", resp.Topics)
	}
	want := map[string][]int16{
		offsetsTopicName: {0, 0},
	}
	for _, rt := range resp.Topics {
		for i, p := range rt.Partitions {
			if p.ErrorCode != want[rt.Topic][i] || len(p.ActiveProducers) != 0 {
				t.Errorf("%s-%d: error %d, %d producers; want error %d, none", rt.Topic, p.Partition, p.ErrorCode, len(p.ActiveProducers), want[rt.Topic][i])
			}
		}
	}
}
