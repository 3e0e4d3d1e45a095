package tiering_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/objstoretest"
)

func writeSnap(t *testing.T, dir string, off int64, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.snapshot", off)), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A sealed segment [base, next) goes up with the producer snapshot at next when the
// partition directory has one, else the newest in [base, next], else none; the manifest
// names it as <base>-<uuid>.snapshot with the offset it describes, and a broker restoring
// from the bucket finds the newest one.
func TestProducerSnapshotUploadedWithSegment(t *testing.T) {
	store := newMem()
	cfg := testConfig()
	cfg.Prefix = "px"
	e := newEnv(t, store, cfg)
	dir := t.TempDir()
	l := openLog(t, dir, 1<<20)
	for range 4 { // four sealed segments of 5 batches each
		produce(t, l, 5, 0)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	segs := sealed(l)
	if len(segs) != 4 {
		t.Fatalf("%d sealed segments", len(segs))
	}
	writeSnap(t, dir, segs[0].NextOffset, "state-at-end-of-0")
	writeSnap(t, dir, segs[1].BaseOffset+1, "state-inside-1") // no snapshot at segs[1].NextOffset
	// segs[2]: nothing in [base, next] (segs[2].BaseOffset == segs[1].NextOffset has none)
	writeSnap(t, dir, segs[3].NextOffset, "state-at-end-of-3")
	writeSnap(t, dir, segs[3].NextOffset+100, "beyond-every-segment")
	os.WriteFile(filepath.Join(dir, "not-a-snapshot.snapshot"), []byte("x"), 0o644)

	p, err := e.m.OpenPartitionLocal(t.Context(), "orders", testTopicID, 3, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	ents := p.Entries()
	if len(ents) != 4 {
		t.Fatalf("%d entries uploaded", len(ents))
	}
	want := []struct {
		body string
		off  int64
	}{
		{"state-at-end-of-0", segs[0].NextOffset},
		{"state-inside-1", segs[1].BaseOffset + 1},
		{"", 0},
		{"state-at-end-of-3", segs[3].NextOffset},
	}
	prefix := tiering.PartitionPrefix("px", "orders", testTopicID, 3)
	for i, en := range ents {
		w := want[i]
		if w.body == "" {
			if en.ProducerSnapshot != nil {
				t.Errorf("segment %d: snapshot %+v uploaded, none expected", i, en.ProducerSnapshot)
			}
			if len(en.Objects()) != 3 {
				t.Errorf("segment %d: %d objects", i, len(en.Objects()))
			}
			continue
		}
		ref := en.ProducerSnapshot
		if ref == nil {
			t.Fatalf("segment %d: no producer snapshot in the manifest entry", i)
		}
		if wantKey := fmt.Sprintf("%s%020d-%s.snapshot", prefix, en.BaseOffset, en.ID); ref.Key != wantKey {
			t.Errorf("segment %d: snapshot key %q, want %q", i, ref.Key, wantKey)
		}
		if en.ProducerSnapshotOffset != w.off {
			t.Errorf("segment %d: snapshot offset %d, want %d", i, en.ProducerSnapshotOffset, w.off)
		}
		if got := objstoretest.Get(t, store, ref.Key); string(got) != w.body || ref.Size != int64(len(got)) {
			t.Errorf("segment %d: snapshot object %q (size %d), want %q", i, got, ref.Size, w.body)
		}
		if len(en.Objects()) != 4 || en.Objects()[3] != *ref {
			t.Errorf("segment %d: Objects() does not list the snapshot: %+v", i, en.Objects())
		}
		if err := tiering.VerifyEntry(t.Context(), store, en); err != nil {
			t.Errorf("segment %d: verify: %v", i, err)
		}
	}

	// Restore: a fresh manager on an empty log loads the manifest from the bucket.
	e2 := newEnv(t, store, cfg)
	l2 := openLog(t, t.TempDir(), 1<<20)
	p2, err := e2.m.OpenPartition(t.Context(), "orders", testTopicID, 3, l2, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	restartAtRemoteEnd(t, l2, p2)
	data, off, found, err := p2.LatestProducerSnapshot(t.Context())
	if err != nil || !found || string(data) != "state-at-end-of-3" || off != segs[3].NextOffset || off != l2.NextOffset() {
		t.Fatalf("latest remote snapshot %q at %d found=%v err=%v; want state-at-end-of-3 at %d (restored log end %d)",
			data, off, found, err, segs[3].NextOffset, l2.NextOffset())
	}

	// A snapshot object that does not match the manifest is an error, not a state.
	ref := p2.Entries()[3].ProducerSnapshot
	if err := store.Put(t.Context(), ref.Key, strings.NewReader("state-at-end-of-X"), int64(len("state-at-end-of-X"))); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := p2.LatestProducerSnapshot(t.Context()); err == nil {
		t.Fatal("a corrupted snapshot object was accepted")
	}
}

// Remote retention deletes a segment's snapshot object with its other objects.
func TestProducerSnapshotDeletedWithSegment(t *testing.T) {
	store := newMem()
	e := newEnv(t, store, testConfig())
	dir := t.TempDir()
	l := openLog(t, dir, 1<<20)
	for range 3 {
		produce(t, l, 4, 0)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		writeSnap(t, dir, l.NextOffset(), fmt.Sprintf("state-%d", l.NextOffset()))
	}
	p, err := e.m.OpenPartitionLocal(t.Context(), "t", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := p.Entries()[0]
	if first.ProducerSnapshot == nil {
		t.Fatal("no snapshot uploaded")
	}
	if err := p.SetLogStartOffset(t.Context(), first.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	keys := objstoretest.Keys(t, store, "")
	for _, k := range keys {
		if k == first.ProducerSnapshot.Key {
			t.Fatalf("snapshot %q of a deleted segment is still in the bucket", k)
		}
	}
	if n := countWithSuffix(keys, ".snapshot"); n != 2 {
		t.Fatalf("%d snapshot objects left, want 2: %q", n, keys)
	}
	data, off, found, err := p.LatestProducerSnapshot(t.Context())
	if err != nil || !found || off != l.NextOffset() || !bytes.Equal(data, []byte(fmt.Sprintf("state-%d", off))) {
		t.Fatalf("latest: %q %d %v %v", data, off, found, err)
	}
}

func countWithSuffix(keys []string, suffix string) int {
	n := 0
	for _, k := range keys {
		if strings.HasSuffix(k, suffix) {
			n++
		}
	}
	return n
}
