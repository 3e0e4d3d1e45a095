package test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
)

// TestTxnReadCommittedFromBucket: committed and aborted transactions interleaved over
// many 16 KiB segments of a tiered topic; once the segments are in MinIO and gone from
// the local disk, read_committed from offset 0 (from the bucket) returns exactly the
// committed records and read_uncommitted all of them; a broker restored from the bucket
// on an empty data directory answers the same.
func TestTxnReadCommittedFromBucket(t *testing.T) {
	srv := miniotest.Start(t)
	store := tierS3Store(t, srv, srv.NewBucket(t))
	dir := t.TempDir()
	tb := startTierBroker(t, dir, store)
	addr := tb.Addr()
	ctx := ctxTimeout(t, 3*time.Minute)
	const topic, parts = "txn-tier", 2
	cr, err := tb.adm.CreateTopic(ctx, parts, 1, map[string]*string{
		"remote.storage.enable": kadm.StringPtr("true"),
		"segment.bytes":         kadm.StringPtr("16384"),
		"local.retention.bytes": kadm.StringPtr("0"),
		"retention.ms":          kadm.StringPtr("-1"),
	}, topic)
	if err != nil || cr.Err != nil {
		t.Fatalf("create topic: %v %v", err, cr.Err)
	}
	cl := txnProducer(t, addr, "tier-txn", kgo.ProducerBatchMaxBytes(4096), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	var committed, all []string
	pad := strings.Repeat("x", 200)
	for i := 0; i < 36; i++ {
		commit := i%3 != 1
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for j := 0; j < 40; j++ {
			v := fmt.Sprintf("t%02d-%02d-%v-%s", i, j, commit, pad)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(j % parts), Value: []byte(v)})
			all = append(all, v)
			if commit {
				committed = append(committed, v)
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	writeEnds(t, cl, topic, parts)
	// Filler after the ends seals their segments, so that everything up to them is
	// uploaded (and the restore below has it).
	fill := groupClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(4096), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for p := int32(0); p < parts; p++ {
		for j := 0; j < 24; j++ {
			if err := fill.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("filler-" + strings.Repeat("f", 1000))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill.Close()
	localSegs := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, topic+"-*", "*.log"))
		return len(m)
	}
	waitFor(t, "segments uploaded and deleted locally", 90*time.Second, func() bool { return localSegs() <= parts })
	check := func(what, addr string) {
		t.Helper()
		gotC := txnConsume(t, addr, topic, parts, true)
		gotA := txnConsume(t, addr, topic, parts, false)
		sort.Strings(gotC)
		sort.Strings(gotA)
		wantC, wantA := append([]string(nil), committed...), append([]string(nil), all...)
		sort.Strings(wantC)
		sort.Strings(wantA)
		if strings.Join(gotC, ",") != strings.Join(wantC, ",") {
			t.Fatalf("%s: read_committed returned %d records, want the %d committed", what, len(gotC), len(wantC))
		}
		if strings.Join(gotA, ",") != strings.Join(wantA, ",") {
			t.Fatalf("%s: read_uncommitted returned %d records, want %d", what, len(gotA), len(wantA))
		}
	}
	remoteSegs := 0
	store.List(ctx, "e2e/", func(oi tiering.ObjectInfo) error {
		if strings.HasSuffix(oi.Key, ".log") {
			remoteSegs++
		}
		return nil
	})
	if remoteSegs < 10 {
		t.Fatalf("only %d segments in the bucket", remoteSegs)
	}
	t.Logf("%d segments in the bucket, %d local", remoteSegs, localSegs())
	check("from the bucket", addr)

	// Restore: a new broker on an empty data directory, same bucket and prefix.
	tb.close(t)
	rb := startTierBroker(t, t.TempDir(), store)
	check("restored", rb.Addr())
}
