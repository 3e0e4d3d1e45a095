package tiering_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/tiering"
)

// rangeStore records the ranges of the GETs of segment data objects.
type rangeStore struct {
	tiering.ObjectStore
	mu     sync.Mutex
	ranges map[string][][2]int64 // key -> (off, length)
}

func (s *rangeStore) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if strings.HasSuffix(key, ".log") {
		s.mu.Lock()
		s.ranges[key] = append(s.ranges[key], [2]int64{off, length})
		s.mu.Unlock()
	}
	return s.ObjectStore.GetRange(ctx, key, off, length)
}

// A sequential reader's read-ahead fetches the chunks of a segment with one GET per aligned
// run of 4 chunks (the first read's own chunks excepted), never fetches a byte twice, and
// reads the same bytes as the local log.
func TestSequentialReadAheadGetsAlignedRuns(t *testing.T) {
	rs := &rangeStore{ObjectStore: newMem(), ranges: make(map[string][][2]int64)}
	c, err := cache.New(cache.Config{MaxBytes: 8 << 20, IndexMaxBytes: 1 << 20, ReadAheadConcurrency: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := testConfig() // 1000-byte chunks
	m, err := tiering.NewManager(cfg, rs, c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, t.TempDir(), 64<<10)
	produce(t, l, 3000, 0)
	l.Roll()
	p, err := m.OpenPartitionLocal(t.Context(), "runs", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	clear(rs.ranges)
	rs.mu.Unlock()
	const cb, run = 1000, 4
	_, end, _ := p.Bounds()
	var got []byte
	for off := int64(0); off < end; {
		b, err := p.Read(t.Context(), off, 2*cb, true) // read-ahead of 4 chunks: runs of 4
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
		off = lastOffsetOf(t, b) + 1
		time.Sleep(time.Millisecond) // let the read-ahead start, as a consumer's round trip does
	}
	if !bytes.Equal(got, localBytes(t, l, 0)) {
		t.Fatal("remote bytes differ from the local log")
	}
	time.Sleep(20 * time.Millisecond) // the last read-ahead
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var gets, runs int
	for _, e := range p.Entries() {
		fetched := make([]bool, (e.Size+cb-1)/cb)
		for _, r := range rs.ranges[e.Log.Key] {
			gets++
			off, n := r[0], r[1]
			if off%cb != 0 || (off+n != e.Size && n%cb != 0) {
				t.Fatalf("GET [%d, +%d) of %q is not whole chunks", off, n, e.Log.Key)
			}
			first, last := off/cb, (off+n-1)/cb
			if first/run != last/run {
				t.Fatalf("GET of chunks %d..%d crosses an aligned run of %d", first, last, run)
			}
			if n > cb {
				runs++
			}
			for ci := first; ci <= last; ci++ {
				if fetched[ci] {
					t.Fatalf("chunk %d of %q fetched twice", ci, e.Log.Key)
				}
				fetched[ci] = true
			}
		}
	}
	var chunks int64
	for _, e := range p.Entries() {
		chunks += (e.Size + cb - 1) / cb
	}
	t.Logf("%d chunks of %d segments: %d GETs, %d of several chunks", chunks, len(p.Entries()), gets, runs)
	// Aligned runs of 4, plus at most a partial run at each segment's start and end and
	// the first read's own chunks.
	if limit := int(chunks)/run + 2*len(p.Entries()) + 4; gets > limit {
		t.Fatalf("%d GETs for %d chunks, want at most %d", gets, chunks, limit)
	}
}
