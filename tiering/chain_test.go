package tiering_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// chainPartition uploads 60 batches in 400-byte segments (several 1000-byte hash blocks
// each, manifest spilled into chunks of 4), moves the log start twice (DeleteRecords and
// retention), and uploads 30 more batches, so the chain holds entries in chunks and in the
// head, deletions carried by entries and a deletion pending in the head.
func chainPartition(t *testing.T, store *memstore.Store, chunkEntries int) (*env, *tiering.RemotePartition, *segment.Log) {
	t.Helper()
	cfg := testConfig()
	cfg.ManifestChunkEntries = chunkEntries
	e := newEnv(t, store, cfg)
	l := openLog(t, t.TempDir(), 400)
	produce(t, l, 60, 1000)
	l.Roll()
	p, err := e.m.OpenPartition(t.Context(), "chain", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.SetLogStartOffset(t.Context(), p.Entries()[2].BaseOffset); err != nil {
		t.Fatal(err)
	}
	produce(t, l, 30, 5000)
	l.Roll()
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	cut := p.Entries()[1].MaxTimestamp + 1
	if _, err := p.ApplyRetention(t.Context(), time.Now().UnixMilli()-cut, -1, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	return e, p, l
}

func TestHashChainCoversUploadsAndDeletions(t *testing.T) {
	store := newMem()
	_, p, l := chainPartition(t, store, 4)
	head, all, breaks, err := tiering.ReadPartitionChain(t.Context(), store, "", "chain", testTopicID, 0)
	if err != nil || len(breaks) > 0 {
		t.Fatalf("chain: %v %v", breaks, err)
	}
	if head.Chain == nil || len(head.Deletions) != 1 || head.Deletions[0].Reason != "retention" {
		t.Fatalf("head: chain %v, pending deletions %+v; want the retention deletion pending", head.Chain, head.Deletions)
	}
	carried := 0
	for _, e := range all {
		if e.Log.SHA256 == "" || e.Index.SHA256 == "" || e.TimeIndex.SHA256 == "" || e.HashBlock != 1000 || e.ChainSeq == 0 {
			t.Fatalf("entry %d-%d lacks hashes or a link: %+v", e.BaseOffset, e.LastOffset, e)
		}
		if e.Size > 1000 && e.Hashes == nil {
			t.Fatalf("entry of %d bytes without a hash list", e.Size)
		}
		if e.Deletions != nil {
			carried++
			if d := (*e.Deletions)[0]; d.Reason != "log-start" || d.LogStartOffset <= d.FromOffset || d.Segments != 2 || d.LastDroppedSeq == 0 {
				t.Fatalf("carried deletion %+v", d)
			}
		}
	}
	if carried != 1 {
		t.Fatalf("%d entries carry deletions, want 1", carried)
	}
	if err := tiering.VerifyEntry(t.Context(), store, p.Entries()[0]); err != nil {
		t.Fatal(err)
	}
	// Reads check every chunk and pass.
	start, _, _ := p.Bounds()
	if !bytes.Equal(remoteBytes(t, p, start, 700), localBytes(t, l, start)[:len(remoteBytes(t, p, start, 700))]) {
		t.Fatal("remote bytes differ")
	}
	// A proof for an offset in the oldest live segment checks against the head, and
	// against nothing else.
	off := p.Entries()[0].BaseOffset + 1
	proof, err := tiering.BuildProof(head, all, off)
	if err != nil {
		t.Fatal(err)
	}
	if err := tiering.VerifyProof(proof, *head.Chain); err != nil {
		t.Fatalf("proof: %v", err)
	}
	b, _ := json.Marshal(proof)
	var round tiering.Proof
	if err := json.Unmarshal(b, &round); err != nil || tiering.VerifyProof(&round, *head.Chain) != nil {
		t.Fatalf("proof after JSON: %v", err)
	}
	other := *head.Chain
	other.Seq--
	if tiering.VerifyProof(proof, other) == nil {
		t.Fatal("proof checked against another head")
	}
	bad := *proof
	bad.Entry.MaxTimestamp++
	if tiering.VerifyProof(&bad, *head.Chain) == nil {
		t.Fatal("proof with a changed entry checked")
	}
	bad = *proof
	bad.Offset = bad.Entry.LastOffset + 1
	if tiering.VerifyProof(&bad, *head.Chain) == nil {
		t.Fatal("proof for an offset outside its segment checked")
	}
}

// editHead rewrites the partition head in the store.
func editHead(t *testing.T, store *memstore.Store, fn func(h *tiering.PartitionHead)) {
	t.Helper()
	key := tiering.PartitionPrefix("", "chain", testTopicID, 0) + tiering.HeadManifestName
	raw, ok := store.Bytes(key)
	if !ok {
		t.Fatal("no head")
	}
	var h tiering.PartitionHead
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	fn(&h)
	b, _ := json.Marshal(&h)
	if err := store.Put(t.Context(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// TestTamperedManifestRefused changes the manifest in the bucket as an attacker could,
// keeping it well-formed; the chain check names the break, and a broker opening the
// partition afresh refuses the segments the chain no longer vouches for (ErrCorrupt: the
// retriable KAFKA_STORAGE_ERROR) and still serves the others.
func TestTamperedManifestRefused(t *testing.T) {
	cases := []struct {
		name string
		edit func(h *tiering.PartitionHead)
		bad  int // index in h.Segments of a segment that must be refused
	}{
		{"timestamp changed", func(h *tiering.PartitionHead) { h.Segments[2].MaxTimestamp += 1000 }, 2},
		{"segment removed", func(h *tiering.PartitionHead) {
			h.Segments = append(h.Segments[:2], h.Segments[3:]...)
		}, 2},
		{"objects of two segments swapped", func(h *tiering.PartitionHead) {
			a, b := &h.Segments[2], &h.Segments[3]
			a.Log, b.Log = b.Log, a.Log
			a.Index, b.Index = b.Index, a.Index
		}, 2},
		{"newest segment changed with the head's chain kept", func(h *tiering.PartitionHead) {
			h.Segments[len(h.Segments)-1].Batches++
		}, -1},
		{"entry copied from another chain", func(h *tiering.PartitionHead) { h.Segments[3].ChainPrev = strings.Repeat("ab", 32) }, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := newMem()
			chainPartition(t, store, 64) // every entry in the head
			var want *tiering.SegmentEntry
			editHead(t, store, func(h *tiering.PartitionHead) {
				c.edit(h)
				i := c.bad
				if i < 0 {
					i = len(h.Segments) - 1
				}
				want = &h.Segments[i]
			})
			_, _, breaks, err := tiering.ReadPartitionChain(t.Context(), store, "", "chain", testTopicID, 0)
			if err != nil || len(breaks) == 0 {
				t.Fatalf("chain check found nothing (%v)", err)
			}
			t.Logf("first break: %v", breaks[0])
			e2 := newEnv(t, store, testConfig())
			p2, err := e2.m.OpenPartitionLocal(t.Context(), "chain", testTopicID, 0, nil, tiering.PartitionConfig{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p2.Read(t.Context(), want.BaseOffset, 1<<20, true)
			if !errors.Is(err, segment.ErrCorrupt) || !errors.Is(err, tiering.ErrChainBroken) {
				t.Fatalf("read of the tampered segment: %v, want a chain error wrapping segment.ErrCorrupt", err)
			}
			first := p2.Entries()[0]
			if _, err := p2.Read(t.Context(), first.BaseOffset, 1<<20, true); err != nil {
				t.Fatalf("read of an untouched segment: %v", err)
			}
			if n := e2.m.IntegrityMetric("chain"); n == 0 {
				t.Fatal("no chain failure counted")
			}
		})
	}
}

// TestTamperedChunkRefused flips a byte in the records of an uploaded segment and fixes
// the batch CRC-32C, so only the SHA-256 can tell: the chunk is refused on read (and not
// cached), counted, and VerifyEntry reports it.
func TestTamperedChunkRefused(t *testing.T) {
	store := newMem()
	e, p, _ := chainPartition(t, store, 4)
	victim := p.Entries()[1]
	orig, _ := store.Bytes(victim.Log.Key)
	b := bytes.Clone(orig)
	_, _, size, err := tiering.BatchBounds(b)
	if err != nil {
		t.Fatal(err)
	}
	b[size-1] ^= 0x20 // the last byte of the first batch's records
	binary.BigEndian.PutUint32(b[17:], segment.BatchCRC(b[:size]))
	if err := store.Put(t.Context(), victim.Log.Key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, store, testConfig())
	p2, err := e2.m.OpenPartitionLocal(t.Context(), "chain", testTopicID, 0, nil, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // and again: the bad chunk was not cached
		if _, err := p2.Read(t.Context(), victim.BaseOffset, 1<<20, true); !errors.Is(err, segment.ErrCorrupt) || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("read of the flipped chunk: %v, want a sha256 mismatch wrapping segment.ErrCorrupt", err)
		}
	}
	if e2.m.IntegrityMetric("chunk") == 0 {
		t.Fatal("no chunk failure counted")
	}
	if err := tiering.VerifyEntry(t.Context(), store, victim); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("VerifyEntry: %v", err)
	}
	// With the check off only the CRC path remains, and it cannot tell.
	cfg := testConfig()
	cfg.SkipHashCheck = true
	e3 := newEnv(t, store, cfg)
	p3, err := e3.m.OpenPartitionLocal(t.Context(), "chain", testTopicID, 0, nil, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p3.Read(t.Context(), victim.BaseOffset, 1<<20, true); err != nil {
		t.Fatalf("with SkipHashCheck: %v", err)
	}
	_ = e
}

// A reader whose ChunkBytes differs from the uploader's (a config change) checks its
// chunks against the whole hash blocks around them.
func TestHashCheckWithOtherChunkSize(t *testing.T) {
	store := newMem()
	_, p, l := chainPartition(t, store, 4)
	for _, cb := range []int64{700, 1500, 3000} {
		cfg := testConfig()
		cfg.ChunkBytes = cb
		e2 := newEnv(t, store, cfg)
		p2, err := e2.m.OpenPartitionLocal(t.Context(), "chain", testTopicID, 0, nil, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		start, _, _ := p.Bounds()
		got := remoteBytes(t, p2, start, 900)
		if want := localBytes(t, l, start); !bytes.Equal(got, want[:len(got)]) || len(got) == 0 {
			t.Fatalf("chunk bytes %d: remote bytes differ", cb)
		}
	}
}

// TestRolledBackManifestRefused puts an older manifest.json back (a replay): the broker
// that wrote the newer one finds its chain head missing when it opens the partition
// again, refuses remote reads and stops writing the partition; the orphan sweep does not
// delete the newer objects the old manifest does not name.
func TestRolledBackManifestRefused(t *testing.T) {
	store := newMem()
	dir := t.TempDir()
	e := newEnv(t, store, testConfig())
	l := openLog(t, dir, 400)
	produce(t, l, 30, 1000)
	l.Roll()
	p, err := e.m.OpenPartition(t.Context(), "chain", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	key := tiering.PartitionPrefix("", "chain", testTopicID, 0) + tiering.HeadManifestName
	old, _ := store.Bytes(key)
	produce(t, l, 30, 5000)
	l.Roll()
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.m.ClosePartition("chain", 0)
	if err := store.Put(t.Context(), key, bytes.NewReader(old), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	_, _, breaks, err := tiering.ReadPartitionChain(t.Context(), store, "", "chain", testTopicID, 0)
	if err != nil || len(breaks) != 0 {
		t.Fatalf("the old manifest's own chain: %v %v (it holds: a replay needs the head it no longer reaches)", breaks, err)
	}
	e2 := newEnv(t, store, testConfig())
	p2, err := e2.m.OpenPartition(t.Context(), "chain", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Read(t.Context(), p2.Entries()[0].BaseOffset, 1<<20, true); !errors.Is(err, segment.ErrCorrupt) || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("read after a rollback: %v", err)
	}
	if !p2.Fenced() || e2.m.IntegrityMetric("rollback") != 1 {
		t.Fatalf("fenced %v, rollback metric %v", p2.Fenced(), e2.m.IntegrityMetric("rollback"))
	}
	if _, err := p2.SweepOrphans(t.Context(), time.Now().Add(48*time.Hour)); err == nil {
		t.Fatal("orphans swept from a rolled-back manifest")
	}
}

// A manifest of brokers before the chain (version 1: no hashes, no links) is read as
// before; the next uploads start the chain at link 1, which verifies; the old entries are
// read with the CRC checks only.
func TestChainStartsOnLegacyManifest(t *testing.T) {
	store := newMem()
	cfg := testConfig()
	cfg.ManifestChunkEntries = 64 // every entry in the head
	e := newEnv(t, store, cfg)
	l := openLog(t, t.TempDir(), 400)
	produce(t, l, 20, 1000)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "chain", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.m.ClosePartition("chain", 0)
	legacy := len(p.Entries())
	editHead(t, store, func(h *tiering.PartitionHead) { // what a version-1 broker wrote
		h.Version, h.Chain, h.Deletions = 1, nil, nil
		for i := range h.Segments {
			s := &h.Segments[i]
			s.Hashes, s.HashBlock, s.ChainSeq, s.ChainPrev, s.Deletions = nil, 0, 0, "", nil
			s.Log.SHA256, s.Index.SHA256, s.TimeIndex.SHA256 = "", "", ""
		}
	})
	// An old broker left no record of the chain head it wrote.
	if err := os.Remove(filepath.Join(l.Dir(), "tier-chain-head.json")); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, store, cfg)
	p2, err := e2.m.OpenPartitionLocal(t.Context(), "chain", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	produce(t, l, 20, 5000)
	l.Roll()
	if err := p2.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	head, all, breaks, err := tiering.ReadPartitionChain(t.Context(), store, "", "chain", testTopicID, 0)
	if err != nil || len(breaks) > 0 || len(all) <= legacy {
		t.Fatalf("chain over a legacy manifest: %d entries, %d before, %d local segments: %v %v", len(all), legacy, len(l.Segments()), breaks, err)
	}
	if head.Version != tiering.PartitionManifestVersion || all[0].ChainSeq != 0 || all[legacy].ChainSeq != 1 || all[legacy].ChainPrev != "" {
		t.Fatalf("version %d; first entry link %d, first new entry link %d prev %q", head.Version, all[0].ChainSeq, all[legacy].ChainSeq, all[legacy].ChainPrev)
	}
	if got := remoteBytes(t, p2, 0, 700); !bytes.Equal(got, localBytes(t, l, 0)[:len(got)]) {
		t.Fatal("remote bytes differ")
	}
}
