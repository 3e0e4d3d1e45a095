package broker

// DescribeProducers (key 61), version 0: the active producers of each partition (id,
// epoch, last sequence, last append time, first offset of the open transaction or -1).
// Needs READ on the topic. A partition of a presented internal topic (__consumer_offsets)
// has no producers.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

func init() {
	register(apiEntry{key: kmsg.DescribeProducers, min: 0, max: 0, handle: h((*Broker).handleDescribeProducers), authz: hook(authzDescribeProducers)})
}

func (b *Broker) handleDescribeProducers(_ context.Context, req *kmsg.DescribeProducersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		for _, idx := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = idx
			var p *partition.Partition
			if t != nil {
				p = t.partition(idx)
			}
			if p == nil && t == nil && b.presentedPartition(rt.Topic, idx) {
				// __consumer_offsets (presented, internaltopics.go): no producers, as
				// kafka-transactions find-hanging expects of every partition it lists.
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, e := range p.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch, ap.LastTimestamp = e.ProducerID, int32(e.Epoch), e.LastSeen
				ap.LastSequence, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = e.LastSeq(), -1, -1
				if e.InTxn {
					ap.CurrentTxnStartOffset = e.TxnFirstOffset
				}
				if n := len(e.Batches); n > 0 {
					ap.LastTimestamp = e.Batches[n-1].MaxTimestamp
				}
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func authzDescribeProducers(b *Broker, ctx context.Context, req *kmsg.DescribeProducersRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.DescribeProducersRequestTopic) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationRead, t.Topic)
	})
	req.Topics = keep
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.DescribeProducersResponse)
	for _, t := range denied {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = t.Topic
		for _, idx := range t.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition, sp.ErrorCode = idx, kerr.TopicAuthorizationFailed.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
