package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
)

// Issue 14 item 4: a restore onto an empty data dir after the disk was lost brought back
// what the bucket had, and new records then got the offsets of the records acknowledged
// but never uploaded: a consumer that had read those offsets saw other data there. With the
// partition watermark in the bucket, new records start after a gap.
func TestRestoreNeverReusesAcknowledgedOffsets(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and real brokers; make test runs it (never -short)")
	}
	srv := miniotest.Start(t)
	store := tierS3Store(t, srv, srv.NewBucket(t))
	// open starts a broker on dir; crash stops it as a lost machine would (no Close: no
	// final watermark; Close runs at the end of the test), stop stops it cleanly.
	open := func(dir string) (b *broker.Broker, cl *kgo.Client, crash, stop func()) {
		cfg, err := broker.ParseConfig(map[string]string{
			"listeners":                               "PLAINTEXT://127.0.0.1:0",
			"log.dirs":                                dir,
			"log.remote.storage.enable":               "true",
			"log.retention.check.interval.ms":         "100",
			"strata.remote.log.watermark.interval.ms": "100",
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.RemoteStore, cfg.RemotePrefix = store, "wm"
		b, err = broker.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.DefaultProduceTopic("wm"),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		crash = func() { cl.Close(); cancel(); <-done; t.Cleanup(func() { b.Close() }) }
		stop = func() { cl.Close(); cancel(); <-done; b.Close() }
		return b, cl, crash, stop
	}
	produce := func(cl *kgo.Client, from, n int) (last int64) {
		for i := from; i < from+n; i++ {
			r := cl.ProduceSync(t.Context(), &kgo.Record{Value: fmt.Appendf(nil, "v%04d", i)})
			if err := r.FirstErr(); err != nil {
				t.Fatal(err)
			}
			last = r[0].Record.Offset
		}
		return last
	}

	dirA := t.TempDir()
	_, cl, crashA, _ := open(dirA)
	seg := "1024"
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(t.Context(), 1, 1, map[string]*string{"segment.bytes": &seg}, "wm"); err != nil {
		t.Fatal(err)
	}
	produce(cl, 0, 60) // several 1 KiB segments: uploaded
	td, err := adm.ListTopics(t.Context(), "wm")
	if err != nil {
		t.Fatal(err)
	}
	id := td["wm"].ID
	waitFor(t, "uploads", time.Minute, func() bool {
		_, es, err := tiering.ReadPartitionManifest(t.Context(), store, "wm", "wm", id, 0)
		return err == nil && len(es) > 0 && es[len(es)-1].LastOffset >= 40
	})
	last := produce(cl, 60, 5) // acknowledged; the active segment is not uploaded
	prefix := tiering.PartitionPrefix("wm", "wm", id, 0)
	waitFor(t, "the watermark", time.Minute, func() bool {
		w, err := tiering.ReadWatermark(t.Context(), store, prefix)
		return err == nil && w.LogEnd == last+1
	})
	crashA() // the machine and its disk are lost

	b, cl, _, stopB := open(t.TempDir())
	first := produce(cl, 1000, 1)
	if first <= last {
		t.Fatalf("after the restore a new record got offset %d; offsets up to %d were acknowledged before", first, last)
	}
	// A consumer from the beginning reads the restored records, crosses the gap and gets
	// the new one.
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"wm": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	seen := map[int64]string{}
	for {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumer stuck: read %d records, want the new one at %d", len(seen), first)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			seen[r.Offset] = string(r.Value)
			done = done || r.Offset == first
		})
		if done {
			break
		}
	}
	for o, v := range seen {
		if o < 60 && v != fmt.Sprintf("v%04d", o) {
			t.Fatalf("offset %d: %q", o, v)
		}
	}
	if seen[first] != "v1000" {
		t.Fatalf("new record at %d: %q", first, seen[first])
	}

	// After a clean stop the exact log end is recorded: a restore continues right after the
	// last record (here one the bucket never got), no reservation gap.
	lastB := produce(cl, 1001, 1)
	stopB()
	_, cl, _, stopC := open(t.TempDir())
	defer stopC()
	if next := produce(cl, 2000, 1); next != lastB+1 {
		t.Fatalf("after a clean stop at %d the restore continued at %d, want %d", lastB, next, lastB+1)
	}
}
