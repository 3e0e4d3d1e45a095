package partition

import (
	"log/slog"
	"sync"
	"time"
)

// warnEvery is how often a partition logs one kind of warning at most (a producer snapshot
// that cannot be saved on a full disk would otherwise be logged every maintenance run).
const warnEvery = time.Minute

type warnState struct {
	at         time.Time
	suppressed int
}

// warnLimiter logs a warning per key at most once per warnEvery, counting the ones left
// out. The zero value is ready to use.
type warnLimiter struct {
	mu     sync.Mutex
	warned map[string]warnState
}

func (w *warnLimiter) warn(l *slog.Logger, key, msg string, args ...any) {
	now := time.Now()
	w.mu.Lock()
	if w.warned == nil {
		w.warned = map[string]warnState{}
	}
	st := w.warned[key]
	if !st.at.IsZero() && now.Sub(st.at) < warnEvery {
		st.suppressed++
		w.warned[key] = st
		w.mu.Unlock()
		return
	}
	w.warned[key] = warnState{at: now}
	w.mu.Unlock()
	if st.suppressed > 0 {
		args = append(args, "suppressed_since_last", st.suppressed)
	}
	l.Warn(msg, args...)
}
