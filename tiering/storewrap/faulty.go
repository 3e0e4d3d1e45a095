package storewrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/tiering"
)

// ErrInjected is the error Faulty injects. Match with errors.Is.
var ErrInjected = errors.New("storewrap: injected fault")

// FaultConfig describes the faults a FaultyStore injects. The zero value injects nothing.
type FaultConfig struct {
	// Seed makes the sequence of injected faults reproducible (for one goroutine's order of
	// calls); default 0.
	Seed uint64
	// ErrorRate is the probability, per Op, that a call fails with ErrInjected without
	// reaching the wrapped store; default none.
	ErrorRate map[Op]float64
	// Latency is added before every call (honouring ctx); default 0.
	Latency time.Duration
	// LoseResponseAfterPut is the probability that a Put or PutIf that succeeded in the
	// wrapped store still returns ErrInjected, as when S3 applies a write but the response
	// is lost; default 0.
	LoseResponseAfterPut float64
	// BodyErrorRate is the probability that a GetRange body fails with ErrInjected after
	// yielding half of its bytes; default 0.
	BodyErrorRate float64
	// Hook, when set, runs before every call; a non-nil error fails the call with it (for
	// targeted faults, e.g. only on manifest keys). Default nil.
	Hook func(op Op, key string) error
}

// FaultyStore injects faults into calls to a wrapped store. PutIf fails with
// errors.ErrUnsupported when the wrapped store is not a tiering.ConditionalPutter.
type FaultyStore struct {
	s    tiering.ObjectStore
	down atomic.Bool

	mu    sync.Mutex
	cfg   FaultConfig
	rng   *rand.Rand
	calls map[Op]int
	fails map[Op]int
}

var (
	_ tiering.ObjectStore       = (*FaultyStore)(nil)
	_ tiering.ConditionalPutter = (*FaultyStore)(nil)
)

// Faulty wraps s with the faults in cfg.
func Faulty(s tiering.ObjectStore, cfg FaultConfig) *FaultyStore {
	f := &FaultyStore{s: s, calls: map[Op]int{}, fails: map[Op]int{}}
	f.SetConfig(cfg)
	return f
}

// SetConfig replaces the fault configuration and reseeds the random source.
func (f *FaultyStore) SetConfig(cfg FaultConfig) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	f.rng = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5bd1e995))
}

// SetDown makes every call fail with ErrInjected (true) or restores normal service (false):
// an outage switch.
func (f *FaultyStore) SetDown(down bool) { f.down.Store(down) }

// Calls returns how many calls of op were made, and how many of them got an injected fault.
func (f *FaultyStore) Calls(op Op) (calls, injected int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op], f.fails[op]
}

// Unwrap returns the wrapped store.
func (f *FaultyStore) Unwrap() tiering.ObjectStore { return f.s }

// before applies latency and decides whether op fails up front.
func (f *FaultyStore) before(ctx context.Context, op Op, key string) error {
	f.mu.Lock()
	cfg := f.cfg
	f.calls[op]++
	fail := f.down.Load() || (cfg.ErrorRate[op] > 0 && f.rng.Float64() < cfg.ErrorRate[op])
	if fail {
		f.fails[op]++
	}
	f.mu.Unlock()
	if cfg.Latency > 0 {
		t := time.NewTimer(cfg.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if fail {
		return fmt.Errorf("%s %q: %w", op, key, ErrInjected)
	}
	if cfg.Hook != nil {
		if err := cfg.Hook(op, key); err != nil {
			f.mu.Lock()
			f.fails[op]++
			f.mu.Unlock()
			return err
		}
	}
	return nil
}

// chance draws with probability p, counting an injected fault for op when it hits.
func (f *FaultyStore) chance(op Op, p func(FaultConfig) float64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	pr := p(f.cfg)
	if pr <= 0 || f.rng.Float64() >= pr {
		return false
	}
	f.fails[op]++
	return true
}

func loseResponse(c FaultConfig) float64 { return c.LoseResponseAfterPut }
func bodyError(c FaultConfig) float64    { return c.BodyErrorRate }

// Put implements tiering.ObjectStore.
func (f *FaultyStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := f.before(ctx, OpPut, key); err != nil {
		return err
	}
	if err := f.s.Put(ctx, key, r, size); err != nil {
		return err
	}
	if f.chance(OpPut, loseResponse) {
		return fmt.Errorf("put %q: response lost after the write: %w", key, ErrInjected)
	}
	return nil
}

// PutIf implements tiering.ConditionalPutter.
func (f *FaultyStore) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	cp, ok := f.s.(tiering.ConditionalPutter)
	if !ok {
		return "", fmt.Errorf("storewrap: put_if %q: %w", key, errors.ErrUnsupported)
	}
	if err := f.before(ctx, OpPutIf, key); err != nil {
		return "", err
	}
	etag, err := cp.PutIf(ctx, key, r, size, ifMatch)
	if err != nil {
		return "", err
	}
	if f.chance(OpPutIf, loseResponse) {
		return "", fmt.Errorf("put_if %q: response lost after the write: %w", key, ErrInjected)
	}
	return etag, nil
}

// GetRange implements tiering.ObjectStore.
func (f *FaultyStore) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := f.before(ctx, OpGet, key); err != nil {
		return nil, err
	}
	rc, err := f.s.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	if !f.chance(OpGet, bodyError) {
		return rc, nil
	}
	// Fail after half of the range: the caller sees a prefix, then the error.
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	return &failingBody{data: b[:len(b)/2], key: key}, nil
}

type failingBody struct {
	data []byte
	key  string
}

func (b *failingBody) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, fmt.Errorf("get %q: body cut: %w", b.key, ErrInjected)
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

func (b *failingBody) Close() error { return nil }

// Stat implements tiering.ObjectStore.
func (f *FaultyStore) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	if err := f.before(ctx, OpStat, key); err != nil {
		return tiering.ObjectInfo{}, err
	}
	return f.s.Stat(ctx, key)
}

// List implements tiering.ObjectStore.
func (f *FaultyStore) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	if err := f.before(ctx, OpList, prefix); err != nil {
		return err
	}
	return f.s.List(ctx, prefix, fn)
}

// Delete implements tiering.ObjectStore.
func (f *FaultyStore) Delete(ctx context.Context, key string) error {
	if err := f.before(ctx, OpDelete, key); err != nil {
		return err
	}
	return f.s.Delete(ctx, key)
}
