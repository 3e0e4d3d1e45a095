package tiering_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering"
)

// gatedStore holds every GET of a segment data object past offset 0 until open is closed.
type gatedStore struct {
	tiering.ObjectStore
	open chan struct{}
}

func (s *gatedStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if strings.HasSuffix(key, ".log") && off > 0 {
		select {
		case <-s.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.ObjectStore.GetRange(ctx, key, off, n)
}

// A ReadyOnly read returns, without waiting, the whole batches that lie in chunks already
// cached once it has one; a plain read of the same offset waits for the GETs of the other
// chunks and returns up to maxBytes. Both are exact prefixes of the local log.
func TestReadyOnlyReadReturnsCachedBatches(t *testing.T) {
	store := &gatedStore{ObjectStore: newMem(), open: make(chan struct{})}
	cfg := testConfig() // 1000-byte chunks
	e := newEnv(t, store, cfg)
	l := openLog(t, t.TempDir(), 1<<20)
	produce(t, l, 200, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "ready", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	local := localBytes(t, l, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r, err := p.ReadRecords(ctx, 0, 5000, true, tiering.ReadOptions{ReadyOnly: true}) // chunk 0 only can be loaded
	if err != nil {
		t.Fatal(err)
	}
	b := checkRecords(t, r)
	if len(b) == 0 || len(b) > 1000 || !bytes.Equal(b, local[:len(b)]) {
		t.Fatalf("ready-only read: %d bytes (a prefix of the log within chunk 0 wanted)", len(b))
	}
	if _, _, size, _ := tiering.BatchBounds(local[len(b):]); len(b)+int(size) <= 1000 {
		t.Fatalf("ready-only read stopped at %d before a batch that ends in chunk 0", len(b))
	}
	done := make(chan []byte)
	go func() {
		r, err := p.ReadRecords(ctx, 0, 5000, true, tiering.ReadOptions{})
		if err != nil {
			t.Error(err)
		}
		done <- checkRecords(t, r)
	}()
	select {
	case <-done:
		t.Fatal("a plain read did not wait for the chunks being loaded")
	case <-time.After(50 * time.Millisecond):
	}
	close(store.open)
	full := <-done
	if len(full) <= 4000 || !bytes.Equal(full, local[:len(full)]) {
		t.Fatalf("plain read: %d bytes, want a prefix of the log of more than 4000", len(full))
	}
}
