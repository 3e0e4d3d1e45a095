package test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/s3store"
)

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTierObjectLockMinIO uploads into a MinIO bucket created with object lock, with
// ObjectLockMode GOVERNANCE and a topic retention of one hour: every segment object carries
// the lock until its max timestamp plus the retention, the manifest none. A DeleteRecords
// before that date moves the remote log start (manifest, chain, reads) while the bucket
// refuses to delete the objects: that is logged and counted, and the objects stay.
func TestTierObjectLockMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO")
	}
	srv := miniotest.Start(t)
	ctx := t.Context()
	bucket := fmt.Sprintf("lock-%d", time.Now().UnixNano())
	if err := srv.Client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: miniotest.Region, ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	store, err := s3store.New(ctx, s3store.Config{
		Bucket: bucket, Region: miniotest.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, DeleteVersions: true,
		RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond, MaxRetryDuration: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	logs := &lockedLog{}
	reg := prometheus.NewRegistry()
	m, err := tiering.NewManager(tiering.Config{
		Prefix: "lock", ChunkBytes: 64 << 10, ManifestChunkEntries: 8, IndexIntervalBytes: 1024,
		OrphanSweepInterval: -1, ObjectLockMode: "GOVERNANCE",
	}, store, c, slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	l := tierLog(t, 4096)
	now := time.Now()
	tierProduce(t, l, 200, now.UnixMilli()-60_000)
	l.Roll()
	id := [16]byte{11}
	const retention = time.Hour
	p, err := m.OpenPartition(ctx, "locked", id, 0, l, tiering.PartitionConfig{RetentionMs: retention.Milliseconds()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.UploadPending(ctx); err != nil {
		t.Fatalf("upload into an object-lock bucket: %v", err)
	}
	entries := p.Entries()
	if len(entries) < 4 {
		t.Fatalf("%d segments uploaded", len(entries))
	}
	for _, e := range entries {
		want := time.UnixMilli(e.MaxTimestamp).Add(retention)
		for _, o := range e.Objects() {
			mode, until, err := srv.Client.GetObjectRetention(ctx, bucket, o.Key, "")
			if err != nil || mode == nil || *mode != minio.Governance || until == nil || until.Sub(want).Abs() > time.Second {
				t.Fatalf("%s: retention %v until %v (%v), want GOVERNANCE until %v", o.Key, mode, until, err, want)
			}
		}
	}
	head := tiering.PartitionPrefix("lock", "locked", id, 0) + "manifest.json"
	if mode, _, err := srv.Client.GetObjectRetention(ctx, bucket, head, ""); err == nil && mode != nil {
		t.Fatalf("the manifest head is locked (%v)", *mode)
	}

	// DeleteRecords before the retain-until date.
	cut := entries[2].BaseOffset
	if err := p.SetLogStartOffset(ctx, cut); err != nil {
		t.Fatalf("SetLogStartOffset: %v", err)
	}
	if start, _, _ := p.Bounds(); start != cut || p.Entries()[0].BaseOffset != cut {
		t.Fatalf("log start %d, first entry %d; want %d", start, p.Entries()[0].BaseOffset, cut)
	}
	if _, err := p.Read(ctx, cut, 1<<20, true); err != nil {
		t.Fatalf("read at the new start: %v", err)
	}
	for _, e := range entries[:2] {
		if _, err := srv.Client.StatObject(ctx, bucket, e.Log.Key, minio.StatObjectOptions{}); err != nil {
			t.Fatalf("locked object %s deleted: %v", e.Log.Key, err)
		}
	}
	refused := testutil.ToFloat64(testutilCounter(t, reg, "strata_remote_delete_refused_total"))
	if refused < 2 || !strings.Contains(logs.String(), "remote object not deleted: the bucket refuses") {
		t.Fatalf("%v refused deletes counted; logs:\n%s", refused, logs)
	}
	h, all, breaks, err := tiering.ReadPartitionChain(ctx, store, "lock", "locked", id, 0)
	if err != nil || len(breaks) > 0 || len(h.Deletions) != 1 || h.Deletions[0].LogStartOffset != cut || len(all) == 0 {
		t.Fatalf("chain after the refused deletion: %+v, %v %v", h.Deletions, breaks, err)
	}
	// Without the lock's protection the same store deletes (every version of) an object.
	k := tiering.PartitionPrefix("lock", "locked", id, 0) + "plain"
	if err := store.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, k); err != nil {
		t.Fatalf("delete of an unlocked object: %v", err)
	}
	for v := range srv.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: k, WithVersions: true}) {
		t.Fatalf("version left after delete: %+v", v)
	}
	// Objects under GOVERNANCE retention go at the end of the test with the bypass.
	t.Cleanup(func() {
		for o := range srv.Client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			srv.Client.RemoveObject(context.Background(), bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: true})
		}
	})
}

// testutilCounter finds a registered counter by name.
func testutilCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name}, func() float64 { return v })
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
