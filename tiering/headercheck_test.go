package tiering_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// headerDamage are changes to the bytes of a batch header that its CRC-32C does not see
// (bytes 0-20), or that change the framing, as TestRemoteReadChecksBatchHeaders applies them.
var headerDamage = []struct {
	name string
	hit  func(b []byte) // b starts at the damaged batch
}{
	{"base offset +1", func(b []byte) { addInt64(b[0:], 1) }},
	{"base offset -2", func(b []byte) { addInt64(b[0:], -2) }},
	{"base offset high byte", func(b []byte) { b[1] ^= 0x01 }},
	{"batch length +1", func(b []byte) { addInt32(b[8:], 1) }},
	{"batch length -1", func(b []byte) { addInt32(b[8:], -1) }},
	{"batch length high byte", func(b []byte) { b[8] ^= 0x40 }},
	{"partition leader epoch high byte", func(b []byte) { b[12] ^= 0x7f }},
	{"partition leader epoch low byte", func(b []byte) { b[15] ^= 0x01 }},
	{"magic", func(b []byte) { b[16] = 1 }},
	{"crc", func(b []byte) { b[20] ^= 0x01 }},
	{"last offset delta +1", func(b []byte) { addInt32(b[23:], 1) }},
	{"last offset delta high byte", func(b []byte) { b[23] ^= 0x40 }},
}

func addInt64(b []byte, d int64) {
	binary.BigEndian.PutUint64(b, uint64(int64(binary.BigEndian.Uint64(b))+d))
}

func addInt32(b []byte, d int32) {
	binary.BigEndian.PutUint32(b, uint32(int32(binary.BigEndian.Uint32(b))+d))
}

// TestRemoteReadChecksBatchHeaders damages, one at a time, each header field of the first,
// a middle and the last batch of a remote segment and reads the partition from its start
// as a consumer does. The batches before the damaged one are served as they were uploaded;
// the damaged one and everything after it are not (the read at its offset fails with
// segment.ErrCorrupt, every time), and an ERROR line names the object and the offset.
// The SHA-256 check is off: it would refuse the whole chunk holding the damage before
// the header checks see it (TestTamperedChunkRefused covers that); these checks are what
// protects entries uploaded before the hashes existed.
func TestRemoteReadChecksBatchHeaders(t *testing.T) {
	store := newMem()
	cfg := testConfig()
	cfg.SkipHashCheck = true
	e := newEnv(t, store, cfg)
	l := openLog(t, t.TempDir(), 1<<20)
	produce(t, l, 12, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "hdr", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, entries, err := tiering.ReadPartitionManifest(t.Context(), store, "", "hdr", testTopicID, 0)
	if err != nil || len(entries) != 1 {
		t.Fatalf("manifest: %d entries, %v", len(entries), err)
	}
	key := entries[0].Log.Key
	orig, _ := store.Bytes(key)
	var batchPos, batchBase []int64
	for pos := int64(0); pos < int64(len(orig)); {
		base, _, size, err := tiering.BatchBounds(orig[pos:])
		if err != nil {
			t.Fatal(err)
		}
		batchPos, batchBase = append(batchPos, pos), append(batchBase, base)
		pos += size
	}
	n := len(batchPos)
	for _, k := range []int{0, n / 2, n - 1} {
		for _, d := range headerDamage {
			t.Run(fmt.Sprintf("batch %d/%s", k, d.name), func(t *testing.T) {
				rotten := bytes.Clone(orig)
				d.hit(rotten[batchPos[k]:])
				if err := store.Put(t.Context(), key, bytes.NewReader(rotten), int64(len(rotten))); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = store.Put(t.Context(), key, bytes.NewReader(orig), int64(len(orig))) })
				var logs syncBuffer
				p2 := openLogged(t, store, cfg, &logs)
				var served []byte
				off := batchBase[0]
				for {
					r, err := p2.ReadRecords(t.Context(), off, 1<<20, true, tiering.ReadOptions{})
					if err != nil {
						if !errors.Is(err, segment.ErrCorrupt) {
							t.Fatalf("read at %d: %v, want a segment.ErrCorrupt error", off, err)
						}
						break
					}
					if r.Len() == 0 {
						t.Fatalf("read at %d: nothing and no error", off)
					}
					served = r.AppendTo(served)
					off = r.Next
				}
				if !bytes.Equal(served, orig[:batchPos[k]]) {
					t.Fatalf("served %d bytes up to offset %d; want exactly the %d bytes of the %d batches before the damaged one",
						len(served), off, batchPos[k], k)
				}
				if off != batchBase[k] {
					t.Fatalf("the failing read is at offset %d, want the damaged batch's %d", off, batchBase[k])
				}
				if _, err := p2.ReadRecords(t.Context(), off, 1<<20, true, tiering.ReadOptions{}); !errors.Is(err, segment.ErrCorrupt) {
					t.Fatalf("second read at %d: %v, want segment.ErrCorrupt again", off, err)
				}
				line := logs.String()
				for _, want := range []string{"level=ERROR", "topic=hdr", "partition=0", "object=" + key, fmt.Sprintf("offset=%d", batchBase[k])} {
					if !strings.Contains(line, want) {
						t.Fatalf("log %q lacks %q", line, want)
					}
				}
				if c := strings.Count(line, "level=ERROR"); c != 1 {
					t.Fatalf("%d ERROR lines for two failed reads, want 1 (rate limited):\n%s", c, line)
				}
			})
		}
	}
}

// openLogged opens partition 0 of "hdr" read-only with a fresh cache and a manager that
// logs to w.
func openLogged(t *testing.T, store tiering.ObjectStore, cfg tiering.Config, w *syncBuffer) *tiering.RemotePartition {
	t.Helper()
	c, err := cache.New(cache.Config{MaxBytes: 8 << 20, IndexMaxBytes: 1 << 20, ReadAheadConcurrency: 64, Metrics: cache.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m, err := tiering.NewManager(cfg, store, c, slog.New(slog.NewTextHandler(w, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.OpenPartitionLocal(t.Context(), "hdr", testTopicID, 0, nil, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
