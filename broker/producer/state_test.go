package producer

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

type step struct {
	pid            int64
	epoch          int16
	base, n        int32
	wantDup        bool
	wantErr        error
	wantDupOffsets [2]int64
}

// run applies steps to a fresh state; each accepted batch is appended at the next offset.
func run(t *testing.T, st *State, steps []step) {
	t.Helper()
	next := int64(0)
	for i, s := range steps {
		last := LastSeq(s.base, s.n)
		dup, err := st.Check(s.pid, s.epoch, s.base, last)
		if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
			t.Fatalf("step %d: err %v, want %v", i, err, s.wantErr)
		}
		if (dup != nil) != s.wantDup {
			t.Fatalf("step %d: dup %+v, want dup=%v", i, dup, s.wantDup)
		}
		if dup != nil {
			if got := [2]int64{dup.FirstOffset, dup.LastOffset}; got != s.wantDupOffsets {
				t.Fatalf("step %d: dup offsets %v, want %v", i, got, s.wantDupOffsets)
			}
			continue
		}
		if err != nil {
			continue
		}
		st.Update(BatchMeta{ProducerID: s.pid, ProducerEpoch: s.epoch, FirstSeq: s.base, LastSeq: last,
			FirstOffset: next, LastOffset: next + int64(s.n) - 1}, time.Time{})
		next += int64(s.n)
	}
}

func TestCheckRules(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"new producer at seq 0", []step{{pid: 1, base: 0, n: 3}}},
		{"new producer not at 0", []step{{pid: 1, base: 5, n: 1, wantErr: ErrUnknownProducerID}}},
		{"in sequence", []step{{pid: 1, base: 0, n: 3}, {pid: 1, base: 3, n: 2}, {pid: 1, base: 5, n: 1}}},
		{"gap", []step{{pid: 1, base: 0, n: 3}, {pid: 1, base: 4, n: 1, wantErr: ErrOutOfOrderSequence}}},
		{"duplicate of last", []step{{pid: 1, base: 0, n: 3}, {pid: 1, base: 0, n: 3, wantDup: true, wantDupOffsets: [2]int64{0, 2}}}},
		{"duplicate of older in window", []step{
			{pid: 1, base: 0, n: 2}, {pid: 1, base: 2, n: 2}, {pid: 1, base: 4, n: 2},
			{pid: 1, base: 2, n: 2, wantDup: true, wantDupOffsets: [2]int64{2, 3}},
		}},
		{"retry older than window", []step{
			{pid: 1, base: 0, n: 1}, {pid: 1, base: 1, n: 1}, {pid: 1, base: 2, n: 1}, {pid: 1, base: 3, n: 1},
			{pid: 1, base: 4, n: 1}, {pid: 1, base: 5, n: 1},
			{pid: 1, base: 0, n: 1, wantErr: ErrOutOfOrderSequence},
			{pid: 1, base: 1, n: 1, wantDup: true, wantDupOffsets: [2]int64{1, 1}},
		}},
		{"overlapping but not equal", []step{{pid: 1, base: 0, n: 3}, {pid: 1, base: 1, n: 3, wantErr: ErrOutOfOrderSequence}}},
		{"older epoch fenced", []step{{pid: 1, epoch: 2, base: 0, n: 1}, {pid: 1, epoch: 1, base: 1, n: 1, wantErr: ErrInvalidEpoch}}},
		{"older epoch dup still fenced", []step{{pid: 1, epoch: 1, base: 0, n: 1}, {pid: 1, epoch: 2, base: 0, n: 1}, {pid: 1, epoch: 1, base: 0, n: 1, wantErr: ErrInvalidEpoch}}},
		{"epoch bump starts at 0", []step{{pid: 1, base: 0, n: 5}, {pid: 1, epoch: 1, base: 0, n: 1}, {pid: 1, epoch: 1, base: 1, n: 1}}},
		{"epoch bump not at 0", []step{{pid: 1, base: 0, n: 5}, {pid: 1, epoch: 1, base: 5, n: 1, wantErr: ErrOutOfOrderSequence}}},
		{"producers independent", []step{{pid: 1, base: 0, n: 2}, {pid: 2, base: 0, n: 2}, {pid: 1, base: 2, n: 1}, {pid: 2, base: 2, n: 1}}},
		{"wrap at MaxInt32", []step{{pid: 1, base: 0, n: math.MaxInt32}, {pid: 1, base: math.MaxInt32, n: 1}, {pid: 1, base: 0, n: 1}, {pid: 1, base: 1, n: 1}}},
		{"batch spanning wrap", []step{{pid: 1, base: 0, n: math.MaxInt32 - 1}, {pid: 1, base: math.MaxInt32 - 1, n: 4}, {pid: 1, base: 2, n: 1}}},
		{"no producer id passes", []step{{pid: -1, base: -1, n: 1}}},
		{"negative seq for idempotent", []step{{pid: 1, base: -1, n: 1, wantErr: ErrOutOfOrderSequence}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, NewState(StateConfig{}), tt.steps) })
	}
}

func TestErrorsWrapKafkaCodes(t *testing.T) {
	f := func(err error, want *kerr.Error) {
		t.Helper()
		var ke *kerr.Error
		if !errors.As(err, &ke) || ke != want {
			t.Fatalf("%v does not wrap %v", err, want)
		}
	}
	f(ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber)
	f(ErrInvalidEpoch, kerr.InvalidProducerEpoch)
	f(ErrUnknownProducerID, kerr.UnknownProducerID)
}

func TestLastSeq(t *testing.T) {
	f := func(base, n, want int32) {
		t.Helper()
		if got := LastSeq(base, n); got != want {
			t.Fatalf("LastSeq(%d,%d)=%d want %d", base, n, got, want)
		}
	}
	f(0, 1, 0)
	f(0, 5, 4)
	f(math.MaxInt32, 1, math.MaxInt32)
	f(math.MaxInt32, 2, 0)
	f(math.MaxInt32-1, 4, 1)
}

func TestExpiryAndRetentionAllowAnySequence(t *testing.T) {
	now := time.Unix(1000, 0)
	st := NewState(StateConfig{IDExpiration: time.Hour, Now: func() time.Time { return now }})
	run(t, st, []step{{pid: 1, base: 0, n: 10}, {pid: 2, base: 0, n: 1}})
	now = now.Add(30 * time.Minute)
	st.Update(BatchMeta{ProducerID: 2, FirstSeq: 1, LastSeq: 1, FirstOffset: 11, LastOffset: 11}, now)
	now = now.Add(31 * time.Minute)
	if n := st.Expire(); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	if _, ok := st.Entry(1); ok {
		t.Fatal("producer 1 not expired")
	}
	// Producer 1 continues at seq 10 after its state was expired: accepted.
	if _, err := st.Check(1, 0, 10, 10); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	// Producer 3 is new and starts at 7: unknown.
	if _, err := st.Check(3, 0, 7, 7); !errors.Is(err, ErrUnknownProducerID) {
		t.Fatalf("new producer: %v", err)
	}
	// Retention removes producer 2 (last offset 11 < 12).
	st.TruncateBefore(12)
	if _, err := st.Check(2, 0, 2, 2); err != nil {
		t.Fatalf("after retention: %v", err)
	}
}

func TestTruncateAfter(t *testing.T) {
	st := NewState(StateConfig{})
	run(t, st, []step{{pid: 1, base: 0, n: 2}, {pid: 1, base: 2, n: 2}, {pid: 2, base: 0, n: 1}})
	st.TruncateAfter(2) // drops offsets 2.. : producer 1's second batch and producer 2
	e, ok := st.Entry(1)
	if !ok || e.LastSeq() != 1 {
		t.Fatalf("entry after truncate: %+v %v", e, ok)
	}
	if _, ok := st.Entry(2); ok {
		t.Fatal("producer 2 survived truncation")
	}
	if _, err := st.Check(1, 0, 2, 3); err != nil {
		t.Fatalf("resend after truncate: %v", err)
	}
}

func TestApplyBatchRebuild(t *testing.T) {
	live := NewState(StateConfig{})
	run(t, live, []step{{pid: 1, base: 0, n: 2}, {pid: 1, base: 2, n: 2}, {pid: 7, epoch: 3, base: 0, n: 1}})
	rebuilt := NewState(StateConfig{})
	rebuilt.ApplyBatch(BatchMeta{ProducerID: 1, FirstSeq: 0, LastSeq: 1, FirstOffset: 0, LastOffset: 1})
	rebuilt.ApplyBatch(BatchMeta{ProducerID: 1, FirstSeq: 2, LastSeq: 3, FirstOffset: 2, LastOffset: 3})
	rebuilt.ApplyBatch(BatchMeta{ProducerID: 7, ProducerEpoch: 3, FirstSeq: 0, LastSeq: 0, FirstOffset: 4, LastOffset: 4})
	rebuilt.ApplyBatch(BatchMeta{ProducerID: -1, FirstSeq: -1})                                                 // plain batch
	rebuilt.ApplyBatch(BatchMeta{ProducerID: 7, ProducerEpoch: 3, FirstSeq: -1, FirstOffset: 5, LastOffset: 5}) // control
	for _, pid := range []int64{1, 7} {
		a, _ := live.Entry(pid)
		b, _ := rebuilt.Entry(pid)
		if a.Epoch != b.Epoch || len(a.Batches) != len(b.Batches) || a.LastSeq() != b.LastSeq() {
			t.Fatalf("pid %d: live %+v rebuilt %+v", pid, a, b)
		}
	}
	if dup, err := rebuilt.Check(1, 0, 2, 3); err != nil || dup == nil || dup.FirstOffset != 2 {
		t.Fatalf("dup after rebuild: %+v %v", dup, err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	st := NewState(StateConfig{})
	run(t, st, []step{
		{pid: 1, base: 0, n: 2}, {pid: 1, base: 2, n: 2}, {pid: 1, base: 4, n: 1}, {pid: 1, base: 5, n: 1},
		{pid: 1, base: 6, n: 1}, {pid: 1, base: 7, n: 1}, {pid: 9, epoch: 4, base: 0, n: 3},
	})
	dir := t.TempDir()
	if err := st.Save(nil, dir, 42); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000042.snapshot")); err != nil {
		t.Fatal(err)
	}
	got := NewState(StateConfig{})
	off, found, err := got.LoadLatest(nil, dir, 100)
	if err != nil || !found || off != 42 {
		t.Fatalf("LoadLatest: %d %v %v", off, found, err)
	}
	if !bytes.Equal(st.Encode(), got.Encode()) {
		t.Fatal("round trip differs")
	}
	e, _ := got.Entry(1)
	if len(e.Batches) != MaxCachedBatches || e.LastSeq() != 7 {
		t.Fatalf("entry: %+v", e)
	}
	if dup, err := got.Check(1, 0, 7, 7); err != nil || dup == nil {
		t.Fatalf("dup after load: %v %v", dup, err)
	}
	// A newer corrupt snapshot is skipped in favour of the older valid one.
	if err := os.WriteFile(SnapshotPath(dir, 50), []byte("garbage-garbage-garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if off, found, err := NewState(StateConfig{}).LoadLatest(nil, dir, 100); err != nil || !found || off != 42 {
		t.Fatalf("LoadLatest with corrupt newer: %d %v %v", off, found, err)
	}
	// Snapshots above the log end are ignored.
	if _, found, _ := NewState(StateConfig{}).LoadLatest(nil, dir, 41); found {
		t.Fatal("snapshot above max offset loaded")
	}
	if err := DeleteSnapshots(nil, dir, 43, 100); err != nil {
		t.Fatal(err)
	}
	if offs, _ := Snapshots(nil, dir); len(offs) != 1 || offs[0] != 50 {
		t.Fatalf("after delete: %v", offs)
	}
}

func TestSnapshotCorruption(t *testing.T) {
	st := NewState(StateConfig{})
	run(t, st, []step{{pid: 1, base: 0, n: 2}, {pid: 2, base: 0, n: 1}})
	good := st.Encode()
	f := func(name string, mut func([]byte) []byte) {
		t.Helper()
		b := mut(append([]byte(nil), good...))
		if err := NewState(StateConfig{}).Decode(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("%s: err %v", name, err)
		}
	}
	f("truncated", func(b []byte) []byte { return b[:len(b)-5] })
	f("bit flip", func(b []byte) []byte { b[12] ^= 1; return b })
	f("empty", func([]byte) []byte { return nil })
	f("bad magic", func(b []byte) []byte { b[0] = 'X'; return b })
}

func FuzzSnapshotDecode(f *testing.F) {
	st := NewState(StateConfig{})
	st.Update(BatchMeta{ProducerID: 3, ProducerEpoch: 1, FirstSeq: 0, LastSeq: 4, LastOffset: 4}, time.Time{})
	f.Add(st.Encode())
	f.Add(NewState(StateConfig{}).Encode())
	f.Add([]byte("SPSN"))
	// Invariants: Decode never panics; what it accepts re-encodes to identical bytes.
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewState(StateConfig{})
		if err := s.Decode(b); err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("error not marked corrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(s.Encode(), b) {
			t.Fatal("accepted snapshot does not re-encode identically")
		}
	})
}

func TestMarkIncomplete(t *testing.T) {
	st := NewState(StateConfig{})
	if _, err := st.Check(5, 0, 9, 9); !errors.Is(err, ErrUnknownProducerID) {
		t.Fatalf("complete state: %v", err)
	}
	st.MarkIncomplete()
	if _, err := st.Check(5, 0, 9, 9); err != nil {
		t.Fatalf("incomplete state: %v", err)
	}
	st.Update(BatchMeta{ProducerID: 5, FirstSeq: 9, LastSeq: 9, FirstOffset: 0, LastOffset: 0}, time.Time{})
	// Once seen, the producer's sequence is enforced as usual.
	if _, err := st.Check(5, 0, 11, 11); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("known producer: %v", err)
	}
}

// A replayed batch whose last sequence was computed without wrapping (base + delta in
// int32) is stored with the wrapped value, so the next sequence is accepted.
func TestApplyBatchWrapsLastSeq(t *testing.T) {
	st := NewState(StateConfig{})
	base := int32(math.MaxInt32 - 1)
	st.ApplyBatch(BatchMeta{ProducerID: 1, FirstSeq: base, LastSeq: base + 3, FirstOffset: 10, LastOffset: 13})
	e, _ := st.Entry(1)
	if e.LastSeq() != 1 {
		t.Fatalf("last seq %d, want 1", e.LastSeq())
	}
	if _, err := st.Check(1, 0, 2, 2); err != nil {
		t.Fatalf("next after wrap: %v", err)
	}
	if dup, err := st.Check(1, 0, base, 1); err != nil || dup == nil || dup.FirstOffset != 10 {
		t.Fatalf("retry of the wrapped batch: %v %v", dup, err)
	}
}
