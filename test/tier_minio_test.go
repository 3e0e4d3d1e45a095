package test

// The remote tier on a real MinIO, without the broker: upload of many small segments,
// local deletion, byte-identical remote reads from offset 0, timestamp lookup, retention
// deleting objects in the bucket, orphan sweep and restore onto an empty log.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/s3store"
)

func tierS3Store(t *testing.T, srv *miniotest.Server, bucket string) *s3store.Store {
	t.Helper()
	st, err := s3store.New(t.Context(), s3store.Config{
		Bucket: bucket, Region: miniotest.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func tierManager(t *testing.T, store tiering.ObjectStore, prefix string) *tiering.Manager {
	return tierManagerSized(t, store, prefix, 64<<10, 16<<20)
}

func tierManagerSized(t *testing.T, store tiering.ObjectStore, prefix string, chunkBytes, cacheBytes int64) *tiering.Manager {
	t.Helper()
	c, err := cache.New(cache.Config{MaxBytes: cacheBytes})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tiering.NewManager(tiering.Config{
		Prefix: prefix, ChunkBytes: chunkBytes, ManifestChunkEntries: 8, IndexIntervalBytes: 1024,
		CheckInterval: 50 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, RetryMaxBackoff: 200 * time.Millisecond,
		OrphanSweepInterval: -1,
	}, store, c, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	return m
}

func tierLog(t *testing.T, segBytes int64) *segment.Log {
	t.Helper()
	l, _, err := segment.Open(t.TempDir(), segment.Config{SegmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// tierProduce appends n batches of 1-4 records, timestamps ts0 + 10*i.
func tierProduce(t *testing.T, l *segment.Log, n int, ts0 int64) {
	t.Helper()
	for i := range n {
		var vals [][]byte
		for r := range 1 + i%4 {
			vals = append(vals, fmt.Appendf(nil, "%d/%d/%s", l.NextOffset(), r, strings.Repeat("v", i%200)))
		}
		if _, err := l.Append(segmenttest.Batch(ts0+int64(i)*10, vals...), segment.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func tierLocalBytes(t *testing.T, l *segment.Log, from int64) []byte {
	t.Helper()
	var out []byte
	for off := from; off < l.NextOffset(); {
		rr, err := l.Read(off, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := rr.Bytes()
		if err != nil || len(b) == 0 {
			t.Fatalf("local read at %d: %d bytes, %v", off, len(b), err)
		}
		out = append(out, b...)
		off = tierLastOffset(t, b) + 1
	}
	return out
}

func tierLastOffset(t *testing.T, b []byte) int64 {
	t.Helper()
	last := int64(-1)
	for len(b) > 0 {
		_, l, size, err := tiering.BatchBounds(b)
		if err != nil {
			t.Fatal(err)
		}
		last, b = l, b[size:]
	}
	return last
}

func tierRemoteBytes(t *testing.T, p *tiering.RemotePartition, from int64) []byte {
	t.Helper()
	_, end, _ := p.Bounds()
	var out []byte
	for off := from; off < end; {
		b, err := p.Read(t.Context(), off, 100_000, true)
		if err != nil || len(b) == 0 {
			t.Fatalf("remote read at %d: %d bytes, %v", off, len(b), err)
		}
		out = append(out, b...)
		off = tierLastOffset(t, b) + 1
	}
	return out
}

func tierWait(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTierMinIOUploadReadRetentionRestore(t *testing.T) {
	srv := miniotest.Start(t)
	store := tierS3Store(t, srv, srv.NewBucket(t))
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	m := tierManager(t, store, "prod")
	if err := m.WriteTopicManifest(t.Context(), tiering.TopicManifest{Topic: "clicks", TopicID: id, Partitions: 1, Configs: map[string]string{"remote.storage.enable": "true"}}); err != nil {
		t.Fatal(err)
	}
	l := tierLog(t, 32<<10)
	p, err := m.OpenPartition(t.Context(), "clicks", id, 0, l, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tierProduce(t, l, 3000, 1_700_000_000_000)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	p.OnSealed()
	segs := l.Segments()
	segs = segs[:len(segs)-1]
	if len(segs) < 20 {
		t.Fatalf("only %d sealed segments", len(segs))
	}
	tierWait(t, "all segments uploaded", 30*time.Second, func() bool {
		for _, s := range segs {
			if !p.Uploaded(s) {
				return false
			}
		}
		return true
	})
	want := tierLocalBytes(t, l, 0)
	end := l.NextOffset()
	// Local deletion of everything uploaded; reads from 0 now come from MinIO only.
	if _, err := l.ApplyRetention(segment.RetentionPolicy{Ms: -1, Bytes: 0}, time.Now(), p.Uploaded); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Segments()); n != 1 {
		t.Fatalf("%d local segments left", n)
	}
	if got := tierRemoteBytes(t, p, 0); !bytes.Equal(got, want) {
		t.Fatalf("remote bytes from MinIO (%d) differ from what was produced (%d)", len(got), len(want))
	}
	// Timestamp lookup lands in remote data.
	ts := int64(1_700_000_000_000 + 1234*10)
	b, found, err := p.FindTimestamp(t.Context(), ts)
	if err != nil || !found {
		t.Fatalf("find timestamp: found=%v err=%v", found, err)
	}
	if base, _, _, _ := tiering.BatchBounds(b); base <= 0 || base >= end {
		t.Fatalf("timestamp lookup returned batch at %d", base)
	}

	// Orphans: an abandoned upload's object is swept only after the grace period.
	prefix := tiering.PartitionPrefix("prod", "clicks", id, 0)
	orphan := prefix + "00000000000009999999-abandoned.log"
	if err := store.Put(t.Context(), orphan, strings.NewReader("partial"), 7); err != nil {
		t.Fatal(err)
	}
	if n, err := p.SweepOrphans(t.Context(), time.Now()); err != nil || n != 0 {
		t.Fatalf("young orphan swept: %d %v", n, err)
	}
	if n, err := p.SweepOrphans(t.Context(), time.Now().Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("orphan sweep: %d %v", n, err)
	}

	// Retention by bytes: keep roughly the newest 5 segments' worth.
	ents := p.Entries()
	var keep int64
	for _, e := range ents[len(ents)-5:] {
		keep += e.Size
	}
	start, err := p.ApplyRetention(t.Context(), -1, keep, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if start != ents[len(ents)-5].BaseOffset {
		t.Fatalf("remote start %d after retention, want %d", start, ents[len(ents)-5].BaseOffset)
	}
	for _, e := range ents[:len(ents)-5] {
		for _, r := range e.Objects() {
			if _, err := store.Stat(t.Context(), r.Key); !errors.Is(err, tiering.ErrNotExist) {
				t.Fatalf("object %s of a deleted segment still in MinIO: %v", r.Key, err)
			}
		}
	}
	if err := l.SetLogStartOffset(start); err != nil {
		t.Fatal(err)
	}
	want = want[len(want)-len(tierRemoteBytes(t, p, start)):]

	// Restore: a new broker, empty data dir, same bucket.
	tms, err := tiering.Restore(t.Context(), store, "prod")
	if err != nil || len(tms) != 1 || tms[0].Topic != "clicks" || tms[0].TopicID != id {
		t.Fatalf("restore: %+v %v", tms, err)
	}
	m2 := tierManager(t, store, "prod")
	l2 := tierLog(t, 32<<10)
	p2, err := m2.OpenPartition(t.Context(), "clicks", id, 0, l2, tiering.PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// What package partition does once the tier is open: the tier never writes the log.
	if _, rend, ok := p2.Bounds(); ok && l2.LogStartOffset() == l2.NextOffset() && l2.NextOffset() < rend {
		if err := l2.SetLogStartOffset(rend); err != nil {
			t.Fatal(err)
		}
	}
	if l2.NextOffset() != end {
		t.Fatalf("restored log continues at %d, want %d", l2.NextOffset(), end)
	}
	if s, e, _ := p2.Bounds(); s != start || e != end {
		t.Fatalf("restored bounds [%d, %d), want [%d, %d)", s, e, start, end)
	}
	if got := tierRemoteBytes(t, p2, start); !bytes.Equal(got, want) {
		t.Fatal("restored remote reads differ")
	}
}
