package tiering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

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

// Failed remote reads of one partition are logged as a token bucket allows: a burst of
// readErrorLogBurst lines, then one per readErrorLogEvery; a failure at the same object
// and offset as the last line logged is not logged again within readErrorLogEvery (a
// consumer retrying a damaged batch asks every few hundred milliseconds). The lines held
// back are counted in the next one.
const (
	readErrorLogEvery = 10 * time.Second
	readErrorLogBurst = 10
)

// logLimiter decides which failed reads of a partition are logged.
type logLimiter struct {
	mu      sync.Mutex
	tokens  *rate.Limiter // made on first use
	lastKey string        // the object and offset of the last line logged, and when
	lastOff int64
	lastAt  time.Time
	held    int
}

// allow reports whether a failure at key and offset may be logged at now and, if so, how
// many were held back since the last line.
func (l *logLimiter) allow(now time.Time, key string, offset int64) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tokens == nil {
		l.tokens = rate.NewLimiter(rate.Every(readErrorLogEvery), readErrorLogBurst)
	}
	repeat := key == l.lastKey && offset == l.lastOff && now.Sub(l.lastAt) < readErrorLogEvery
	if repeat || !l.tokens.AllowN(now, 1) {
		l.held++
		return false, 0
	}
	held, l.held = l.held, 0
	l.lastKey, l.lastOff, l.lastAt = key, offset, now
	return true, held
}

// logReadError logs a failed remote read with the partition (from p.log), the object key,
// position and offset: corrupt data and missing objects at ERROR, an unreadable object at WARN, as logLimiter
// allows. Reads the caller gave up on (ctx done) and offsets out of range
// are not logged.
func (p *RemotePartition) logReadError(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, segment.ErrOffsetOutOfRange) {
		return
	}
	attrs := []any{"err", err}
	key, offset := "", int64(-1)
	var re *ReadError
	if errors.As(err, &re) {
		key, offset = re.Key, re.Offset
		attrs = []any{"object", re.Key, "position", re.Position, "offset", re.Offset, "err", re.Err}
	}
	ok, held := p.readErrLog.allow(time.Now(), key, offset)
	if !ok {
		return
	}
	level, msg := slog.LevelWarn, "cannot read remote segment"
	switch {
	case errors.Is(err, segment.ErrCorrupt):
		level, msg = slog.LevelError, "corrupt remote segment: the batch is not served"
	case errors.Is(err, ErrNotExist):
		// Objects a manifest names are never overwritten and deleted only after the
		// manifest stops naming them: a missing one was lost or removed behind the broker.
		level, msg = slog.LevelError, "remote segment object missing: the manifest names it"
	}
	if held > 0 {
		attrs = append(attrs, "suppressed", held)
	}
	p.log.Log(context.Background(), level, msg, attrs...)
}
