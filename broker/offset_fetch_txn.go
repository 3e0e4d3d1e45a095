package broker

// OffsetFetch with require_stable (v7+): a partition whose group has an offset committed
// in a transaction that has not completed answers UNSTABLE_OFFSET_COMMIT (offset -1), as
// Kafka does, so the consumer retries once the transaction is over.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/txn"
)

func (b *Broker) markUnstableOffsets(req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse) {
	mark := func(pending map[txn.TP]bool, topic string, part int32, off *int64, code *int16) {
		if pending[txn.TP{Topic: topic, Partition: part}] && *code == 0 {
			*off, *code = -1, kerr.UnstableOffsetCommit.Code
		}
	}
	if req.Version < 8 {
		pending := b.txns.PendingOffsets(req.Group)
		if pending == nil {
			return
		}
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				p := &t.Partitions[j]
				mark(pending, t.Topic, p.Partition, &p.Offset, &p.ErrorCode)
			}
		}
		return
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		pending := b.txns.PendingOffsets(g.Group)
		if pending == nil {
			continue
		}
		for i := range g.Topics {
			t := &g.Topics[i]
			name := t.Topic
			if name == "" {
				if n, ok := b.topicNameOrID(t.Topic, t.TopicID); ok {
					name = n
				}
			}
			for j := range t.Partitions {
				p := &t.Partitions[j]
				mark(pending, name, p.Partition, &p.Offset, &p.ErrorCode)
			}
		}
	}
}
