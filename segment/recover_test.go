package segment_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

type recordingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// TestRecoveryCostIsTheTail: after a crash, recovery scans from the last offset index entry,
// not the whole segment, and logs its report once.
func TestRecoveryCostIsTheTail(t *testing.T) {
	fsys := segmenttest.NewMemFS()
	cfg := segment.Config{FS: fsys, IndexIntervalBytes: 4096}
	l := mustOpen(t, testDir, cfg)
	var want [][]byte
	for i := range 2000 {
		b := batchOf(int64(i), 4)
		mustAppend(t, l, b)
		want = append(want, bytes.Clone(b))
	}
	waitDurable(t, l)
	l.WaitIndexSync() // the index fsync runs after the acknowledgement, in the background
	size := l.Size()
	crashed := fsys.Crash()
	l.Close()

	h := &recordingHandler{}
	cfg.FS, cfg.Logger = crashed, slog.New(h)
	l2, rep, err := segment.Open(testDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep.CleanShutdown || rep.TruncatedBytes != 0 || rep.TruncatedAt != -1 {
		t.Fatalf("report %+v", rep)
	}
	if rep.RecoveredBytes > 4096+int64(len(want[0]))*2 || rep.RecoveredBytes == 0 {
		t.Fatalf("recovery scanned %d of %d bytes", rep.RecoveredBytes, size)
	}
	if n := h.count("segment log recovered"); n != 1 {
		t.Fatalf("recovery logged %d times: %v", n, h.msgs)
	}
	equalBatches(t, readAll(t, l2, 0), want)
	if r, found, err := l2.FindTimestamp(1500); err != nil || !found || r.FirstOffset != 5988 {
		t.Fatalf("find timestamp after recovery: %+v %v %v", r, found, err)
	}
}
