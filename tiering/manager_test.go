package tiering_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

func countUnder(t *testing.T, s tiering.ObjectStore, prefix string) int {
	t.Helper()
	n := 0
	if err := s.List(t.Context(), prefix, func(tiering.ObjectInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeleteTopic(t *testing.T) {
	store := newMem()
	e := newEnv(t, store, testConfig())
	otherID := [16]byte{9}
	for _, topic := range []struct {
		name string
		id   [16]byte
	}{{"gone", testTopicID}, {"kept", otherID}} {
		if err := e.m.WriteTopicManifest(t.Context(), tiering.TopicManifest{Topic: topic.name, TopicID: topic.id, Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		l := openLog(t, t.TempDir(), 2048)
		produce(t, l, 50, 0)
		l.Roll()
		p, err := e.m.OpenPartitionLocal(t.Context(), topic.name, topic.id, 0, l, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.UploadPending(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	gone := tiering.TopicPrefix("", "gone", testTopicID)
	kept := tiering.TopicPrefix("", "kept", otherID)
	keptBefore := countUnder(t, store, kept)
	if err := e.m.DeleteTopic(t.Context(), "gone", testTopicID, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.m.Partition("gone", 0); ok {
		t.Fatal("partition still open after DeleteTopic")
	}
	if countUnder(t, store, gone) == 0 {
		t.Fatal("keepRemote=true deleted remote data")
	}
	if err := e.m.DeleteTopic(t.Context(), "gone", testTopicID, false); err != nil {
		t.Fatal(err)
	}
	if n := countUnder(t, store, gone); n != 0 {
		t.Fatalf("%d objects left under a deleted topic", n)
	}
	if countUnder(t, store, kept) != keptBefore {
		t.Fatal("another topic's objects were touched")
	}
	tms, err := tiering.Restore(t.Context(), store, "")
	if err != nil || len(tms) != 1 || tms[0].Topic != "kept" {
		t.Fatalf("restore after delete: %+v %v", tms, err)
	}
}

func TestRollDueAndCopyDisabled(t *testing.T) {
	e := newEnv(t, newMem(), testConfig())
	l := openLog(t, t.TempDir(), 1<<20)
	p, err := e.m.OpenPartitionLocal(t.Context(), "quiet", testTopicID, 0, l, tiering.PartitionConfig{UploadInterval: time.Minute, CopyDisabled: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if p.RollDue(now.Add(time.Hour)) {
		t.Fatal("roll due for an empty active segment")
	}
	produce(t, l, 5, 0)
	if p.RollDue(now.Add(time.Hour)) {
		t.Fatal("roll due with copy disabled")
	}
	p.UpdateConfig(tiering.PartitionConfig{UploadInterval: time.Minute})
	if p.RollDue(time.Now()) {
		t.Fatal("roll due before the interval passed")
	}
	if !p.RollDue(time.Now().Add(2 * time.Minute)) {
		t.Fatal("roll not due after the interval")
	}
	l.Roll()
	p.UpdateConfig(tiering.PartitionConfig{CopyDisabled: true})
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := p.Bounds(); ok {
		t.Fatal("uploaded with remote.log.copy.disable")
	}
	p.UpdateConfig(tiering.PartitionConfig{})
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, end, ok := p.Bounds(); !ok || end != l.NextOffset() {
		t.Fatalf("after re-enabling copy: end %d ok %v", end, ok)
	}
}

func TestUploadBandwidthLimit(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBytesPerSec = 40_000
	e := newEnv(t, newMem(), cfg)
	l := openLog(t, t.TempDir(), 16<<10)
	produce(t, l, 600, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "slow", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, s := range sealed(l) {
		size += s.Size
	}
	start := time.Now()
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// The bucket starts full (40 kB of burst), so the floor is (size - burst) / rate.
	if floor := time.Duration(float64(size-40_000) / 40_000 * float64(time.Second)); took < floor*9/10 {
		t.Fatalf("uploaded %d bytes in %v at a 40 kB/s cap (floor %v)", size, took, floor)
	}
}

// FuzzDecodePartitionHead: decoding never panics, and an accepted head satisfies the
// entry invariants and survives a re-encode unchanged.
func FuzzDecodePartitionHead(f *testing.F) {
	head, err := json.Marshal(&tiering.PartitionHead{
		Version: tiering.ManifestVersion, Kind: "strata.partition", Topic: "fz", Partition: 0, EndOffset: 30,
		Segments: []tiering.SegmentEntry{
			{BaseOffset: 0, LastOffset: 9, Size: 100, Log: tiering.ObjectRef{Key: "a.log"}, Index: tiering.ObjectRef{Key: "a.index"}, TimeIndex: tiering.ObjectRef{Key: "a.timeindex"}},
			{BaseOffset: 10, LastOffset: 29, Size: 100, Log: tiering.ObjectRef{Key: "b.log"}, Index: tiering.ObjectRef{Key: "b.index"}, TimeIndex: tiering.ObjectRef{Key: "b.timeindex"}},
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := tiering.DecodePartitionHead(head); err != nil {
		f.Fatal(err)
	}
	f.Add(head)
	f.Add([]byte(`{"version":1,"kind":"strata.partition","segments":[]}`))
	f.Add([]byte(`{"version":2,"kind":"strata.partition"}`))
	f.Add(bytes.Replace(head, []byte(`"baseOffset":10`), []byte(`"baseOffset":5`), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := tiering.DecodePartitionHead(b)
		if err != nil {
			return
		}
		for i, e := range h.Segments {
			if e.LastOffset < e.BaseOffset || (i > 0 && e.BaseOffset <= h.Segments[i-1].LastOffset) {
				t.Fatalf("accepted entry %d [%d, %d]", i, e.BaseOffset, e.LastOffset)
			}
		}
		re, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := tiering.DecodePartitionHead(re)
		if err != nil || len(h2.Segments) != len(h.Segments) || h2.LogStartOffset != h.LogStartOffset {
			t.Fatalf("re-encoded head differs: %v", err)
		}
	})
}

func TestVerifyEntryDetectsBitRot(t *testing.T) {
	store := newMem()
	e := newEnv(t, store, testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 40, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "rot", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	head, entries, err := tiering.ReadPartitionManifest(t.Context(), store, "", "rot", testTopicID, 0)
	if err != nil || head.Topic != "rot" || len(entries) != len(p.Entries()) {
		t.Fatalf("read manifest: %d entries, head %q, %v", len(entries), head.Topic, err)
	}
	for _, en := range entries {
		if err := tiering.VerifyEntry(t.Context(), store, en); err != nil {
			t.Fatal(err)
		}
	}
	// Flip one bit in the middle of a data object.
	victim := entries[1]
	b, _ := store.Bytes(victim.Log.Key)
	rotten := bytes.Clone(b)
	// Flip a bit in the records of the batch holding the middle byte (bytes covered by
	// the batch CRC; the first 21 header bytes are not).
	pos := int64(0)
	for {
		_, _, size, err := tiering.BatchBounds(b[pos:])
		if err != nil {
			t.Fatal(err)
		}
		if pos+size > int64(len(b)/2) {
			rotten[pos+size-1] ^= 0x10
			break
		}
		pos += size
	}
	if err := store.Put(t.Context(), victim.Log.Key, bytes.NewReader(rotten), int64(len(rotten))); err != nil {
		t.Fatal(err)
	}
	if err := tiering.VerifyEntry(t.Context(), store, victim); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("bit flip not detected: %v", err)
	}
	if err := tiering.VerifyEntry(t.Context(), store, entries[0]); err != nil {
		t.Fatalf("healthy neighbour: %v", err)
	}
	// A reader (fresh cache) gets ErrCorrupt for the rotten batch, never its bytes.
	e2 := newEnv(t, store, testConfig())
	p2, err := e2.m.OpenPartitionLocal(t.Context(), "rot", testTopicID, 0, nil, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var readErr error
	for off := victim.BaseOffset; off <= victim.LastOffset; {
		b, err := p2.Read(t.Context(), off, 1, true)
		if err != nil {
			readErr = err
			break
		}
		off = lastOffsetOf(t, b) + 1
	}
	if !errors.Is(readErr, segment.ErrCorrupt) {
		t.Fatalf("reading the rotten segment: %v", readErr)
	}
}

// DeleteRecords past the uploaded data (into segments not yet remote): the straddling
// segment is still uploaded, wholly-below ones count as done, reads start at the new start.
func TestLogStartBeyondUploadedData(t *testing.T) {
	e := newEnv(t, newMem(), testConfig())
	l := openLog(t, t.TempDir(), 2048)
	produce(t, l, 40, 0)
	l.Roll()
	p, err := e.m.OpenPartitionLocal(t.Context(), "dr", testTopicID, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, uploadedEnd, _ := p.Bounds()
	produce(t, l, 80, 1000)
	l.Roll()
	segs := sealed(l)
	var straddle, below int64 = -1, -1
	for _, s := range segs {
		if s.BaseOffset >= uploadedEnd && below < 0 {
			below = s.BaseOffset // first not-uploaded segment: will lie wholly below the start
			continue
		}
		if below >= 0 && s.BaseOffset > below && straddle < 0 {
			straddle = s.BaseOffset
		}
	}
	var straddleSeg, belowSeg = segs[0], segs[0]
	for _, s := range segs {
		if s.BaseOffset == straddle {
			straddleSeg = s
		}
		if s.BaseOffset == below {
			belowSeg = s
		}
	}
	start := straddleSeg.BaseOffset + (straddleSeg.NextOffset-straddleSeg.BaseOffset)/2
	if err := p.SetLogStartOffset(t.Context(), start); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLogStartOffset(start); err != nil {
		t.Fatal(err)
	}
	if !p.Uploaded(belowSeg) {
		t.Fatal("segment wholly below the log start should count as done")
	}
	if err := p.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !p.Uploaded(straddleSeg) {
		t.Fatal("segment straddling the log start was not uploaded")
	}
	s, end, _ := p.Bounds()
	if s != start || end != l.NextOffset() {
		t.Fatalf("bounds [%d, %d), want [%d, %d)", s, end, start, l.NextOffset())
	}
	if got, want := remoteBytes(t, p, start, 4096), localBytes(t, l, start); !bytes.Equal(got, want) {
		t.Fatalf("reads from the new start differ (%d vs %d bytes)", len(got), len(want))
	}
}

// listRecorder records List prefixes and how many objects each listing visited.
type listRecorder struct {
	tiering.ObjectStore
	visited int
}

func (s *listRecorder) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	return s.ObjectStore.List(ctx, prefix, func(oi tiering.ObjectInfo) error { s.visited++; return fn(oi) })
}

func TestRestoreListsMarkersNotSegments(t *testing.T) {
	store := newMem()
	e := newEnv(t, store, testConfig())
	for i, name := range []string{"b-topic", "a-topic"} {
		id := [16]byte{byte(i + 1)}
		if err := e.m.WriteTopicManifest(t.Context(), tiering.TopicManifest{Topic: name, TopicID: id, Partitions: 3}); err != nil {
			t.Fatal(err)
		}
		l := openLog(t, t.TempDir(), 1024)
		produce(t, l, 100, 0)
		l.Roll()
		p, err := e.m.OpenPartitionLocal(t.Context(), name, id, 0, l, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.UploadPending(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	lr := &listRecorder{ObjectStore: store}
	tms, err := tiering.Restore(t.Context(), lr, "")
	if err != nil || len(tms) != 2 || tms[0].Topic != "a-topic" || tms[1].Topic != "b-topic" {
		t.Fatalf("restore: %+v %v", tms, err)
	}
	if lr.visited != 2 {
		t.Fatalf("restore visited %d objects, want only the 2 markers (bucket holds %d)", lr.visited, store.Len())
	}
	// Without markers (a bucket written before them) the full scan still finds the topics.
	for _, tm := range tms {
		store.Delete(t.Context(), tiering.TopicMarkerKey("", tm.Topic, tm.TopicID))
	}
	lr.visited = 0
	tms, err = tiering.Restore(t.Context(), lr, "")
	if err != nil || len(tms) != 2 {
		t.Fatalf("restore by scan: %+v %v", tms, err)
	}
	if lr.visited < 50 {
		t.Fatalf("scan visited only %d objects", lr.visited)
	}
}
