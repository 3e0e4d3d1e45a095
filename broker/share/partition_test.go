package share

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment"
)

// TestPartitionLifecycle: acquire, accept/release/reject, lock expiry and the delivery
// count limit move records between the states as KIP-932 specifies, and the start offset
// follows the finished records.
func TestPartitionLifecycle(t *testing.T) {
	const lock, limit = time.Second, 2
	now := time.Unix(1000, 0)
	p := newPartition(10)
	got := p.acquire("a", []Batch{{First: 10, Last: 14}, {First: 15, Last: 15, Control: true}, {First: 17, Last: 19}}, 100, 100, now, lock)
	want := []AcquiredRange{{10, 14, 1}, {17, 19, 1}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("acquired %v, want %v", got, want)
	}
	if s, _ := p.State(16); s != Archived { // a hole: archived
		t.Fatalf("offset 16 is %d", s)
	}
	// Another member gets nothing: everything is locked.
	if got := p.acquire("b", []Batch{{First: 10, Last: 19}}, 100, 100, now, lock); len(got) != 0 {
		t.Fatalf("b acquired %v", got)
	}
	if err := p.ack("b", 10, 10, []int8{1}, now, lock, limit); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack by non-owner: %v", err)
	}
	// accept 10, release 11, reject 12, accept 13-14 (one type per offset).
	if err := p.ack("a", 10, 14, []int8{1, 2, 3, 1, 1}, now, lock, limit); err != nil {
		t.Fatal(err)
	}
	if err := p.ack("a", 10, 10, []int8{1}, now, lock, limit); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("second accept of 10: %v", err)
	}
	if p.Start() != 11 {
		t.Fatalf("start %d, want 11", p.Start())
	}
	if s, n := p.State(12); s != Archived || n != 1 {
		t.Fatalf("rejected 12: state %d count %d", s, n)
	}
	if off := p.NextReadOffset(); off != 11 {
		t.Fatalf("next read %d, want 11", off)
	}
	// b gets the released record (delivery 2) but not the locked 17-19.
	got = p.acquire("b", []Batch{{First: 10, Last: 14}, {First: 17, Last: 19}}, 100, 100, now, lock)
	if len(got) != 1 || got[0] != (AcquiredRange{11, 11, 2}) {
		t.Fatalf("b acquired %v", got)
	}
	// Locks expire: 11 reached the limit and is archived; 17-19 become available.
	now = now.Add(lock)
	if !p.expire(now, limit) {
		t.Fatal("nothing expired")
	}
	if off := p.NextReadOffset(); off != 17 { // 11 archived, not available
		t.Fatalf("next read after expiry %d, want 17", off)
	}
	if err := p.ack("a", 17, 17, []int8{1}, now, lock, limit); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack after expiry: %v", err)
	}
	if p.Start() != 17 {
		t.Fatalf("start %d, want 17", p.Start())
	}
	got = p.acquire("b", []Batch{{First: 17, Last: 21}}, 2, 100, now, lock)
	if len(got) != 1 || got[0] != (AcquiredRange{17, 18, 2}) {
		t.Fatalf("b reacquired %v (max 2 records)", got)
	}
	if err := p.ack("b", 17, 18, []int8{5}, now, lock, limit); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("bad type: %v", err)
	}
	if err := p.ack("b", 17, 18, []int8{1, 1, 1}, now, lock, limit); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("bad type count: %v", err)
	}
	// The in-flight limit stops new acquisitions.
	got = p.acquire("c", []Batch{{First: 19, Last: 40}}, 100, 5, now, lock)
	if p.End()-p.Start() > 5 {
		t.Fatalf("in flight %d-%d over the limit of 5 (acquired %v)", p.Start(), p.End(), got)
	}
}

func testCoordinator(t *testing.T, dir string, hwm *int64) *Coordinator {
	t.Helper()
	id := [16]byte{1}
	c, err := New(Config{
		Dir: dir, FS: segment.OSFS{}, LockDuration: time.Minute, DeliveryCountLimit: 3,
		Topic:     func(name string) ([16]byte, int32, bool) { return id, 1, name == "t" },
		TopicName: func([16]byte) string { return "t" },
		Offsets:   func(TP) (int64, int64, bool) { return 0, *hwm, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCoordinatorRestart: membership, acquisition and acknowledgement through the
// coordinator, and the state (start offset, archived records, delivery counts) survives
// a restart, with the records that were acquired available again.
func TestCoordinatorRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "share")
	hwm := int64(0)
	c := testCoordinator(t, dir, &hwm)
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.Version, hb.GroupID, hb.MemberID, hb.SubscribedTopicNames = 1, "g", "m1", []string{"t"}
	r := c.Heartbeat(hb, "cl", "/h")
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || r.Assignment == nil || len(r.Assignment.TopicPartitions) != 1 {
		t.Fatalf("join: %+v", r)
	}
	hb.MemberEpoch = 5
	if r := c.Heartbeat(hb, "cl", "/h"); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("wrong epoch: %d", r.ErrorCode)
	}
	tp := TP{Topic: [16]byte{1}}
	hwm = 10 // records produced after the join (latest)
	off, ok := c.ReadOffset("g", tp)
	if !ok || off != 0 {
		t.Fatalf("read offset %d %v", off, ok)
	}
	acq := c.Acquire("g", "m1", tp, []Batch{{First: 0, Last: 9}}, 100)
	if len(acq) != 1 || acq[0] != (AcquiredRange{0, 9, 1}) {
		t.Fatalf("acquired %v", acq)
	}
	if err := c.Ack("g", "m1", tp, []AckBatch{{0, 2, []int8{1}}, {3, 3, []int8{3}}, {5, 5, []int8{1}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = testCoordinator(t, dir, &hwm)
	defer c.Close()
	o, ok := c.Offset("g", tp)
	if !ok || o.Start != 4 || o.Lag != 5 { // 4..9 minus 5 accepted
		t.Fatalf("offset after restart %+v %v", o, ok)
	}
	acq = c.Acquire("g", "m2", tp, []Batch{{First: 4, Last: 9}}, 100)
	want := []AcquiredRange{{4, 4, 2}, {6, 9, 2}}
	if len(acq) != 2 || acq[0] != want[0] || acq[1] != want[1] {
		t.Fatalf("after restart acquired %v, want %v", acq, want)
	}
}
