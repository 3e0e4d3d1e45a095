package tiering_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// checkRecords fails unless r is well formed: Ends ascending, ending at the byte count of
// Bufs, each End on a batch boundary of the bytes.
func checkRecords(t *testing.T, r tiering.Records) []byte {
	t.Helper()
	b := r.AppendTo(nil)
	if len(b) != r.Len() {
		t.Fatalf("bufs hold %d bytes, Len %d", len(b), r.Len())
	}
	pos := 0
	for i, end := range r.Ends {
		_, _, size, err := tiering.BatchBounds(b[pos:])
		if err != nil || pos+int(size) != end {
			t.Fatalf("batch %d: at %d size %d, Ends says %d (%v)", i, pos, size, end, err)
		}
		pos = end
	}
	for i, buf := range r.Bufs {
		if len(buf) == 0 {
			t.Fatalf("empty slice %d", i)
		}
		if cap(buf) != len(buf) {
			// An append to it would write into the cached chunk behind it.
			t.Fatalf("slice %d has capacity %d beyond its %d bytes", i, cap(buf), len(buf))
		}
	}
	return b
}

// ReadRecords returns the bytes Read returns, as slices of the cached chunks (batches
// straddle the 1000-byte chunks, so some batches span two slices), and Trim cuts them at
// batch boundaries.
func TestReadRecordsMatchesRead(t *testing.T) {
	e := newEnv(t, newMem(), testConfig())
	l := openLog(t, t.TempDir(), 4096)
	produce(t, l, 200, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "vec", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, end, _ := p.Bounds()
	spans := 0
	for _, maxBytes := range []int{1, 300, 2500, 1 << 20} {
		for off := int64(0); off < end; off += 5 {
			r, err := p.ReadRecords(t.Context(), off, maxBytes, true, tiering.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := checkRecords(t, r)
			want, err := p.Read(t.Context(), off, maxBytes, true)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || len(want) == 0 {
				t.Fatalf("offset %d max %d: ReadRecords %d bytes, Read %d", off, maxBytes, len(got), len(want))
			}
			if len(r.Bufs) > len(r.Ends) {
				spans++
			}
			for _, limit := range []int{0, 1, r.Len() / 2, r.Len() - 1, r.Len()} {
				for _, minOne := range []bool{false, true} {
					tr := r.Trim(limit, minOne)
					tb := checkRecords(t, tr)
					if !bytes.HasPrefix(got, tb) || (tr.Len() > limit && !(minOne && len(tr.Ends) == 1)) {
						t.Fatalf("Trim(%d, %v) of %d bytes: %d bytes", limit, minOne, r.Len(), tr.Len())
					}
					if minOne && len(tr.Ends) == 0 {
						t.Fatalf("Trim(%d, true) dropped the first batch", limit)
					}
				}
			}
			// Trim never writes to the Records it cuts (they may be shared).
			if again := r.AppendTo(nil); !bytes.Equal(again, got) {
				t.Fatal("Trim modified its receiver")
			}
		}
	}
	if spans == 0 {
		t.Fatal("no read had a batch spanning two chunks")
	}
}

// Records keep their bytes after the chunks they alias are evicted from the cache and
// the cache has loaded others: cached chunks are never recycled.
func TestRecordsSurviveEviction(t *testing.T) {
	c, err := cache.New(cache.Config{MaxBytes: 16 << 10, IndexMaxBytes: 1 << 20}) // 16 chunks
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m, err := tiering.NewManager(testConfig(), newMem(), c, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, t.TempDir(), 64<<10)
	produce(t, l, 3000, 0)
	l.Roll()
	p, err := m.OpenPartitionLocal(t.Context(), "evict", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, err := p.ReadRecords(t.Context(), 0, 10_000, true, tiering.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(checkRecords(t, r))
	_, end, _ := p.Bounds()
	b0 := localBytes(t, l, 0)
	loads, _ := c.Loads()
	for range 3 { // several passes over far more than the cache budget
		for off := int64(0); off < end; {
			b, err := p.Read(t.Context(), off, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			off = lastOffsetOf(t, b) + 1
		}
	}
	if after, _ := c.Loads(); after-loads < 2*int64(len(b0)/1000) { // each pass after the first reloads
		t.Fatalf("only %d chunk loads over 3 passes of %d bytes: nothing was evicted", after-loads, len(b0))
	}
	if got := r.AppendTo(nil); !bytes.Equal(got, want) {
		t.Fatal("records changed after their chunks were evicted")
	}
}

func TestRecordsOf(t *testing.T) {
	l := openLog(t, t.TempDir(), 1<<20)
	produce(t, l, 20, 0)
	b := localBytes(t, l, 0)
	r := tiering.RecordsOf(b)
	if len(r.Ends) != 20 || !bytes.Equal(checkRecords(t, r), b) {
		t.Fatalf("RecordsOf: %d batches, %d bytes of %d", len(r.Ends), r.Len(), len(b))
	}
	// A torn tail is left out.
	if r := tiering.RecordsOf(b[:len(b)-3]); len(r.Ends) != 19 {
		t.Fatalf("torn tail: %d batches", len(r.Ends))
	}
	if r := tiering.RecordsOf(nil); r.Len() != 0 || len(r.Bufs) != 0 {
		t.Fatal("RecordsOf(nil) not empty")
	}
}

// slowGetStore makes every GetRange take a while and records how many ran at once.
type slowGetStore struct {
	tiering.ObjectStore
	mu       sync.Mutex
	cur, max int
	gets     map[string]int // by key and offset
}

func (s *slowGetStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	s.mu.Lock()
	s.cur++
	s.gets[fmt.Sprintf("%s@%d", key, off)]++
	s.max = max(s.max, s.cur)
	s.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	s.mu.Lock()
	s.cur--
	s.mu.Unlock()
	return s.ObjectStore.GetRange(ctx, key, off, n)
}

// A sequential read needing several chunks loads them in parallel (read-ahead starts
// before the read), not one GET after another; each chunk is still fetched once.
func TestSequentialReadLoadsItsChunksInParallel(t *testing.T) {
	store := &slowGetStore{ObjectStore: newMem(), gets: map[string]int{}}
	cfg := testConfig()
	cfg.ChunkBytes = 512
	e := newEnv(t, store, cfg)
	l := openLog(t, t.TempDir(), 1<<20)
	produce(t, l, 200, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "par", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	ent := p.Entries()[0]
	store.mu.Lock()
	store.max, store.gets = 0, map[string]int{}
	store.mu.Unlock()
	b, err := p.Read(t.Context(), ent.BaseOffset, 2048, true) // 4 chunks, from the start
	if err != nil || len(b) < 1536 {
		t.Fatalf("read %d bytes: %v", len(b), err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.max < 2 {
		t.Fatalf("at most %d GET at once for a read of 4 chunks", store.max)
	}
	for k, n := range store.gets {
		if n > 1 {
			t.Fatalf("%s fetched %d times", k, n)
		}
	}
}

// Every batch a remote read returns has its CRC-32C checked, however the chunks cut it:
// with 64-byte chunks the header, the CRC field and the first covered byte (21) of some
// batch fall on a chunk boundary. A flipped bit anywhere in the covered bytes of any
// batch fails ReadRecords (so Read and the partition's reads too) with ErrCorrupt.
func TestEveryRemoteBatchIsCRCChecked(t *testing.T) {
	store := newMem()
	cfg := testConfig()
	cfg.ChunkBytes = 64
	e := newEnv(t, store, cfg)
	l := openLog(t, t.TempDir(), 1<<20)
	produce(t, l, 12, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "crc", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, entries, err := tiering.ReadPartitionManifest(t.Context(), store, "", "crc", testTopicID, 0)
	if err != nil || len(entries) != 1 {
		t.Fatalf("manifest: %d entries, %v", len(entries), err)
	}
	key := entries[0].Log.Key
	orig, _ := store.Bytes(key)
	put := func(b []byte) {
		t.Helper()
		if err := store.Put(t.Context(), key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	cases := 0
	for pos := int64(0); pos < int64(len(orig)); {
		base, _, size, err := tiering.BatchBounds(orig[pos:])
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []int64{21, 22, 40, 60, 61, size / 2, size - 1} {
			rotten := bytes.Clone(orig)
			rotten[pos+q] ^= 0x01
			put(rotten)
			e2 := newEnv(t, store, cfg) // a fresh cache
			p2, err := e2.m.OpenPartitionLocal(t.Context(), "crc", testTopicID, 0, nil, tiering.PartitionConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := p2.ReadRecords(t.Context(), base, 1<<20, true, tiering.ReadOptions{}); !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("batch at %d (offset %d, %d bytes), byte %d flipped: %d bytes returned, error %v",
					pos, base, size, q, r.Len(), err)
			}
			cases++
		}
		pos += size
	}
	put(orig)
	if cases < 12*5 {
		t.Fatalf("only %d cases", cases)
	}
}
