package broker

// ShareFetch (key 78, KIP-932), v1-v2 (v0 was Kafka 4.0's early access, dropped in 4.1):
// share sessions, acknowledgements piggybacked on the fetch, and acquisition of records
// for the member (broker/share). Records are read through the partition's normal read
// path, so tiered data is served from the bucket. Needs READ on the group and the topics.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/share"
)

func init() {
	register(apiEntry{key: kmsg.ShareFetch, min: 1, max: 2, handle: h((*Broker).handleShareFetch), authz: hook(authzShareFetch)})
}

// shareDefaultMaxRecords is what a fetch without MaxRecords (v0 semantics) acquires.
const shareDefaultMaxRecords = 500

// shareAckCode maps an acknowledgement error to its Kafka code.
func shareAckCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, share.ErrInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, share.ErrInvalidRecordState):
		return kerr.InvalidRecordState.Code
	}
	return kerr.UnknownServerError.Code
}

// shareResp collects partition answers by topic id, in first-seen order.
type shareResp[P any] struct {
	order []share.TP
	parts map[share.TP]*P
	init  func(int32) P
}

func newShareResp[P any](init func(int32) P) *shareResp[P] {
	return &shareResp[P]{parts: make(map[share.TP]*P), init: init}
}

func (r *shareResp[P]) get(tp share.TP) *P {
	p := r.parts[tp]
	if p == nil {
		v := r.init(tp.Partition)
		p = &v
		r.parts[tp] = p
		r.order = append(r.order, tp)
	}
	return p
}

func (b *Broker) handleShareFetch(ctx context.Context, req *kmsg.ShareFetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	resp.AcquisitionLockTimeoutMillis = int32(b.shares.LockDuration() / time.Millisecond)
	if req.GroupID == nil || req.MemberID == nil || *req.GroupID == "" || *req.MemberID == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	groupID, memberID := *req.GroupID, *req.MemberID
	var add, forget []share.TP
	hasAcks := false
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			add = append(add, share.TP{Topic: rt.TopicID, Partition: rp.Partition})
			hasAcks = hasAcks || len(rp.AcknowledgementBatches) > 0
		}
	}
	for _, ft := range req.ForgottenTopicsData {
		for _, p := range ft.Partitions {
			forget = append(forget, share.TP{Topic: ft.TopicID, Partition: p})
		}
	}
	if req.ShareSessionEpoch == 0 && hasAcks {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	sessParts, serr := b.shares.Session(ctx, groupID, memberID, req.ShareSessionEpoch, add, forget, true)
	if serr != nil {
		resp.ErrorCode = serr.Code
		return resp, nil
	}
	out := newShareResp(func(p int32) kmsg.ShareFetchResponseTopicPartition {
		sp := kmsg.NewShareFetchResponseTopicPartition()
		sp.Partition, sp.Records = p, []byte{}
		return sp
	})
	// Acknowledgements first: a fetch may then acquire the records they released.
	if hasAcks {
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				if len(rp.AcknowledgementBatches) == 0 {
					continue
				}
				tp := share.TP{Topic: rt.TopicID, Partition: rp.Partition}
				batches := make([]share.AckBatch, len(rp.AcknowledgementBatches))
				for i, ab := range rp.AcknowledgementBatches {
					batches[i] = share.AckBatch{First: ab.FirstOffset, Last: ab.LastOffset, Types: ab.AcknowledgeTypes}
				}
				out.get(tp).AcknowledgeErrorCode = shareAckCode(b.shares.Ack(groupID, memberID, tp, batches))
			}
		}
		if err := b.shares.Sync(ctx); err != nil {
			for _, tp := range out.order {
				if sp := out.get(tp); sp.AcknowledgeErrorCode == 0 {
					sp.AcknowledgeErrorCode = kerr.KafkaStorageError.Code
				}
			}
		}
	}
	if req.ShareSessionEpoch == -1 {
		b.shares.CloseSession(groupID, memberID)
	} else if !req.IsRenewAck { // a renew-only request (KIP-1222) acquires nothing

		if req.ShareSessionEpoch == 0 {
			for _, tp := range sessParts {
				out.get(tp) // a full fetch answers every partition of the session
			}
		}
		b.shareAcquire(ctx, req, groupID, memberID, sessParts, out)
	}
	for _, tp := range out.order {
		n := len(resp.Topics)
		if n == 0 || resp.Topics[n-1].TopicID != tp.Topic {
			st := kmsg.NewShareFetchResponseTopic()
			st.TopicID = tp.Topic
			resp.Topics = append(resp.Topics, st)
			n++
		}
		resp.Topics[n-1].Partitions = append(resp.Topics[n-1].Partitions, *out.get(tp))
	}
	return resp, nil
}

// shareAcquire reads and acquires records of the session's partitions for the member,
// waiting up to MaxWaitMillis for some.
func (b *Broker) shareAcquire(ctx context.Context, req *kmsg.ShareFetchRequest, groupID, memberID string, parts []share.TP, out *shareResp[kmsg.ShareFetchResponseTopicPartition]) {
	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = shareDefaultMaxRecords
	}
	respMax := int(req.MaxBytes)
	if respMax <= 0 {
		respMax = 1 << 30
	}
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	wake := make(chan struct{}, 1)
	for _, tp := range parts {
		if p := b.sharePartition(tp); p != nil {
			p.Subscribe(wake)
			defer p.Unsubscribe(wake)
		}
	}
	got, total := 0, 0
	for {
		for _, tp := range parts {
			if got >= maxRecords || total >= respMax {
				break
			}
			p := b.sharePartition(tp)
			if p == nil {
				out.get(tp).ErrorCode = kerr.UnknownTopicID.Code
				continue
			}
			off, ok := b.shares.ReadOffset(groupID, tp)
			if !ok {
				continue
			}
			data, batches, err := b.shareRead(ctx, p, off, respMax-total)
			if err != nil {
				b.logger.Debug("share fetch read failed", "topic", p.Topic(), "partition", p.Index(), "offset", off, "err", err)
				out.get(tp).ErrorCode = errorCode(err)
				continue
			}
			acq := b.shares.Acquire(groupID, memberID, tp, batches, maxRecords-got)
			if len(acq) == 0 {
				continue
			}
			// Send the batches from the first to the last holding an acquired record.
			from, to, pos := -1, 0, 0
			for _, bt := range batches {
				size := batchSize(data[pos:])
				for _, a := range acq {
					if a.First <= bt.Last && a.Last >= bt.First {
						if from < 0 {
							from = pos
						}
						to = pos + size
						break
					}
				}
				pos += size
			}
			sp := out.get(tp)
			sp.Records = append(sp.Records, data[from:to]...)
			for _, a := range acq {
				ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
				ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = a.First, a.Last, a.DeliveryCount
				sp.AcquiredRecords = append(sp.AcquiredRecords, ar)
				got += int(a.Last - a.First + 1)
			}
			total += to - from
		}
		wait := time.Until(deadline)
		if got > 0 || wait <= 0 || ctx.Err() != nil {
			return
		}
		// Wait for new records, or a lock to expire (checked every 100ms).
		t := time.NewTimer(min(wait, 100*time.Millisecond))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// batchSize returns the size of the record batch at the start of b.
func batchSize(b []byte) int {
	if len(b) < 12 {
		return len(b)
	}
	return 12 + int(uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11]))
}

// authzShareFetch needs READ on the group, and READ on each topic: the partitions of other
// topics are answered TOPIC_AUTHORIZATION_FAILED and neither join the session nor have
// their acknowledgements applied.
func authzShareFetch(b *Broker, ctx context.Context, req *kmsg.ShareFetchRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if req.GroupID == nil || !b.groupAllowed(ctx, kmsg.ACLOperationRead, *req.GroupID) {
		resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	var denied []kmsg.ShareFetchRequestTopic
	req.Topics, denied = split(req.Topics, func(rt kmsg.ShareFetchRequestTopic) bool { return b.shareTopicAllowed(ctx, rt.TopicID) })
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.ShareFetchResponse)
	for _, rt := range denied {
		st := kmsg.NewShareFetchResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewShareFetchResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.Records = rp.Partition, kerr.TopicAuthorizationFailed.Code, []byte{}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// shareTopicAllowed reports whether the principal may READ the topic of id (an unknown id
// is allowed through: the handler answers UNKNOWN_TOPIC_ID).
func (b *Broker) shareTopicAllowed(ctx context.Context, id [16]byte) bool {
	t := b.lookupTopicID(id)
	return t == nil || b.topicAllowed(ctx, kmsg.ACLOperationRead, t.Name)
}
