package tiering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/strata-io/strata/segment"
)

// ReadError is a failed read of a remote segment: which object, where, and the offset the
// data there should have held. Err wraps segment.ErrCorrupt for damaged data (a batch that
// fails its CRC-32C or the checks against the manifest entry) and is the store's error for
// an object the store did not return.
type ReadError struct {
	Key      string // the object read
	Position int64  // byte position in the object of the batch that failed (0 for an index)
	Offset   int64  // the offset the batch at Position should start at (the read's offset for an index)
	Err      error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("remote segment %q at %d (offset %d): %v", e.Key, e.Position, e.Offset, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// readErrorLogEvery is the least time between two log lines of one partition about failed
// remote reads; the lines held back are counted in the next one. A consumer retrying a
// damaged batch asks every few hundred milliseconds.
const readErrorLogEvery = 10 * time.Second

// logLimiter lets one line through per interval and counts those it held back.
type logLimiter struct {
	mu   sync.Mutex
	next time.Time
	held int
}

// allow reports whether a line may be logged at now and, if so, how many were held back
// since the last one.
func (l *logLimiter) allow(now time.Time, every time.Duration) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.held++
		return false, 0
	}
	held, l.held, l.next = l.held, 0, now.Add(every)
	return true, held
}

// logReadError logs a failed remote read with the partition (from p.log), the object key,
// position and offset: corrupt data at ERROR, an unreadable object at WARN, at most once
// per readErrorLogEvery. Reads the caller gave up on (ctx done) and offsets out of range
// are not logged.
func (p *RemotePartition) logReadError(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, segment.ErrOffsetOutOfRange) {
		return
	}
	ok, held := p.readErrLog.allow(time.Now(), readErrorLogEvery)
	if !ok {
		return
	}
	level, msg := slog.LevelWarn, "cannot read remote segment"
	if errors.Is(err, segment.ErrCorrupt) {
		level, msg = slog.LevelError, "corrupt remote segment: the batch is not served"
	}
	attrs := []any{"err", err}
	var re *ReadError
	if errors.As(err, &re) {
		attrs = []any{"object", re.Key, "position", re.Position, "offset", re.Offset, "err", re.Err}
	}
	if held > 0 {
		attrs = append(attrs, "suppressed", held)
	}
	p.log.Log(context.Background(), level, msg, attrs...)
}
