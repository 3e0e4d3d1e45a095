package producer

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func initReq(v int16, pid int64, epoch int16) *kmsg.InitProducerIDRequest {
	r := kmsg.NewPtrInitProducerIDRequest()
	r.Version, r.ProducerID, r.ProducerEpoch = v, pid, epoch
	return r
}

func TestManagerIDsNeverReused(t *testing.T) {
	dir := t.TempDir()
	m, err := NewManager(Config{Dir: dir, BlockSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for i := 0; i < 5; i++ {
		r := m.InitProducerID(t.Context(), initReq(4, -1, -1))
		if r.ErrorCode != 0 || r.ProducerEpoch != 0 || seen[r.ProducerID] {
			t.Fatalf("init %d: %+v", i, r)
		}
		seen[r.ProducerID] = true
	}
	// "Crash": open again without any shutdown; ids continue after the reserved block.
	for round := 0; round < 2; round++ {
		m2, err := NewManager(Config{Dir: dir, BlockSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			r := m2.InitProducerID(t.Context(), initReq(4, -1, -1))
			if r.ErrorCode != 0 || seen[r.ProducerID] {
				t.Fatalf("after reopen: reused id %d", r.ProducerID)
			}
			seen[r.ProducerID] = true
		}
	}
}

func TestManagerEpochBump(t *testing.T) {
	m, err := NewManager(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := m.InitProducerID(t.Context(), initReq(4, -1, -1))
	pid := r.ProducerID
	r = m.InitProducerID(t.Context(), initReq(4, pid, 0))
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != 1 {
		t.Fatalf("bump: %+v", r)
	}
	// Re-init with the stale epoch is fenced.
	r = m.InitProducerID(t.Context(), initReq(4, pid, 0))
	if r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("stale: %+v", r)
	}
	r = m.InitProducerID(t.Context(), initReq(3, pid, 0))
	if r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale v3: %+v", r)
	}
	// Unknown id (never allocated here): fresh id.
	r = m.InitProducerID(t.Context(), initReq(4, 1<<40, 3))
	if r.ErrorCode != 0 || r.ProducerID == 1<<40 || r.ProducerEpoch != 0 {
		t.Fatalf("unknown id: %+v", r)
	}
	// Epoch exhaustion: fresh id.
	r = m.InitProducerID(t.Context(), initReq(4, pid, 1))
	if r.ProducerEpoch != 2 {
		t.Fatalf("bump 2: %+v", r)
	}
	m.epochs[pid] = 32766
	r = m.InitProducerID(t.Context(), initReq(4, pid, 32766))
	if r.ErrorCode != 0 || r.ProducerID == pid || r.ProducerEpoch != 0 {
		t.Fatalf("exhausted: %+v", r)
	}
	// Transactions are refused.
	req := initReq(4, -1, -1)
	txn := "t"
	req.TransactionalID = &txn
	if r := m.InitProducerID(t.Context(), req); r.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("txn: %+v", r)
	}
}
