package share

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment/segmenttest"
)

// TestStoreCrashAtAnyInstant: a crash at any instant of a run of acknowledgements loses
// no acknowledgement that was answered (Sync returned), and the state always reopens.
// Every prefix of the run's filesystem operations is crashed on segmenttest.MemFS (only
// synced bytes and directory entries survive).
func TestStoreCrashAtAnyInstant(t *testing.T) {
	errCrash := errors.New("injected crash")
	const dir, acks = "/data/meta/share", 12
	tp := TP{Topic: [16]byte{7}}
	hwm := int64(0)
	cfg := func(fs *segmenttest.MemFS) Config {
		return Config{Dir: dir, FS: fs, LockDuration: time.Minute,
			Topic:     func(string) ([16]byte, int32, bool) { return tp.Topic, 1, true },
			TopicName: func([16]byte) string { return "t" },
			Offsets:   func(TP) (int64, int64, bool) { return 0, hwm, true }}
	}
	for n := 0; ; n++ {
		hwm = 0
		fs := segmenttest.NewMemFS()
		ops := 0
		fs.SetFault(func(op, name string) error {
			if ops++; ops > n {
				return errCrash
			}
			return nil
		})
		acked := int64(-1)
		if c, err := New(cfg(fs)); err == nil {
			hb := kmsg.NewPtrShareGroupHeartbeatRequest()
			hb.GroupID, hb.MemberID, hb.SubscribedTopicNames = "g", "m", []string{"t"}
			c.Heartbeat(hb, "", "")
			hwm = acks
			c.Acquire("g", "m", tp, []Batch{{First: 0, Last: acks - 1}}, acks)
			for o := range int64(acks) {
				if err := c.Ack("g", "m", tp, []AckBatch{{o, o, []int8{1}}}); err != nil {
					t.Fatal(err)
				}
				if c.Sync(t.Context()) != nil {
					break
				}
				acked = o
			}
			c.Close()
		}
		faulted := ops > n
		fs.SetFault(nil)
		c2, err := New(cfg(fs.Crash()))
		if err != nil {
			t.Fatalf("crash after %d operations: cannot reopen: %v", n, err)
		}
		o, ok := c2.Offset("g", tp)
		if acked >= 0 && (!ok || o.Start < acked+1) {
			t.Fatalf("crash after %d operations: offset %d acknowledged, reopened at %+v (present %v)", n, acked, o, ok)
		}
		c2.Close()
		if !faulted {
			if acked != acks-1 {
				t.Fatalf("run without a fault acknowledged up to %d", acked)
			}
			t.Logf("crashed at each of %d operations", n)
			return
		}
	}
}
