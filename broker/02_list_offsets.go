package broker

// ListOffsets (API key 2), versions 1-11.
//
// Special timestamps (Kafka's ListOffsetsRequest constants):
//
//	-1 latest            high watermark; with isolation level read_committed (1), the
//	                     last stable offset (and a timestamp lookup that lands at or past
//	                     it finds nothing, as in Kafka)
//	-2 earliest          log start offset, remote data included
//	-3 max timestamp     (v7+) offset and timestamp of the record with the largest timestamp
//	-4 earliest local    (v8+, KIP-405) first offset on local disk
//	-5 latest tiered     (v9+, KIP-1005) last offset in remote storage; -1 if none
//	-6 earliest pending  (v11+, KIP-1023) first offset not yet uploaded; -1 without tiering
//
// A timestamp >= 0 answers the first record whose timestamp is >= it (and whose offset is
// >= the log start): the remote tier is asked first when it holds data older than the
// local log, then the local time index; the batch found is decompressed and walked to
// the exact record. No such record: offset -1, timestamp -1, no error. TimeoutMillis
// (v10+) bounds the remote lookup. The max-timestamp lookup covers the local log only.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

func init() {
	register(apiEntry{key: kmsg.ListOffsets, min: 1, max: 11, handle: h((*Broker).handleListOffsets), authz: hook(authzListOffsets)})
}

const (
	listOffsetsMinVersion = 1
	listOffsetsMaxVersion = 11
)

func (b *Broker) handleListOffsets(ctx context.Context, req *kmsg.ListOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	if req.Version >= 10 && req.TimeoutMillis > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond)
		defer cancel()
	}
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		t := b.lookupTopic(rt.Topic)
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			var p *partition.Partition
			if t != nil {
				p = topicPartition(t, rp.Partition)
			}
			if p == nil {
				sp.ErrorCode = errUnknownTopic.Code
				continue
			}
			if err := b.leaderCheck(rt.Topic, rp.Partition, rp.CurrentLeaderEpoch); err != nil { // clusterview.go
				sp.ErrorCode = errorCode(err)
				continue
			}
			if b.listOffsetNeedsTier(p, rp.Timestamp) && !b.awaitTier(ctx, p, tierAwaitMax) {
				sp.ErrorCode = errRemoteRead.Code // see list_offsets_tier.go
				continue
			}
			off, ts, err := p.ListOffset(ctx, rp.Timestamp)
			if err == nil && req.IsolationLevel == 1 {
				off, ts = readCommittedOffset(p, rp.Timestamp, off, ts) // list_offsets_txn.go
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				continue
			}
			sp.Offset, sp.Timestamp = off, ts
			if off >= 0 {
				sp.LeaderEpoch = 0
			}
			if req.Version == 0 {
				sp.OldStyleOffsets = []int64{off}
			}
		}
	}
	return resp, nil
}

func authzListOffsets(b *Broker, ctx context.Context, req *kmsg.ListOffsetsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.ListOffsetsRequestTopic) bool {
		return b.topicAllowed(ctx, kmsg.ACLOperationDescribe, t.Topic)
	})
	req.Topics = keep
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.ListOffsetsResponse)
	for _, t := range denied {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
