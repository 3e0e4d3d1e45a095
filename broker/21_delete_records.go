package broker

// DeleteRecords (API key 21), versions 0-2.
//
// Raises a partition's log start offset to Offset (-1 = the high watermark); records below
// it can no longer be read and whole segments below it are deleted, remote ones included
// (the tier's manifest is moved first, then the local log). An offset above the high
// watermark is OFFSET_OUT_OF_RANGE; one at or below the current log start changes
// nothing. The answer's LowWatermark is the log start offset afterwards. TimeoutMillis
// bounds the remote part; a bucket failure is KAFKA_STORAGE_ERROR and leaves the local
// log untouched, as does a tiered partition whose tier is not attached yet (tierPending).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

func init() {
	register(apiEntry{key: kmsg.DeleteRecords, min: 0, max: 2, handle: h((*Broker).handleDeleteRecords), authz: hook(authzDeleteRecords)})
}

const (
	deleteRecordsMinVersion = 0
	deleteRecordsMaxVersion = 2
)

func (b *Broker) handleDeleteRecords(ctx context.Context, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	if req.TimeoutMillis > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond)
		defer cancel()
	}
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			var p *partition.Partition
			if t != nil {
				p = topicPartition(t, rp.Partition)
			}
			if p == nil {
				sp.ErrorCode = errUnknownTopic.Code
				continue
			}
			off := rp.Offset
			hw := p.HighWatermark()
			if off == -1 {
				off = hw
			}
			if off < 0 || off > hw {
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
				continue
			}
			if !b.awaitTier(ctx, p, tierAwaitMax) {
				// The tier is not attached yet (after start-up, or the bucket is
				// unreachable): the remote log start cannot move, and records below the
				// local start would be readable again once it attaches. Retriable.
				sp.ErrorCode = errRemoteRead.Code
				continue
			}
			low, err := p.DeleteRecords(ctx, off)
			if err != nil {
				b.logger.Warn("delete records failed", "topic", t.Name, "partition", rp.Partition, "offset", off, "err", err)
				sp.ErrorCode = errorCode(err)
				continue
			}
			sp.LowWatermark = low
		}
	}
	return resp, nil
}

func authzDeleteRecords(b *Broker, ctx context.Context, req *kmsg.DeleteRecordsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.DeleteRecordsRequestTopic) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationDelete, t.Topic)
	})
	req.Topics = keep
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.DeleteRecordsResponse)
	for _, t := range denied {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LowWatermark = -1
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
