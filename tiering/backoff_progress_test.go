package tiering_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/tiering"
)

// flakyEvery fails the first Put of every segment's .log object once: every upload pass
// uploads one segment, then fails on the next.
type flakyEvery struct {
	tiering.ObjectStore
	mu     sync.Mutex // stores are used concurrently (several segments upload at once)
	failed map[string]bool
	fails  atomic.Int64
}

func (s *flakyEvery) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if strings.HasSuffix(key, ".log") {
		base := key[strings.LastIndex(key, "/")+1:][:20] // <baseOffset %020d>-<uuid>.log
		s.mu.Lock()
		first := !s.failed[base]
		s.failed[base] = true
		s.mu.Unlock()
		if first {
			s.fails.Add(1)
			return errInjected
		}
	}
	return s.ObjectStore.Put(ctx, key, r, size)
}

func (s *flakyEvery) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	return s.ObjectStore.(tiering.ConditionalPutter).PutIf(ctx, key, r, size, ifMatch)
}

// Regression (test/reliability, faulty store): a pass that uploaded segments before
// failing kept doubling the backoff as if the bucket were down, so a flaky bucket stalled
// uploads at RetryMaxBackoff while the backlog grew. Progress resets the backoff.
func TestUploadBackoffResetsOnProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &flakyEvery{ObjectStore: newMem(), failed: map[string]bool{}}
		c, err := cache.New(cache.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cfg := tiering.Config{RetryBackoff: 100 * time.Millisecond, RetryMaxBackoff: 30 * time.Second,
			CheckInterval: time.Hour, OrphanSweepInterval: -1}
		m, err := tiering.NewManager(cfg, st, c, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := newMemLog(12, 5)
		p, err := m.OpenPartitionLocal(t.Context(), "flaky", testTopicID, 0, l, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx) }()
		// Each segment fails once, then uploads on the retry 100 ms later (the pass before
		// made progress): 12 segments in about 1.2 s. Without the reset the waits double
		// to 0.1+0.2+...+30 s and the last segments need minutes.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		for _, s := range l.segs[:12] {
			if !p.Uploaded(s) {
				t.Fatalf("segment %d not uploaded after 2 s (%d failures so far): backoff grew despite progress", s.BaseOffset, st.fails.Load())
			}
		}
		cancel()
		<-done
	})
}
