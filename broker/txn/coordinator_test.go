package txn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

type fakeMarkers struct {
	mu    sync.Mutex
	fail  bool
	calls []string
}

func (f *fakeMarkers) WriteMarkers(_ context.Context, pid int64, epoch int16, commit bool, parts []TP) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("partition down")
	}
	for _, p := range parts {
		f.calls = append(f.calls, p.Topic+map[bool]string{true: ":commit", false: ":abort"}[commit])
	}
	return nil
}

func newCoord(t *testing.T, dir string, m *fakeMarkers) *Coordinator {
	t.Helper()
	next := int64(100)
	c, err := New(Config{Dir: dir, Markers: m, NextProducerID: func() (int64, error) { next++; return next, nil },
		PartitionExists: func(topic string, _ int32) bool { return topic != "missing" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCoordinatorDurableAcrossReopen: a commit whose markers failed stays prepared in the
// log; a reopened coordinator completes it; a torn record at the end of the log is cut.
func TestCoordinatorDurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	m := &fakeMarkers{}
	c := newCoord(t, dir, m)
	ctx := context.Background()
	pid, epoch, err := c.InitProducer(ctx, "a", 1000, -1, -1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if errs := c.AddPartitions("a", pid, epoch, 3, []TP{{"t", 0}, {"u", 1}}); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	m.fail = true
	if err := c.End(ctx, "a", pid, epoch, true, 3); err != nil {
		t.Fatalf("End with failing markers: %v (the outcome is durable, so it succeeds)", err)
	}
	if tx, _ := c.Describe("a"); tx.State != PrepareCommit {
		t.Fatalf("state %v, want PrepareCommit", tx.State)
	}
	if err := c.End(ctx, "a", pid, epoch, false, 3); err != kerr.InvalidTxnState {
		t.Fatalf("abort of a prepared commit: %v", err)
	}
	c.Close()
	f, ferr := os.OpenFile(filepath.Join(dir, logFile), os.O_APPEND|os.O_WRONLY, 0)
	if ferr != nil {
		t.Fatal(ferr)
	}
	f.Write([]byte{0, 0, 1, 0, 1, 2}) // a torn record
	f.Close()

	m2 := &fakeMarkers{}
	c = newCoord(t, dir, m2)
	if tx, _ := c.Describe("a"); tx.State != PrepareCommit || len(tx.Partitions) != 2 {
		t.Fatalf("reopened: %+v", tx)
	}
	c.Check(ctx)
	if tx, _ := c.Describe("a"); tx.State != CompleteCommit {
		t.Fatalf("after Check: %v", tx.State)
	}
	if len(m2.calls) != 2 || m2.calls[0] != "t:commit" {
		t.Fatalf("markers %v", m2.calls)
	}
	if err := c.End(ctx, "a", pid, epoch, true, 3); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	// The log compacts once it holds many more records than ids.
	for i := 0; i < 1200; i++ {
		if _, _, err := c.InitProducer(ctx, "a", 1000, -1, -1, 4); err != nil {
			t.Fatal(err)
		}
	}
	c.Check(ctx)
	if c.st.records != 1 {
		t.Fatalf("records after compaction: %d", c.st.records)
	}
	c.Close()
	c = newCoord(t, dir, &fakeMarkers{})
	if tx, ok := c.Describe("a"); !ok || tx.ProducerID != pid || tx.Epoch != epoch+1200 {
		t.Fatalf("after compaction and reopen: %+v", tx)
	}
}

// TestCoordinatorExpiresIdleIDs: an id with no open transaction idle for
// transactional.id.expiration.ms is forgotten (also after a reopen); one with a transaction
// open is not.
func TestCoordinatorExpiresIdleIDs(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	next := int64(0)
	open := func() *Coordinator {
		c, err := New(Config{Dir: dir, Markers: &fakeMarkers{}, IDExpiration: time.Hour, MaxTimeout: 48 * time.Hour,
			Now: func() time.Time { return now }, NextProducerID: func() (int64, error) { next++; return next, nil }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := open()
	ctx := context.Background()
	c.InitProducer(ctx, "idle", 1000, -1, -1, 4)
	pid, epoch, _ := c.InitProducer(ctx, "busy", int32((30 * time.Hour).Milliseconds()), -1, -1, 4)
	if errs := c.AddPartitions("busy", pid, epoch, 3, []TP{{"t", 0}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	now = now.Add(2 * time.Hour)
	c.Check(ctx)
	if _, ok := c.Describe("idle"); ok {
		t.Fatal("idle id not expired")
	}
	if tx, ok := c.Describe("busy"); !ok || tx.State != Ongoing {
		t.Fatalf("id with an open transaction: %+v %v", tx, ok)
	}
	c.Close()
	c = open()
	if _, ok := c.Describe("idle"); ok {
		t.Fatal("expired id back after reopen")
	}
	if _, ok := c.Describe("busy"); !ok {
		t.Fatal("busy id lost after reopen")
	}
}
