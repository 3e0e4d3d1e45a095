package broker

// Produce (API key 0), versions 3-13: record batches of magic 2 only (v0-v2 carry the
// older message formats, which Strata does not store). v13 names topics by ID.
//
// Behaviour, per Kafka:
//   - Every partition's batch is validated (one v2 batch per partition; size against
//     max.message.bytes; header and CRC-32C by segment) and appended before any waiting,
//     so acks=-1 requests of many partitions share their fsyncs (group commit in segment).
//   - acks=1 answers once the batch is in the log (visible to consumers); acks=-1 also
//     waits until it is fsynced, at most TimeoutMillis (then REQUEST_TIMED_OUT; the batch
//     stays written, as in Kafka). The batch is visible at once either way, but the fetches
//     long-polling its partition are woken only after the fsync of an acks=-1 batch (or
//     its failure), so that a tailing consumer's fetch, response and next request do not
//     compete with the fsync the producer's acknowledgement waits for; see
//     wakeAfterDurable. The connection worker appends the connection's next
//     produce requests during that wait and still answers in order (produce_pipeline.go).
//     acks=0 sends no response; on any partition error the connection is closed so that
//     the client refreshes metadata.
//   - Unknown topics are auto-created when auto.create.topics.enable (v0-v12 only; a
//     topic ID cannot be created). message.timestamp.type=LogAppendTime rewrites the
//     batch's timestamp and the response carries it.
//   - Idempotent batches pass through the partition's producer state under its write lock
//     (duplicates answer the original offsets). Transactional batches are first verified
//     with the transaction coordinator (KIP-890 part 1, txns.go).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

func init() {
	register(apiEntry{key: kmsg.Produce, min: 3, max: 13, handle: h((*Broker).handleProduce), authz: hook(authzProduce)})
}

// Produce versions served.
const (
	produceMinVersion = 3
	produceMaxVersion = 13
)

func (b *Broker) handleProduce(ctx context.Context, req *kmsg.ProduceRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	now := time.Now()
	validAcks := req.Acks == 0 || req.Acks == 1 || req.Acks == -1

	type durableWait struct {
		p      *partition.Partition
		offset int64
		rp     *kmsg.ProduceResponseTopicPartition
	}
	var waits []durableWait
	anyErr := false
	m := b.metrics()

	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		resp.Topics = append(resp.Topics, kmsg.ProduceResponseTopic{Topic: rt.Topic, TopicID: rt.TopicID})
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))

		var (
			t       *Topic
			topicEr error
		)
		switch {
		case !validAcks:
			topicEr = kerr.InvalidRequiredAcks
		case req.Version >= 13:
			if t = b.lookupTopicID(rt.TopicID); t == nil {
				topicEr = errUnknownTopicID
				if it := b.internalTopicByID(rt.TopicID); it != nil {
					topicEr = errInternalTopicAppend(it.Name) // internaltopics.go
				}
			}
		default:
			t, topicEr = b.produceTopic(ctx, rt.Topic)
		}

		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			fail := func(err error) {
				anyErr = true
				m.produceErrors.Inc()
				sp.ErrorCode = errorCode(err)
				sp.BaseOffset = -1
				if req.Version >= 8 {
					sp.ErrorMessage = errorMessage(err)
				}
			}
			if topicEr != nil {
				fail(topicEr)
				continue
			}
			p := topicPartition(t, rp.Partition)
			if p == nil {
				fail(errUnknownTopic)
				continue
			}
			if err := b.leaderCheck(t.Name, rp.Partition, -1); err != nil { // clusterview.go
				fail(err)
				continue
			}
			cfg := t.Config()
			h, err := validateBatch(rp.Records, cfg, now)
			if err == nil {
				err = checkKeys(rp.Records, h, cfg, t.Name, rp.Partition, sp, req.Version) // cleaner.go
			}
			if err != nil {
				fail(err)
				continue
			}
			if err := b.checkDiskBudget(); err != nil { // diskbudget.go
				fail(err)
				continue
			}
			res, err := p.AppendChecked(rp.Records, h, now, !wakeAfterDurable || req.Acks != -1,
				b.txnProduceCheck(req.TransactionID, h, t.Name, rp.Partition)) // txns.go
			if err == nil && !res.Duplicate {
				b.diskAppended(len(rp.Records))
			}
			if err != nil {
				b.logger.Debug("produce append failed", "topic", t.Name, "partition", rp.Partition, "err", err)
				fail(err)
				continue
			}
			if !res.Duplicate {
				m.produceBytes.Add(float64(len(rp.Records)))
				m.produceRecords.Add(float64(res.Info.NumRecords))
			}
			sp.BaseOffset = res.Info.BaseOffset
			if cfg.MessageTimestampType == "LogAppendTime" {
				sp.LogAppendTime = res.Info.MaxTimestamp
			}
			sp.LogStartOffset = p.LogStartOffset()
			if req.Acks == -1 {
				waits = append(waits, durableWait{p, res.Info.LastOffset + 1, sp})
			}
		}
	}

	if len(waits) > 0 {
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		errs := make([]error, len(waits))
		run := func() {
			wctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			waitStart := time.Now()
			if len(waits) == 1 {
				errs[0] = waits[0].p.WaitDurable(wctx, waits[0].offset)
			} else {
				var wg sync.WaitGroup
				for i, w := range waits {
					wg.Go(func() { errs[i] = w.p.WaitDurable(wctx, w.offset) })
				}
				wg.Wait()
			}
			m.durableWait.Observe(time.Since(waitStart).Seconds())
			if wakeAfterDurable {
				for _, w := range waits {
					w.p.WakeFetches()
				}
			}
		}
		apply := func() {
			for i, err := range errs {
				if err != nil {
					m.produceErrors.Inc()
					sp := waits[i].rp
					sp.ErrorCode = errorCode(err)
					sp.BaseOffset = -1
					sp.LogAppendTime = -1
					if req.Version >= 8 {
						sp.ErrorMessage = errorMessage(err)
					}
				}
			}
		}
		// The connection worker may take the waits over and append its next produce
		// requests meanwhile (produce_pipeline.go).
		deferProduce(ctx, run, apply)
	}

	if req.Acks == 0 {
		if anyErr {
			return nil, errors.New("broker: produce with acks=0 failed; closing the connection")
		}
		return nil, nil
	}
	return resp, nil
}

// wakeAfterDurable makes an acks=-1 produce wake the fetches waiting for its partitions
// once its durability waits returned instead of right after the append (handleProduce).
// The trade: the producer's acknowledgement does not share the CPU with the consumers it
// would wake, and a tailing consumer sees an acks=-1 record about when its producer learns
// that it is safe, not earlier.
const wakeAfterDurable = true

// produceTopic resolves a produce target by name, auto-creating it when allowed.
func (b *Broker) produceTopic(ctx context.Context, name string) (*Topic, error) {
	if t := b.lookupTopic(name); t != nil {
		return t, nil
	}
	if isInternalTopic(name) {
		return nil, errInternalTopicAppend(name) // internaltopics.go
	}
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	t, err := b.maybeAutoCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, errUnknownTopic
	}
	return t, nil
}

// topicPartition returns partition idx of t, or nil.
func topicPartition(t *Topic, idx int32) *partition.Partition { return t.partition(idx) }

// validateBatch checks what the broker decides before the log sees a produced batch (the
// log then checks the header fields and CRC-32C):
//   - exactly one batch, of magic 2 (older formats: UNSUPPORTED_FOR_MESSAGE_FORMAT);
//   - its size at most max.message.bytes (MESSAGE_TOO_LARGE);
//   - not a control batch (only transaction coordinators write those: INVALID_RECORD);
//   - with CreateTime, timestamps within message.timestamp.before/after.max.ms of now
//     (INVALID_TIMESTAMP), checked on the batch's first and max timestamps.
func validateBatch(records []byte, cfg TopicConfig, now time.Time) (segment.BatchHeader, error) {
	if len(records) == 0 {
		return segment.BatchHeader{}, fmt.Errorf("%w: empty records", kerr.InvalidRecord)
	}
	h, err := segment.DecodeBatchHeader(records)
	switch {
	case err != nil && len(records) < segment.BatchPrefixSize:
		return h, fmt.Errorf("%w: %d bytes is shorter than a batch header", kerr.CorruptMessage, len(records))
	case h.Magic < 2:
		return h, fmt.Errorf("%w: magic %d", kerr.UnsupportedForMessageFormat, h.Magic)
	case h.Magic > 2:
		return h, fmt.Errorf("%w: unknown magic %d", kerr.CorruptMessage, h.Magic)
	case err != nil:
		return h, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
	case h.BatchLength < 0 || h.Size() > int64(len(records)):
		return h, fmt.Errorf("%w: batch length %d exceeds the %d bytes sent", kerr.CorruptMessage, h.BatchLength, len(records))
	case h.Size() < int64(len(records)):
		return h, fmt.Errorf("%w: produce requests carry exactly one record batch per partition", kerr.InvalidRecord)
	}
	if cfg.MaxMessageBytes > 0 && len(records) > int(cfg.MaxMessageBytes) {
		return h, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(records), cfg.MaxMessageBytes)
	}
	if h.Control() {
		return h, fmt.Errorf("%w: clients may not produce control batches", kerr.InvalidRecord)
	}
	if cfg.MessageTimestampType != "LogAppendTime" {
		nowMs := now.UnixMilli()
		if v := cfg.MessageTimestampBeforeMaxMs; v >= 0 && v < math.MaxInt64/2 && h.FirstTimestamp < nowMs-v {
			return h, fmt.Errorf("%w: timestamp %d is more than %d ms before now", kerr.InvalidTimestamp, h.FirstTimestamp, v)
		}
		if v := cfg.MessageTimestampAfterMaxMs; v >= 0 && v < math.MaxInt64/2 && h.MaxTimestamp > nowMs+v {
			return h, fmt.Errorf("%w: timestamp %d is more than %d ms after now", kerr.InvalidTimestamp, h.MaxTimestamp, v)
		}
	}
	return h, nil
}

func authzProduce(b *Broker, ctx context.Context, req *kmsg.ProduceRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	txnDenied := req.TransactionID != nil && !b.authorize(ctx, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *req.TransactionID)
	keep, denied := split(req.Topics, func(t kmsg.ProduceRequestTopic) bool {
		name, ok := b.topicNameOrID(t.Topic, t.TopicID)
		return !txnDenied && (!ok || b.topicAllowed(ctx, kmsg.ACLOperationWrite, name))
	})
	if len(denied) == 0 {
		return next(req)
	}
	code := kerr.TopicAuthorizationFailed.Code
	if txnDenied {
		code = kerr.TransactionalIDAuthorizationFailed.Code
	}
	var resp *kmsg.ProduceResponse
	if len(keep) > 0 {
		req.Topics = keep
		r, err := next(req)
		if err != nil {
			return r, err
		}
		if r == nil { // acks=0
			// Kafka closes an acks=0 connection whose produce failed: the client has
			// no other way to learn of it.
			return nil, fmt.Errorf("%w: acks=0 produce to unauthorized topics", errProtocol)
		}
		resp = r.(*kmsg.ProduceResponse)
	} else if req.Acks == 0 {
		return nil, fmt.Errorf("%w: acks=0 produce to unauthorized topics", errProtocol)
	} else {
		resp = req.ResponseKind().(*kmsg.ProduceResponse)
	}
	for _, t := range denied {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
