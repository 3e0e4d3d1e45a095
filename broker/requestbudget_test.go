package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"
)

func TestRequestBudget(t *testing.T) {
	const limit = 1600 // large: over 100 bytes; large frames share 800
	g := newRequestBudget(limit)
	get := func(n int64) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := g.acquire(ctx, n)
		return err == nil
	}
	// Large frames: admitted while large ones hold less than half the budget, so the
	// second overshoots the half (non-strict, as Kafka's pool) and the third waits.
	if !get(700) || !get(700) || get(100+1) {
		t.Fatalf("large frames: used %d large %d", g.used, g.large)
	}
	// Small frames still get in, up to the whole budget plus one frame.
	if !get(100) || !get(100) || g.used != 1600 || get(1) {
		t.Fatalf("small frames: used %d large %d", g.used, g.large)
	}
	// A frame larger than the whole budget is admitted when nothing else is held.
	g.give(1600, 1400)
	if !get(5000) || g.used != 5000 {
		t.Fatalf("frame over the budget: used %d", g.used)
	}
	// A waiter is woken by give.
	done := make(chan error, 1)
	go func() { _, err := g.acquire(context.Background(), 10); done <- err }()
	select {
	case <-done:
		t.Fatal("acquired while the budget was used up")
	case <-time.After(20 * time.Millisecond):
	}
	g.give(5000, 5000)
	if err := <-done; err != nil || g.used != 10 || g.large != 0 {
		t.Fatalf("after give: %v used %d large %d", err, g.used, g.large)
	}
	// Unlimited budgets never wait.
	if _, err := newRequestBudget(-1).acquire(context.Background(), 1<<40); err != nil {
		t.Fatal(err)
	}
}

func TestConnBudgetReleaseAll(t *testing.T) {
	g := newRequestBudget(1600)
	c := &connBudget{g: g}
	for _, n := range []int64{700, 50, 60} {
		if err := c.acquire(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	c.release(50)
	c.releaseAll()
	if g.used != 0 || g.large != 0 {
		t.Fatalf("after releaseAll: used %d large %d", g.used, g.large)
	}
}

// oneByteReader returns at most one byte per Read, then err.
type oneByteReader struct {
	b   []byte
	err error
}

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func TestReadFrameBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB: grows past frameChunk twice
	got, err := readFrameBody(bytes.NewReader(body), len(body))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("whole body: %v (%d bytes)", err, len(got))
	}
	got, err = readFrameBody(&oneByteReader{b: []byte("abc"), err: io.EOF}, 3)
	if err != nil || string(got) != "abc" {
		t.Fatalf("byte by byte: %q %v", got, err)
	}
	// A declared size far beyond what arrives allocates for what arrived, not the size.
	_, err = readFrameBody(&oneByteReader{b: []byte("abc"), err: io.EOF}, 100<<20)
	if !errors.Is(err, errFrameIncomplete) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut frame: %v", err)
	}
	var ms1, ms2 runtimeMem
	ms1.read()
	readFrameBody(&oneByteReader{b: []byte("abc"), err: io.EOF}, 100<<20)
	ms2.read()
	if d := ms2.total - ms1.total; d > 2*frameChunk {
		t.Fatalf("a 3-byte prefix of a 100 MiB frame allocated %d bytes", d)
	}
}

type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.total = ms.TotalAlloc
}

// TestQueuedMaxRequestBytesConfig: as in Kafka, the budget must hold the largest frame.
func TestQueuedMaxRequestBytesConfig(t *testing.T) {
	f := func(budget, maxFrame string, ok bool) {
		t.Helper()
		_, err := ParseConfig(map[string]string{"queued.max.request.bytes": budget, "socket.request.max.bytes": maxFrame})
		if (err == nil) != ok {
			t.Errorf("queued.max.request.bytes=%s socket.request.max.bytes=%s: %v", budget, maxFrame, err)
		}
	}
	f("268435456", "104857600", true)
	f("104857600", "104857600", true)
	f("-1", "104857600", true)
	f("1048576", "104857600", false)
	c, err := ParseConfig(nil)
	if err != nil || c.QueuedMaxRequestBytes != 256<<20 || c.RequestReadTimeout != 30*time.Second {
		t.Fatalf("defaults: %d %v %v", c.QueuedMaxRequestBytes, c.RequestReadTimeout, err)
	}
}
