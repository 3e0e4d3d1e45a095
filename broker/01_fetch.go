package broker

// Fetch (API key 1), versions 4-18. v13+ names topics by ID (unknown: UNKNOWN_TOPIC_ID).
//
// Behaviour, per Kafka:
//   - Records are the stored batch bytes, starting with the batch that contains the fetch
//     offset (clients skip records below it). Local reads copy from the segment file
//     into pooled buffers the connection takes back once the response is written, or on
//     plaintext TCP stay in the file and are written with sendfile (recordbufs.go);
//     offsets below the local log start are read from the remote tier, whose batches are
//     sent from the cached chunks they lie in without a copy (partition/remote.go).
//   - Byte limits follow KIP-74: partitions are filled in request order; each gets at most
//     its PartitionMaxBytes and what is left of the response's MaxBytes, except that the
//     first partition with data returns its first batch whole even if it is larger, so a
//     consumer can always make progress.
//   - Long poll: if fewer than MinBytes are available, the fetch subscribes to every
//     partition it reads, and waits (holding no lock) for an append, MaxWaitMillis or the
//     connection to close, then reads again.
//   - Remote reads of several partitions run concurrently, in the background: a fetch
//     waits for them at most partition.RemoteFetchMaxWait (not at all when a local partition of
//     the same fetch already has records and MinBytes <= 1) and otherwise answers those
//     partitions empty (the client refetches and joins the same read), so a slow bucket
//     never holds up local partitions or other clients. A bucket error is
//     KAFKA_STORAGE_ERROR (retriable) for that partition.
//   - Offsets outside [log start, high watermark] are OFFSET_OUT_OF_RANGE, except below the
//     local start of a tiered partition whose manifest is not loaded yet: the offset may be
//     in the bucket, so that is KAFKA_STORAGE_ERROR (retriable). Leader epoch is
//     always 0: a CurrentLeaderEpoch above it is UNKNOWN_LEADER_EPOCH.
//   - Fetch sessions (KIP-227): fetchsession.go turns an incremental fetch into a read of
//     its session's partitions and keeps only the changed ones in the response.
//   - isolation_level=read_committed reads below the last stable offset and lists the
//     aborted transactions of the records returned (fetch_txn.go).

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

func init() {
	register(apiEntry{key: kmsg.Fetch, min: 4, max: 18, handle: h((*Broker).handleFetch), authz: hook(authzFetch)})
}

// Fetch versions served.
const (
	fetchMinVersion = 4
	fetchMaxVersion = 18
)

// fetchPart is one requested partition of a fetch, resolved.
type fetchPart struct {
	p   *partition.Partition // nil when err is set up front
	err error                // topic/partition resolution error
	rp  *kmsg.FetchRequestTopicPartition
	sp  *kmsg.FetchResponseTopicPartition
}

func (b *Broker) handleFetch(ctx context.Context, req *kmsg.FetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	fc, sreq, code := b.fetchSessions.beginFetch(b, ctx, req) // fetchsession.go
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	req = sreq // an incremental fetch reads every partition of its session; read only (shared)
	defer fc.finish(req, resp)

	// Resolve every topic and partition once.
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	parts := make([]fetchPart, 0, n)
	uniq := make([]*partition.Partition, 0, n)
	seen := make(map[*partition.Partition]bool, n)
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *Topic
		var terr error
		if req.Version >= 13 {
			if t = b.lookupTopicID(rt.TopicID); t == nil {
				terr = errUnknownTopicID
			} else {
				st.Topic = t.Name
			}
		} else if t = b.lookupTopic(rt.Topic); t == nil {
			terr = errUnknownTopic
		}
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			fp := fetchPart{rp: rp, sp: sp, err: terr}
			if terr == nil {
				if fp.p = topicPartition(t, rp.Partition); fp.p == nil {
					fp.err = errUnknownTopic
				} else if err := b.leaderCheck(t.Name, rp.Partition, rp.CurrentLeaderEpoch); err != nil { // clusterview.go
					fp.err = err
				} else if !seen[fp.p] {
					seen[fp.p] = true
					uniq = append(uniq, fp.p)
				}
			}
			parts = append(parts, fp)
		}
	}

	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	deadline := time.Now().Add(maxWait)
	var wake chan struct{}
	defer func() {
		if wake != nil {
			for _, p := range uniq {
				p.Unsubscribe(wake)
			}
		}
	}()

	for {
		total, stop := b.fillFetch(ctx, req, parts)
		remaining := time.Until(deadline)
		if stop || total >= int(req.MinBytes) || remaining <= 0 || ctx.Err() != nil || len(uniq) == 0 {
			break
		}
		if wake == nil {
			// Subscribe, then read once more before sleeping: an append that landed
			// between the read above and the subscription must not be missed.
			wake = make(chan struct{}, 1)
			for _, p := range uniq {
				p.Subscribe(wake)
			}
			continue
		}
		timer := time.NewTimer(remaining)
		waitStart := time.Now()
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		addQuotaWait(ctx, time.Since(waitStart)) // not handler time for request quotas (quota_conn.go)
	}
	return resp, nil
}

// fillFetch (re)builds every partition's answer and returns the record bytes gathered.
// stop is true when some partition has an error, which Kafka answers at once, or a remote
// read was involved.
func (b *Broker) fillFetch(ctx context.Context, req *kmsg.FetchRequest, parts []fetchPart) (total int, stop bool) {
	respMax := int(req.MaxBytes)
	if req.Version < 3 || respMax <= 0 {
		respMax = int(^uint32(0) >> 1)
	}

	// Reset answers from a previous pass, and start remote reads first so that they run
	// while the local partitions are copied.
	type remoteJob struct {
		fp   *fetchPart
		done chan struct{}
		data tiering.Records // slices of cached chunks (partition/remote.go)
		ok   bool
		err  error
	}
	remotes := make(map[int]*remoteJob)
	gapFrom := make(map[int]int64) // parts whose offset lies in a restore's gap: read from here
	// Remote waits end early once the local partitions alone satisfy MinBytes: the
	// background reads carry on and the client's next fetch picks them up.
	rctx, stopRemoteWaits := context.WithCancel(ctx)
	defer stopRemoteWaits()
	var wg sync.WaitGroup
	rb := recordBufsFrom(ctx) // local reads go into pooled buffers (recordbufs.go)
	for i := range parts {
		fp := &parts[i]
		sp := fp.sp
		// Records are never null: librdkafka rejects a null (-1) MessageSetSize, and Kafka
		// sends empty record sets as zero-length.
		sp.ErrorCode, sp.RecordBatches = 0, []byte{}
		if fp.err != nil {
			sp.ErrorCode = errorCode(fp.err)
			stop = true
			continue
		}
		p := fp.p
		if fp.rp.FetchOffset < p.LocalLogStartOffset() {
			b.awaitTier(ctx, p, time.Duration(req.MaxWaitMillis)*time.Millisecond) // if tier-pending after start-up
		}
		sp.HighWatermark = p.HighWatermark()
		sp.LastStableOffset = min(p.LastStableOffset(), sp.HighWatermark) // partition/txn.go
		sp.LogStartOffset = p.LogStartOffset()
		off := fp.rp.FetchOffset
		if off < sp.LogStartOffset || off > sp.HighWatermark {
			sp.ErrorCode = kerr.OffsetOutOfRange.Code
			if off < sp.LogStartOffset && b.tierPending(p) {
				// Below the local start of a tiered partition whose manifest is not
				// loaded yet (bucket unreachable at start-up): the offset may well be in
				// the bucket, so answer retriably rather than make the client reset.
				sp.ErrorCode = errRemoteRead.Code
			}
			stop = true
			continue
		}
		if p.HasTier() && off < p.LocalLogStartOffset() {
			if p.InRestoreGap(off) {
				// Past the bucket's end but below the local start: offsets a restore
				// skipped (acknowledged before the disk was lost, never uploaded; see
				// tiering/watermark.go). The answer starts at the local start, as
				// Kafka's does after a compacted gap.
				gapFrom[i] = p.LocalLogStartOffset()
				continue
			}
			// A fetch that went to the bucket answers as soon as the read is done (or
			// partition.RemoteFetchMaxWait passed), as Kafka's delayed remote fetch does.
			stop = true
			j := &remoteJob{fp: fp, done: make(chan struct{})}
			remotes[i] = j
			maxBytes := int(fp.rp.PartitionMaxBytes)
			wg.Go(func() {
				defer close(j.done)
				// minOneBatch: a remote partition's first batch is kept whole; the
				// response limit is enforced when the answers are assembled below.
				j.data, j.ok, j.err = p.ReadRemote(rctx, off, maxBytes, true, partition.RemoteFetchMaxWait)
			})
		}
	}
	defer wg.Wait()

	if len(remotes) > 0 && req.MinBytes <= 1 {
		// Some local partition has records past its fetch offset: the response is
		// worth sending now, so do not hold it for the bucket.
		for i := range parts {
			fp := &parts[i]
			if _, remote := remotes[i]; !remote && fp.err == nil && fp.sp.ErrorCode == 0 &&
				fp.sp.HighWatermark > fp.rp.FetchOffset {
				stopRemoteWaits()
				break
			}
		}
	}

	for i := range parts {
		fp := &parts[i]
		if fp.err != nil || fp.sp.ErrorCode != 0 {
			continue
		}
		sp := fp.sp
		limit := min(int(fp.rp.PartitionMaxBytes), respMax-total)
		if limit < 0 {
			limit = 0
		}
		minOne := total == 0
		var (
			data   []byte
			sec    *recordSection // records left where they are until written (recordbufs.go)
			err    error
			source = "local"
		)
		if j, ok := remotes[i]; ok {
			<-j.done
			source = "remote"
			err = j.err
			if recs := j.data.Trim(limit, minOne); err == nil && j.ok && recs.Len() > 0 {
				if rb != nil {
					sec = &recordSection{bufs: recs.Bufs, n: int64(recs.Len())}
				} else {
					data = recordBytes(recs)
				}
				fp.p.CountRemoteFetch(recs.Len())
				if req.IsolationLevel == 1 { // fetch_txn.go
					data, sec = remoteCommitted(fp.p, fp.rp.FetchOffset, recs, data, sec, sp)
				}
			}
			if err != nil && !errors.Is(err, segment.ErrOffsetOutOfRange) {
				b.metrics().remoteErrors.Inc()
			}
		} else {
			if limit == 0 && !minOne {
				continue
			}
			var local bool
			off := fp.rp.FetchOffset
			if from, ok := gapFrom[i]; ok {
				off = from
			}
			if req.IsolationLevel == 1 {
				var alloc func(int) []byte
				if rb != nil {
					alloc = rb.get
				}
				data, local, err = readCommittedLocal(fp.p, off, limit, minOne, alloc, sp.LastStableOffset, sp) // fetch_txn.go
			} else if rb.spliceable() {
				sec, data, local, err = readLocalSection(fp.p, off, limit, minOne)
			} else if rb != nil {
				data, local, err = fp.p.ReadLocal(off, limit, minOne, rb.get)
			} else {
				data, local, err = fp.p.ReadLocal(off, limit, minOne, nil)
			}
			if err == nil && !local {
				// Retention moved the local start past the offset since we checked; the
				// client retries and then reads from the tier (or gets out of range).
				data, sec = nil, nil
			}
		}
		if err != nil {
			if !errors.Is(err, segment.ErrOffsetOutOfRange) {
				b.logger.Debug("fetch read failed", "topic", fp.p.Topic(), "partition", fp.p.Index(),
					"offset", fp.rp.FetchOffset, "err", err)
			}
			sp.ErrorCode = errorCode(err)
			stop = true
			continue
		}
		n := len(data)
		if sec != nil {
			// Only the n bytes the log reported (below its end at this read) are sent.
			sp.RecordBatches, n = rb.mark(sec), int(sec.n)
		} else if data != nil {
			sp.RecordBatches = data
		}
		if sec != nil || data != nil {
			b.metrics().fetchBytes.WithLabelValues(source).Add(float64(n))
		}
		total += n
	}
	return total, stop
}

func authzFetch(b *Broker, ctx context.Context, req *kmsg.FetchRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	keep, denied := split(req.Topics, func(t kmsg.FetchRequestTopic) bool {
		name, ok := b.topicNameOrID(t.Topic, t.TopicID)
		return !ok || b.topicAllowed(ctx, kmsg.ACLOperationRead, name)
	})
	if len(denied) == 0 {
		return next(req)
	}
	req.Topics = keep
	r, err := next(req)
	if err != nil || r == nil {
		return r, err
	}
	// A response that writes itself (zero-copy) must be a *kmsg.FetchResponse underneath
	// for denied topics to be reported; anything else is a bug caught by the e2e tests.
	resp, ok := r.(*kmsg.FetchResponse)
	if !ok || resp.ErrorCode != 0 {
		return r, nil
	}
	for _, t := range denied {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
