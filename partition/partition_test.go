package partition

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
)

func testPartition(t *testing.T, overrides map[string]string) *Partition {
	t.Helper()
	p, err := Open(Options{Topic: "t", Dir: t.TempDir(), Config: testConfig(t, overrides)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close() })
	return p
}

// appendN appends n single-record batches with timestamps ts0, ts0+1, ...
func appendN(t *testing.T, p *Partition, n int, ts0 int64) {
	t.Helper()
	for i := range n {
		b := testBatch(t, codecNone, ts0+int64(i), []int64{0}, false)
		h, err := validateBatch(b, p.config(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.append(b, h, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func batchOffsets(t *testing.T, data []byte) []int64 {
	t.Helper()
	var offs []int64
	if err := SplitBatches(data, func(h segment.BatchHeader, _ []byte) (bool, error) {
		offs = append(offs, h.BaseOffset)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return offs
}

func TestPartitionAppendRead(t *testing.T) {
	p := testPartition(t, nil)
	appendN(t, p, 5, 1000)
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("hw = %d", hw)
	}
	data, local, err := p.readLocal(2, 1<<20, true)
	if err != nil || !local {
		t.Fatal(local, err)
	}
	if got := batchOffsets(t, data); len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("offsets %v", got)
	}
	if err := p.waitDurable(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	off, ts, err := p.ListOffset(t.Context(), 1003)
	if err != nil || off != 3 || ts != 1003 {
		t.Fatalf("listOffset(1003) = %d %d %v", off, ts, err)
	}
	off, ts, err = p.ListOffset(t.Context(), ListMaxTimestamp)
	if err != nil || off != 4 || ts != 1004 {
		t.Fatalf("max timestamp = %d %d %v", off, ts, err)
	}
	if off, _, _ := p.ListOffset(t.Context(), 5000); off != -1 {
		t.Fatalf("listOffset(future) = %d", off)
	}
}

func TestPartitionRollsBySegmentBytesAndHintsTier(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100"})
	tier := &fakeTier{}
	p.setTier(tier)
	appendN(t, p, 4, 1000) // each batch is 70+ bytes: one per segment
	if n := len(p.log.Segments()); n != 4 {
		t.Fatalf("%d segments, want 4", n)
	}
	if tier.Sealed != 3 {
		t.Fatalf("OnSealed called %d times, want 3", tier.Sealed)
	}
}

func TestPartitionLocalRetentionWaitsForUpload(t *testing.T) {
	p := testPartition(t, map[string]string{
		"segment.bytes": "100", "remote.storage.enable": "true",
		"local.retention.bytes": "1", "retention.ms": "-1", "retention.bytes": "-1",
	})
	tier := &fakeTier{}
	p.setTier(tier)
	appendN(t, p, 4, 1000)

	p.runMaintenance(time.Now())
	if got := p.LocalLogStartOffset(); got != 0 {
		t.Fatalf("deleted before upload: local start %d", got)
	}
	tier.Upload(t, p.log, 2) // segments at 0 and 1
	p.runMaintenance(time.Now())
	if got := p.LocalLogStartOffset(); got != 2 {
		t.Fatalf("local start %d, want 2 (only uploaded segments go)", got)
	}
	if got := p.LogStartOffset(); got != 0 {
		t.Fatalf("log start %d, want 0 (remote data counts)", got)
	}

	// Offsets below the local start are served by the tier.
	data, done, err := p.ReadRemote(t.Context(), 1, 1<<20, true, time.Second)
	if err != nil || !done {
		t.Fatal(done, err)
	}
	if got := batchOffsets(t, data.AppendTo(nil)); len(got) != 1 || got[0] != 1 {
		t.Fatalf("remote offsets %v", got)
	}
	// Timestamp lookups go through the tier for remote data.
	if off, ts, err := p.ListOffset(t.Context(), 1001); err != nil || off != 1 || ts != 1001 {
		t.Fatalf("listOffset(1001) = %d %d %v", off, ts, err)
	}
	if off, _, _ := p.ListOffset(t.Context(), ListEarliestLocal); off != 2 {
		t.Fatalf("earliest local = %d", off)
	}
	if off, _, _ := p.ListOffset(t.Context(), ListLatestTiered); off != 1 {
		t.Fatalf("latest tiered = %d", off)
	}
	if off, _, _ := p.ListOffset(t.Context(), ListEarliestPending); off != 2 {
		t.Fatalf("earliest pending upload = %d", off)
	}
}

func TestPartitionPlainRetentionWithoutTier(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "retention.bytes": "1"})
	appendN(t, p, 4, 1000)
	p.runMaintenance(time.Now())
	if got := p.LogStartOffset(); got != 3 {
		t.Fatalf("log start %d, want 3 (all sealed segments over retention.bytes)", got)
	}
	// Retention never takes the active segment.
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("hw %d", hw)
	}
}

func TestPartitionRemoteReadErrorIsRetriable(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	tier := &fakeTier{}
	p.setTier(tier)
	appendN(t, p, 3, 1000)
	tier.Upload(t, p.log, 2)
	p.runMaintenance(time.Now())
	tier.ReadErr = errors.New("bucket unreachable")
	_, done, err := p.ReadRemote(t.Context(), 0, 1<<20, true, time.Second)
	if !done || err == nil {
		t.Fatalf("done %v err %v", done, err)
	}
	// The broker answers ErrRemote KAFKA_STORAGE_ERROR, which is retriable
	// (broker.TestPartitionErrorCodes).
	if !errors.Is(err, ErrRemote) {
		t.Fatalf("err %v, want ErrRemote", err)
	}
}

// A read that outlasts its fetch's wait goes on in the background and the next fetch at the
// offset gets its records. In a synctest bubble the 50 ms wait is exact (on the real clock
// the bound was one second, which a loaded machine under -race can exceed).
func TestPartitionSlowRemoteReadContinuesInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
		tier := &fakeTier{}
		p.setTier(tier)
		appendN(t, p, 3, 1000)
		tier.Upload(t, p.log, 2)
		p.runMaintenance(time.Now())
		gate := make(chan struct{})
		tier.ReadGate = gate

		start := time.Now()
		_, done, err := p.ReadRemote(t.Context(), 0, 1<<20, true, 50*time.Millisecond)
		if done || err != nil || time.Since(start) > time.Second {
			t.Fatalf("slow read: done %v err %v after %v", done, err, time.Since(start))
		}
		close(gate) // the bucket answers; the next fetch at the same offset gets the result
		data, done, err := p.ReadRemote(t.Context(), 0, 1<<20, true, time.Second)
		if !done || err != nil || len(batchOffsets(t, data.AppendTo(nil))) != 2 {
			t.Fatalf("second read: done %v err %v offsets %v", done, err, batchOffsets(t, data.AppendTo(nil)))
		}
	})
}

func TestPartitionDeleteRecords(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	tier := &fakeTier{}
	p.setTier(tier)
	appendN(t, p, 5, 1000)
	tier.Upload(t, p.log, 2)
	p.runMaintenance(time.Now())

	// Remote failure: nothing moves.
	tier.SetErr = errors.New("bucket unreachable")
	if _, err := p.deleteRecords(t.Context(), 3); !errors.Is(err, ErrRemote) { // KAFKA_STORAGE_ERROR
		t.Fatalf("err %v", err)
	}
	if p.LogStartOffset() != 0 || p.LocalLogStartOffset() != 2 {
		t.Fatalf("moved on failure: %d %d", p.LogStartOffset(), p.LocalLogStartOffset())
	}
	tier.SetErr = nil
	low, err := p.deleteRecords(t.Context(), 3)
	if err != nil || low != 3 {
		t.Fatalf("low %d err %v", low, err)
	}
	if len(tier.SetStarts) != 1 || tier.SetStarts[0] != 3 || p.LocalLogStartOffset() != 3 {
		t.Fatalf("tier starts %v local start %d", tier.SetStarts, p.LocalLogStartOffset())
	}
	if off, _, _ := p.ListOffset(t.Context(), ListEarliest); off != 3 {
		t.Fatalf("earliest = %d", off)
	}
	// Timestamp lookups never answer below the log start.
	if off, _, err := p.ListOffset(t.Context(), 0); err != nil || off != 3 {
		t.Fatalf("listOffset(0) = %d %v", off, err)
	}
}

func TestPartitionLogAppendTime(t *testing.T) {
	p := testPartition(t, map[string]string{"message.timestamp.type": "LogAppendTime"})
	b := testBatch(t, codecNone, 1000, []int64{0, 1}, false)
	h, err := validateBatch(b, p.config(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(5_000_000)
	res, err := p.append(b, h, now)
	if err != nil || res.Info.MaxTimestamp != 5_000_000 {
		t.Fatalf("info %+v err %v", res.Info, err)
	}
	data, _, _ := p.readLocal(0, 1<<20, true)
	if h, _ := segment.DecodeBatchHeader(data); !h.LogAppendTime() || h.MaxTimestamp != 5_000_000 {
		t.Fatalf("stored header %+v", h)
	}
}

// retentionTier adds the optional ApplyRetention capability to fakeTier.
type retentionTier struct {
	*fakeTier
	newStart  int64
	gotLocal  int64
	gotMs     int64
	gotBytes  int64
	callCount int
}

func (r *retentionTier) ApplyRetention(ctx context.Context, ms, bytes, localBytes int64, now time.Time) (int64, error) {
	r.callCount++
	r.gotMs, r.gotBytes, r.gotLocal = ms, bytes, localBytes
	if err := r.SetLogStartOffset(ctx, r.newStart); err != nil {
		return 0, err
	}
	return r.newStart, nil
}

func TestPartitionTotalRetentionThroughTier(t *testing.T) {
	p := testPartition(t, map[string]string{
		"segment.bytes": "100", "remote.storage.enable": "true",
		"retention.bytes": "150", "local.retention.bytes": "-2", "retention.ms": "-1",
	})
	tier := &retentionTier{fakeTier: &fakeTier{}}
	p.setTier(tier)
	appendN(t, p, 4, 1000) // segments at 0,1,2 sealed; 3 active
	tier.Upload(t, p.log, 3)
	tier.newStart = 2 // the tier decides that remote segments 0 and 1 expired

	p.runMaintenance(time.Now())
	if tier.callCount != 1 || tier.gotBytes != 150 || tier.gotMs != -1 {
		t.Fatalf("ApplyRetention calls %d args ms=%d bytes=%d", tier.callCount, tier.gotMs, tier.gotBytes)
	}
	active := p.log.Segments()[len(p.log.Segments())-1]
	if tier.gotLocal != active.Size {
		t.Fatalf("local bytes not yet remote = %d, want the active segment's %d", tier.gotLocal, active.Size)
	}
	if got := p.LogStartOffset(); got != 2 {
		t.Fatalf("log start %d, want 2", got)
	}
	if got := p.LocalLogStartOffset(); got < 2 {
		t.Fatalf("local start %d, want >= 2 (raised to the remote start)", got)
	}
}

// idempotentBatch is testBatch with producer id, epoch and base sequence set (CRC redone).
func idempotentBatch(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	b := testBatch(t, codecNone, 1000, make([]int64, n), false)
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestPartitionProducerStateHook(t *testing.T) {
	p := testPartition(t, nil)
	p.setProducerState(producer.NewState(producer.StateConfig{}))
	app := func(b []byte) (AppendResult, error) {
		t.Helper()
		h, err := validateBatch(b, p.config(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p.append(b, h, time.Now())
	}
	if r, err := app(idempotentBatch(t, 7, 0, 0, 2)); err != nil || r.Duplicate || r.Info.BaseOffset != 0 {
		t.Fatalf("first: %+v %v", r, err)
	}
	appendN(t, p, 1, 2000) // a non-idempotent batch in between (offset 2)
	// A retry of the first batch is answered with its original offsets, nothing written.
	if r, err := app(idempotentBatch(t, 7, 0, 0, 2)); err != nil || !r.Duplicate || r.Info.BaseOffset != 0 || r.Info.LastOffset != 1 {
		t.Fatalf("retry: %+v %v", r, err)
	}
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("hw %d after a duplicate", hw)
	}
	if _, err := app(idempotentBatch(t, 7, 0, 5, 1)); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("gap: %v", err)
	}
	if r, err := app(idempotentBatch(t, 7, 0, 2, 1)); err != nil || r.Info.BaseOffset != 3 {
		t.Fatalf("next: %+v %v", r, err)
	}
}

// close cancels every background remote read, including ones replaced by a read at
// another offset, instead of waiting for the bucket.
//
// In a synctest bubble: close ending the reads takes no time of the bubble's clock, where a
// wait for the (never answering) bucket would block the bubble; on the real clock the bound
// was two seconds.
func TestPartitionCloseCancelsRemoteReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
		tier := &fakeTier{}
		p.setTier(tier)
		appendN(t, p, 4, 1000)
		tier.Upload(t, p.log, 3)
		p.runMaintenance(time.Now())
		tier.ReadGate = make(chan struct{}) // never opens: reads end only by cancellation
		for _, off := range []int64{0, 1, 2} {
			if _, done, _ := p.ReadRemote(t.Context(), off, 1<<20, true, time.Millisecond); done {
				t.Fatalf("read at %d finished through a closed gate", off)
			}
		}
		start := time.Now()
		if err := p.close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("close took %v", d)
		}
	})
}

// Readers racing retention: a read either returns whole batches from the requested offset
// on, or says the offset is gone (below the local start / out of range), never an error.
func TestPartitionReadsRaceRetention(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "300", "retention.bytes": "600"})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				off := p.LogStartOffset()
				data, local, err := p.readLocal(off, 1<<20, true)
				if err != nil && !errors.Is(err, segment.ErrOffsetOutOfRange) {
					errs <- err
					return
				}
				if err == nil && local && len(data) > 0 {
					h, perr := segment.DecodeBatchHeader(data)
					if perr != nil || h.LastOffset() < off {
						errs <- fmt.Errorf("read at %d returned a batch ending at %d (%v)", off, h.LastOffset(), perr)
						return
					}
				}
			}
		})
	}
	for i := range 300 {
		appendN(t, p, 1, int64(1000+i))
		if i%10 == 0 {
			p.runMaintenance(time.Now())
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if p.LogStartOffset() < 250 {
		t.Fatalf("retention did not run: log start %d", p.LogStartOffset())
	}
}
