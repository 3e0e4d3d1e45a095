package partition

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestWarnLimiter: one warning per key per warnEvery, the next one counting those left out.
func TestWarnLimiter(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var w warnLimiter
	for range 1000 {
		w.warn(log, "save", "cannot save producer snapshot", "dir", "d")
		w.warn(log, "save at roll", "cannot save producer snapshot at roll")
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines for 2000 warnings of two keys, want 2:\n%s", n, buf.String())
	}
	w.mu.Lock()
	st := w.warned["save"]
	st.at = st.at.Add(-warnEvery)
	w.warned["save"] = st
	w.mu.Unlock()
	w.warn(log, "save", "cannot save producer snapshot", "dir", "d")
	if !strings.Contains(buf.String(), "suppressed_since_last=999") {
		t.Fatalf("the next warning does not count the 999 left out:\n%s", buf.String())
	}
}
