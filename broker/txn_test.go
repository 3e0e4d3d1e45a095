package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strata-io/strata/broker/txn"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering/memstore"
)

// startTxnBroker runs a broker in dir until stop (or the test's end); hook, if set, is
// the coordinator's AfterPrepare.
func startTxnBroker(t *testing.T, dir string, hook func(txn.Txn) error) (b *Broker, stop func()) {
	t.Helper()
	cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir,
		"group.initial.rebalance.delay.ms": "0", "transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.txnAfterPrepare = hook
	b, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, errBrokerClosed) { // closed before Run began
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return b, stop
}

// txnRawClient is a client for raw requests, pinned to Produce v9 (topic names) and
// OffsetFetch v7 (one group) and to the given other maximum versions (key, version pairs).
func txnRawClient(t *testing.T, b *Broker, max ...int16) *kgo.Client {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Produce.Int16(), 9)
	v.SetMaxKeyVersion(kmsg.OffsetFetch.Int16(), 7)
	for i := 0; i+1 < len(max); i += 2 {
		v.SetMaxKeyVersion(max[i], max[i+1])
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.RequestRetries(0), kgo.MaxVersions(v))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func txnCreateTopic(t *testing.T, cl *kgo.Client, name string, parts int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic %s: %v %+v", name, err, resp)
	}
}

func initTxnProducer(t *testing.T, cl *kgo.Client, id string, timeoutMs int32) (int64, int16, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, timeoutMs
	req.ProducerID, req.ProducerEpoch = -1, -1
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode
}

func addTxnPartitions(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, topic string, parts ...int32) []int16 {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

func txnProduce(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, seq int32, topic string, part int32, values ...string) int16 {
	t.Helper()
	vals := make([][]byte, len(values))
	for i, v := range values {
		vals[i] = []byte(v)
	}
	batch := segmenttest.BatchWith(segmenttest.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), TimestampStep: 1,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Transactional: true}, vals...)
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = 9, -1, 10000, &id
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = part, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// txnProduceNoID sends a transactional batch in a produce request without a
// transactional id.
func txnProduceNoID(t *testing.T, cl *kgo.Client, pid int64, epoch int16, topic string, part int32) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = part
	rp.Records = segmenttest.BatchWith(segmenttest.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), TimestampStep: 1,
		ProducerID: pid, ProducerEpoch: epoch, Transactional: true}, []byte("x"))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func endTxn(t *testing.T, cl *kgo.Client, version int16, id string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.ErrorCode
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if got != want.Code {
		t.Fatalf("%s: got %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// TestTxnBadInput sends the transaction APIs what a broken or fenced client would and
// checks Kafka's error codes.
func TestTxnBadInput(t *testing.T) {
	b, _ := startTxnBroker(t, t.TempDir(), nil)
	cl := txnRawClient(t, b)
	txnCreateTopic(t, cl, "bad", 2)

	wantCode(t, "EndTxn without InitProducerId", endTxn(t, cl, 3, "nobody", 5, 0, true), kerr.InvalidProducerIDMapping)
	_, _, code := initTxnProducer(t, cl, "bad-1", 16*60*1000)
	wantCode(t, "InitProducerId with 16 min timeout", code, kerr.InvalidTransactionTimeout)
	_, _, code = initTxnProducer(t, cl, "bad-1", 0)
	wantCode(t, "InitProducerId with timeout 0", code, kerr.InvalidTransactionTimeout)
	pid, epoch, code := initTxnProducer(t, cl, "bad-1", 60000)
	wantCode(t, "InitProducerId", code, nil0)
	wantCode(t, "EndTxn with nothing begun", endTxn(t, cl, 3, "bad-1", pid, epoch, true), kerr.InvalidTxnState)

	codes := addTxnPartitions(t, cl, "bad-1", pid, epoch, "missing", 0)
	wantCode(t, "AddPartitionsToTxn unknown topic", codes[0], kerr.UnknownTopicOrPartition)
	codes = addTxnPartitions(t, cl, "bad-1", pid, epoch, "bad", 0, 7)
	wantCode(t, "AddPartitionsToTxn known partition beside an unknown one", codes[0], kerr.OperationNotAttempted)
	wantCode(t, "AddPartitionsToTxn unknown partition", codes[1], kerr.UnknownTopicOrPartition)

	wantCode(t, "transactional produce before AddPartitionsToTxn", txnProduce(t, cl, "bad-1", pid, epoch, 0, "bad", 0, "x"), kerr.InvalidTxnState)
	wantCode(t, "transactional batch without a transactional id", txnProduceNoID(t, cl, pid, epoch, "bad", 0), kerr.TransactionalIDAuthorizationFailed)
	codes = addTxnPartitions(t, cl, "bad-1", pid, epoch, "bad", 0)
	wantCode(t, "AddPartitionsToTxn", codes[0], nil0)
	wantCode(t, "transactional produce", txnProduce(t, cl, "bad-1", pid, epoch, 0, "bad", 0, "a", "b"), nil0)
	wantCode(t, "transactional produce to a partition not added", txnProduce(t, cl, "bad-1", pid, epoch, 0, "bad", 1, "x"), kerr.InvalidTxnState)
	codes = addTxnPartitions(t, cl, "bad-1", pid, epoch+1, "bad", 1)
	wantCode(t, "AddPartitionsToTxn with a future epoch", codes[0], kerr.ProducerFenced)

	// DescribeProducers shows the open transaction; DescribeTransactions its partitions.
	dp := kmsg.NewPtrDescribeProducersRequest()
	dpt := kmsg.NewDescribeProducersRequestTopic()
	dpt.Topic, dpt.Partitions = "bad", []int32{0}
	dp.Topics = append(dp.Topics, dpt)
	dpr, err := dp.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if aps := dpr.Topics[0].Partitions[0].ActiveProducers; len(aps) != 1 || aps[0].ProducerID != pid || aps[0].CurrentTxnStartOffset != 0 {
		t.Fatalf("DescribeProducers: %+v", dpr.Topics[0].Partitions[0])
	}
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"bad-1", "nobody"}
	dtr, err := dt.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if s := dtr.TransactionStates[0]; s.State != "Ongoing" || len(s.Topics) != 1 || s.ProducerID != pid {
		t.Fatalf("DescribeTransactions: %+v", s)
	}
	wantCode(t, "DescribeTransactions unknown id", dtr.TransactionStates[1].ErrorCode, kerr.TransactionalIDNotFound)
	lt := kmsg.NewPtrListTransactionsRequest()
	lt.StateFilters = []string{"Ongoing", "Bogus"}
	ltr, err := lt.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(ltr.TransactionStates) != 1 || ltr.TransactionStates[0].TransactionalID != "bad-1" || len(ltr.UnknownStateFilters) != 1 {
		t.Fatalf("ListTransactions: %+v", ltr)
	}

	// TxnOffsetCommit: the group must have been added, and the member and generation
	// must be the group's (KIP-447).
	tc := func(member string, gen int32) int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version = 3
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "bad-1", "g-bad", pid, epoch
		req.MemberID, req.Generation = member, gen
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "bad"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "TxnOffsetCommit before AddOffsetsToTxn", tc("", -1), kerr.InvalidTxnState)
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "bad-1", pid, epoch, "g-bad"
	aor, err := ao.RequestWith(t.Context(), cl)
	if err != nil || aor.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %v", err, kerr.ErrorForCode(aor.ErrorCode))
	}
	member, gen := joinTxnGroup(t, b, "g-bad")
	wantCode(t, "TxnOffsetCommit unknown member", tc("someone", gen), kerr.UnknownMemberID)
	wantCode(t, "TxnOffsetCommit other generation", tc(member, gen+1), kerr.IllegalGeneration)
	wantCode(t, "TxnOffsetCommit", tc(member, gen), nil0)

	// A new incarnation fences the old epoch and aborts its transaction.
	pid2, epoch2, code := initTxnProducer(t, cl, "bad-1", 60000)
	wantCode(t, "InitProducerId again", code, nil0)
	if pid2 != pid || epoch2 <= epoch {
		t.Fatalf("re-init: producer %d epoch %d, want %d and an epoch above %d", pid2, epoch2, pid, epoch)
	}
	wantCode(t, "produce with the fenced epoch", txnProduce(t, cl, "bad-1", pid, epoch, 2, "bad", 0, "z"), kerr.InvalidProducerEpoch)
	wantCode(t, "EndTxn v3 with the fenced epoch", endTxn(t, cl, 3, "bad-1", pid, epoch, true), kerr.ProducerFenced)
	wantCode(t, "EndTxn v1 with the fenced epoch", endTxn(t, txnRawClient(t, b, kmsg.EndTxn.Int16(), 1), 1, "bad-1", pid, epoch, true), kerr.InvalidProducerEpoch)
	wantCode(t, "EndTxn with another producer id", endTxn(t, cl, 3, "bad-1", pid+100, epoch2, true), kerr.InvalidProducerIDMapping)
	// The aborted transaction's offsets never became visible.
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version, of.Group = 7, "g-bad"
	oft := kmsg.NewOffsetFetchRequestTopic()
	oft.Topic, oft.Partitions = "bad", []int32{0}
	of.Topics = append(of.Topics, oft)
	ofr, err := of.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if o := ofr.Topics[0].Partitions[0].Offset; o != -1 {
		t.Fatalf("offset of an aborted transaction is visible: %d", o)
	}
	p := b.lookupTopic("bad").partition(0)
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw || len(p.AbortedTxns(0, hw)) != 1 {
		t.Fatalf("after the fencing abort: LSO %d, HW %d, aborted %v", lso, hw, p.AbortedTxns(0, hw))
	}
}

var nil0 = &kerr.Error{Message: "NONE", Code: 0}

// joinTxnGroup makes a consumer join group and returns its member id and generation.
func joinTxnGroup(t *testing.T, b *Broker, group string) (string, int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.ConsumerGroup(group), kgo.ConsumeTopics("bad"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		member, gen := cl.GroupMetadata()
		if gen > 0 {
			return member, gen
		}
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatal("consumer did not join its group")
		}
	}
}

// TestTxnCrashBetweenPrepareAndMarkers: the coordinator stops after logging
// PrepareCommit (as a crash would: no offsets, and a marker on one partition of two);
// after a restart it completes the commit, so read_committed data and the transaction's
// offsets appear.
func TestTxnCrashBetweenPrepareAndMarkers(t *testing.T) {
	dir := t.TempDir()
	var stopAtPrepare atomic.Bool
	stopAtPrepare.Store(true)
	b, stop := startTxnBroker(t, dir, func(txn.Txn) error {
		if stopAtPrepare.Load() {
			return errors.New("crash")
		}
		return nil
	})
	cl := txnRawClient(t, b)
	txnCreateTopic(t, cl, "crash", 2)
	pid, epoch, code := initTxnProducer(t, cl, "crash-1", 60000)
	wantCode(t, "InitProducerId", code, nil0)
	addTxnPartitions(t, cl, "crash-1", pid, epoch, "crash", 0, 1)
	wantCode(t, "produce p0", txnProduce(t, cl, "crash-1", pid, epoch, 0, "crash", 0, "a", "b"), nil0)
	wantCode(t, "produce p1", txnProduce(t, cl, "crash-1", pid, epoch, 0, "crash", 1, "c"), nil0)
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "crash-1", pid, epoch, "g-crash"
	if r, err := ao.RequestWith(t.Context(), cl); err != nil || r.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v", err)
	}
	toc := kmsg.NewPtrTxnOffsetCommitRequest()
	toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch = "crash-1", "g-crash", pid, epoch
	tt := kmsg.NewTxnOffsetCommitRequestTopic()
	tt.Topic = "crash"
	tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	tp.Partition, tp.Offset = 1, 42
	tt.Partitions = append(tt.Partitions, tp)
	toc.Topics = append(toc.Topics, tt)
	if r, err := toc.RequestWith(t.Context(), cl); err != nil || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("TxnOffsetCommit: %v %+v", err, r)
	}
	// require_stable: the pending offset is UNSTABLE_OFFSET_COMMIT.
	offsetFetch := func(c *kgo.Client) kmsg.OffsetFetchResponseTopicPartition {
		of := kmsg.NewPtrOffsetFetchRequest()
		of.Version, of.Group, of.RequireStable = 7, "g-crash", true
		oft := kmsg.NewOffsetFetchRequestTopic()
		oft.Topic, oft.Partitions = "crash", []int32{1}
		of.Topics = append(of.Topics, oft)
		r, err := of.RequestWith(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		return r.Topics[0].Partitions[0]
	}
	wantCode(t, "OffsetFetch require_stable while pending", offsetFetch(cl).ErrorCode, kerr.UnstableOffsetCommit)

	wantCode(t, "EndTxn commit (prepared, completion stopped)", endTxn(t, cl, 3, "crash-1", pid, epoch, true), nil0)
	p0 := b.lookupTopic("crash").partition(0)
	if lso := p0.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO before the markers: %d, want 0", lso)
	}
	wantCode(t, "EndTxn again while prepared", endTxn(t, cl, 3, "crash-1", pid, epoch, true), kerr.ConcurrentTransactions)
	// ListOffsets read_committed: latest is the LSO, a timestamp past it finds nothing.
	for _, c := range []struct {
		iso      int8
		ts, want int64
	}{{1, -1, 0}, {0, -1, 2}, {1, 0, -1}, {0, 0, 0}} {
		lo := kmsg.NewPtrListOffsetsRequest()
		lo.IsolationLevel = c.iso
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "crash"
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = c.ts
		lt.Partitions = append(lt.Partitions, lp)
		lo.Topics = append(lo.Topics, lt)
		r, err := lo.RequestWith(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Topics[0].Partitions[0].Offset; got != c.want {
			t.Fatalf("ListOffsets isolation %d timestamp %d: %d, want %d", c.iso, c.ts, got, c.want)
		}
	}
	// The crash comes between the markers of the two partitions: partition 0 has its
	// marker, partition 1 not.
	if _, err := p0.WriteTxnMarker(pid, epoch, true, 0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	stop()

	b, _ = startTxnBroker(t, dir, nil)
	cl = txnRawClient(t, b)
	p0, p1 := b.lookupTopic("crash").partition(0), b.lookupTopic("crash").partition(1)
	deadline := time.Now().Add(30 * time.Second)
	// Partition 0 gets a second COMMIT marker (harmless, as in Kafka), partition 1 its first.
	for p0.LastStableOffset() != 4 || p1.LastStableOffset() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after restart: LSO %d and %d, want 4 and 2 (markers written)", p0.LastStableOffset(), p1.LastStableOffset())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := p0.AbortedTxns(0, 4); len(a) != 0 {
		t.Fatalf("committed transaction listed as aborted: %v", a)
	}
	for {
		o := offsetFetch(cl)
		if o.ErrorCode == 0 && o.Offset == 42 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offset after restart: %+v", o)
		}
		time.Sleep(20 * time.Millisecond)
	}
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"crash-1"}
	dtr, err := dt.RequestWith(t.Context(), cl)
	if err != nil || dtr.TransactionStates[0].State != "CompleteCommit" {
		t.Fatalf("DescribeTransactions after restart: %v %+v", err, dtr)
	}
}

// TestTxnTimeoutAbortsAndFences: a transaction left open past its timeout is aborted by
// the coordinator with a bumped epoch; the producer's EndTxn is then fenced.
func TestTxnTimeoutAbortsAndFences(t *testing.T) {
	b, _ := startTxnBroker(t, t.TempDir(), nil)
	cl := txnRawClient(t, b)
	txnCreateTopic(t, cl, "tmo", 1)
	pid, epoch, _ := initTxnProducer(t, cl, "tmo-1", 300)
	addTxnPartitions(t, cl, "tmo-1", pid, epoch, "tmo", 0)
	wantCode(t, "produce", txnProduce(t, cl, "tmo-1", pid, epoch, 0, "tmo", 0, "a"), nil0)
	p := b.lookupTopic("tmo").partition(0)
	deadline := time.Now().Add(30 * time.Second)
	for p.LastStableOffset() != p.HighWatermark() || p.HighWatermark() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("timed-out transaction not aborted: LSO %d HW %d", p.LastStableOffset(), p.HighWatermark())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := p.AbortedTxns(0, 2); len(a) != 1 || a[0].ProducerID != pid {
		t.Fatalf("aborted: %v", a)
	}
	wantCode(t, "EndTxn after the timeout", endTxn(t, cl, 3, "tmo-1", pid, epoch, true), kerr.ProducerFenced)
	wantCode(t, "produce after the timeout", txnProduce(t, cl, "tmo-1", pid, epoch, 1, "tmo", 0, "b"), kerr.InvalidProducerEpoch)
	// KIP-360: the producer may re-initialise with its old epoch.
	req := kmsg.NewPtrInitProducerIDRequest()
	id := "tmo-1"
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = 4, &id, 60000, pid, epoch
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil || resp.ErrorCode != 0 || resp.ProducerID != pid || resp.ProducerEpoch <= epoch+1 {
		t.Fatalf("re-init after timeout: %v %+v", err, resp)
	}
}

// TestTxnReadCommittedRemoteCutAtLSO: an open transaction whose first batches were
// uploaded and deleted locally holds the LSO below the local log start; a read_committed
// fetch of that remote data returns nothing from the LSO on, read_uncommitted returns it.
func TestTxnReadCommittedRemoteCutAtLSO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		bc.RemoteStore = memstore.New()
		b, err := New(bc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			b.Close()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			b.tier.Run(ctx)
		})
		topic, err := b.createTopic("rt-txn", 1, map[string]string{
			"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1",
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		p := topic.partition(0)
		tier := &fakeTier{}
		p.SetTier(context.Background(), tier)
		plain := segmenttest.Batch(time.Now().UnixMilli(), []byte("plain-record-0123456789-0123456789-0123456789"))
		h, _ := segment.DecodeBatchHeader(plain)
		if _, err := p.Append(plain, h, time.Time{}, true); err != nil { // offset 0: committed
			t.Fatal(err)
		}
		for seq := int32(0); seq < 3; seq++ { // offsets 1-3: one open transaction
			batch := segmenttest.BatchWith(segmenttest.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), TimestampStep: 1,
				ProducerID: 9, BaseSequence: seq, Transactional: true}, []byte("txn-record-0123456789-0123456789-0123456789"))
			h, _ := segment.DecodeBatchHeader(batch)
			if _, err := p.Append(batch, h, time.Time{}, true); err != nil {
				t.Fatal(err)
			}
		}
		tier.Upload(t, p.LogForTesting(), 3)
		p.Maintain(time.Now(), false)
		if p.LocalLogStartOffset() != 3 || p.LastStableOffset() != 1 {
			t.Fatalf("local start %d, LSO %d; want 3 and 1", p.LocalLogStartOffset(), p.LastStableOffset())
		}
		fetch := func(iso int8) kmsg.FetchResponseTopicPartition {
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.MaxWaitMillis, req.MaxBytes, req.IsolationLevel = 12, 100, 1<<20, iso
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "rt-txn"
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			for range 50 { // the remote read completes in the background
				resp, err := b.handleFetch(t.Context(), req)
				if err != nil {
					t.Fatal(err)
				}
				if sp := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; len(sp.RecordBatches) > 0 || sp.ErrorCode != 0 {
					return sp
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Fatal("no answer from the remote tier")
			return kmsg.FetchResponseTopicPartition{}
		}
		if got := batchOffsets(t, fetch(0).RecordBatches); len(got) == 0 || got[0] != 0 || got[len(got)-1] < 1 {
			t.Fatalf("read_uncommitted offsets %v, want from 0 past 1", got)
		}
		rc := fetch(1)
		if got := batchOffsets(t, rc.RecordBatches); len(got) != 1 || got[0] != 0 || rc.LastStableOffset != 1 {
			t.Fatalf("read_committed offsets %v LSO %d, want only 0 and LSO 1", got, rc.LastStableOffset)
		}
	})
}

// TestTxnOrphanAbortedAtStart: a transaction open on a partition that the coordinator's
// log does not know (the log was lost) is aborted when the broker starts, so the LSO does
// not stay at its start forever.
func TestTxnOrphanAbortedAtStart(t *testing.T) {
	dir := t.TempDir()
	b, stop := startTxnBroker(t, dir, nil)
	cl := txnRawClient(t, b)
	txnCreateTopic(t, cl, "orphan", 1)
	pid, epoch, _ := initTxnProducer(t, cl, "orphan-1", 60000)
	addTxnPartitions(t, cl, "orphan-1", pid, epoch, "orphan", 0)
	wantCode(t, "produce", txnProduce(t, cl, "orphan-1", pid, epoch, 0, "orphan", 0, "a", "b"), nil0)
	cl.Close()
	stop()
	// A restart with the log keeps the transaction open (the producer may still commit).
	b, stop = startTxnBroker(t, dir, nil)
	if p := b.lookupTopic("orphan").partition(0); p.LastStableOffset() != 0 {
		t.Fatalf("known transaction: LSO %d, want 0", p.LastStableOffset())
	}
	stop()
	if err := os.Remove(filepath.Join(dir, "meta", "txn", "txnlog")); err != nil {
		t.Fatal(err)
	}
	b, _ = startTxnBroker(t, dir, nil)
	p := b.lookupTopic("orphan").partition(0)
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw || hw != 3 {
		t.Fatalf("orphan transaction: LSO %d HW %d, want both 3", lso, hw)
	}
	if a := p.AbortedTxns(0, 3); len(a) != 1 || a[0].ProducerID != pid || a[0].FirstOffset != 0 {
		t.Fatalf("aborted %+v", a)
	}
}
