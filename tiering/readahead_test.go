package tiering_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/tiering"
)

// The read-ahead of all partitions shares one budget, a quarter of the chunk cache: a
// consumer reading many tiered partitions gets read-ahead within it, not a full one per
// partition; once it does not cover every reader, each reader is held to an equal share
// as it reads on (none is left without); a reader that stops reading sequentially, or whose
// partition closes, gives its share back.
func TestReadAheadSharesABudget(t *testing.T) {
	const cb = 512
	c, err := cache.New(cache.Config{MaxBytes: 16 * cb, IndexMaxBytes: 1 << 20, ReadAheadConcurrency: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := testConfig()
	cfg.ChunkBytes = cb
	m, err := tiering.NewManager(cfg, newMem(), c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Budget: 16 chunks / 4 = 4 chunks. A reader of one chunk at a time wants its next
	// two (at most 16/8 = 2 chunks each): two readers fit; four get one chunk each.
	const budget, share = 4 * cb, cb
	var parts []*tiering.RemotePartition
	for i := range 4 {
		l := openLog(t, t.TempDir(), 4096)
		produce(t, l, 200, 0)
		l.Roll()
		p, err := m.OpenPartitionLocal(t.Context(), "share", testTopicID, int32(i), l, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.UploadPending(t.Context()); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	check := func(what string, want int64) {
		t.Helper()
		if got := m.ReadAheadHeld(); got != want {
			t.Fatalf("%s: %d bytes of read-ahead leased, want %d (budget %d)", what, got, want, budget)
		}
	}
	next := make([]int64, len(parts))
	read := func(i int) {
		t.Helper()
		b, err := parts[i].Read(t.Context(), next[i], cb, true)
		if err != nil || len(b) == 0 {
			t.Fatalf("partition %d read at %d: %d bytes, %v", i, next[i], len(b), err)
		}
		next[i] = lastOffsetOf(t, b) + 1
	}
	for i := range parts {
		read(i)
		if held := m.ReadAheadHeld(); held > budget {
			t.Fatalf("%d bytes leased after %d readers, over the budget %d", held, i+1, budget)
		}
	}
	check("four sequential readers", budget)
	for i := range parts { // each reads on: equal shares
		read(i)
	}
	for i := range parts {
		read(i)
	}
	for i, p := range parts {
		if got := p.ReadAheadLease(); got != share {
			t.Fatalf("reader %d holds %d bytes of read-ahead, want an equal share %d", i, got, share)
		}
	}
	check("four readers reading on", budget)
	// Partition 1's reader goes elsewhere (not sequential): its share goes back.
	if _, err := parts[1].Read(t.Context(), parts[1].Entries()[1].BaseOffset, cb, true); err != nil {
		t.Fatal(err)
	}
	check("a reader gone elsewhere", budget-share)
	m.ClosePartition("share", 0)
	check("a partition closed", budget-2*share)
	time.Sleep(20 * time.Millisecond) // the prefetches of the last reads
}

// The read-ahead never loads a segment at or past ReadOptions.Until (the partition's local
// log start: offsets read locally), and crosses into the next segment without it.
func TestReadAheadStopsAtUntil(t *testing.T) {
	for _, bounded := range []bool{true, false} {
		t.Run(fmt.Sprintf("bounded=%v", bounded), func(t *testing.T) {
			rs := &rangeStore{ObjectStore: newMem(), ranges: make(map[string][][2]int64)}
			cfg := testConfig()
			cfg.ChunkBytes = 512
			e := newEnv(t, rs, cfg)
			l := openLog(t, t.TempDir(), 4096)
			produce(t, l, 200, 0)
			l.Roll()
			p, err := e.m.OpenPartitionLocal(t.Context(), "until", testTopicID, 0, l, tiering.PartitionConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.UploadPending(t.Context()); err != nil {
				t.Fatal(err)
			}
			ents := p.Entries()
			o := tiering.ReadOptions{}
			if bounded {
				o.Until = ents[1].BaseOffset
			}
			for off := ents[0].BaseOffset; off <= ents[0].LastOffset; {
				r, err := p.ReadRecords(t.Context(), off, 300, true, o)
				if err != nil || r.Len() == 0 {
					t.Fatalf("read at %d: %d bytes, %v", off, r.Len(), err)
				}
				off = r.Next
			}
			if !bounded {
				waitFor(t, "next segment's first chunk prefetched", func() bool { return e.cache.HasChunk(ents[1].Log.Key, 0) })
				return
			}
			time.Sleep(50 * time.Millisecond) // a read-ahead would have started by now
			rs.mu.Lock()
			defer rs.mu.Unlock()
			for key, rg := range rs.ranges {
				if !strings.HasPrefix(key, strings.TrimSuffix(ents[0].Log.Key, ".log")) {
					t.Fatalf("GETs %v of %q, a segment at or past Until %d", rg, key, o.Until)
				}
			}
		})
	}
}
