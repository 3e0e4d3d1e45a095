package test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/checker"
)

// TestGroupOffsetsAndProducerStateSurviveKill9 runs the strata binary, commits offsets
// (acknowledged = durable), SIGKILLs it mid-stream and checks after a restart that every
// acknowledged commit is there, and that an idempotent retry of a batch acknowledged
// before the kill is recognised as a duplicate.
func TestGroupOffsetsAndProducerStateSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the strata binary")
	}
	bctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	bin, err := checker.BuildStrata(bctx, t.TempDir())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	port, err := checker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "strata.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	srv := &checker.Strata{Bin: bin, DataDir: t.TempDir(), Port: port, Log: logf}
	start := func() {
		t.Helper()
		if err := srv.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "broker ready", 30*time.Second, func() bool {
			cl := groupClient(t, srv.Addr())
			defer cl.Close()
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := kadm.NewClient(cl).ListTopics(ctx)
			return err == nil
		})
	}
	start()
	t.Cleanup(func() { srv.Kill() })
	const topic = "kill9"
	groupCreateTopic(t, srv.Addr(), topic, 4)

	// Idempotent batches acknowledged before the kill.
	pcl := rawClientFor(t, srv.Addr())
	ir, err := kmsgInitProducerID(t, pcl)
	if err != nil {
		t.Fatal(err)
	}
	if code, base := rawProduce(t, pcl, topic, rawBatch(ir.ProducerID, ir.ProducerEpoch, 0, 5)); code != 0 || base != 0 {
		t.Fatalf("produce: %d %d", code, base)
	}
	if code, base := rawProduce(t, pcl, topic, rawBatch(ir.ProducerID, ir.ProducerEpoch, 5, 2)); code != 0 || base != 5 {
		t.Fatalf("produce: %d %d", code, base)
	}
	pcl.Close()

	// Offset commits from several groups while the broker is SIGKILLed: afterwards every
	// key holds its last acknowledged value or a later attempted one (an unacknowledged
	// commit may or may not have become durable), never anything older.
	type key struct {
		g string
		p int32
	}
	acked := map[key]int64{}
	attempted := map[key]int64{}
	stop := make(chan struct{})
	done := make(chan struct{})
	var nAcked atomic.Int64
	go func() {
		defer close(done)
		cl := groupClient(t, srv.Addr(), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		defer cl.Close()
		adm := kadm.NewClient(cl)
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := key{"g" + itoa(int(i%5)), int32(i % 4)}
			offs := kadm.Offsets{}
			offs.Add(kadm.Offset{Topic: topic, Partition: k.p, At: i, LeaderEpoch: -1, Metadata: "m" + itoa(int(i))})
			attempted[k] = i
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			r, err := adm.CommitOffsets(ctx, k.g, offs)
			cancel()
			if err == nil && r.Error() == nil {
				acked[k] = i
				nAcked.Add(1)
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	// A loaded machine may not have had a commit acknowledged yet: kill once some are.
	for deadline := time.Now().Add(30 * time.Second); nAcked.Load() < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	if len(acked) == 0 {
		t.Fatal("no commit was acknowledged")
	}
	start()

	cl := groupClient(t, srv.Addr())
	defer cl.Close()
	adm := kadm.NewClient(cl)
	n := 0
	for k, at := range acked {
		got, err := adm.FetchOffsets(t.Context(), k.g)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := got.Lookup(topic, k.p)
		if !ok || o.At < at || o.At > attempted[k] || o.Metadata != "m"+itoa(int(o.At)) {
			t.Fatalf("%s/%d after kill -9: %+v (%v), want between %d (acknowledged) and %d", k.g, k.p, o, ok, at, attempted[k])
		}
		n++
	}
	pcl = rawClientFor(t, srv.Addr())
	if code, base := rawProduce(t, pcl, topic, rawBatch(ir.ProducerID, ir.ProducerEpoch, 5, 2)); code != 0 || base != 5 {
		t.Fatalf("retry after kill -9: code %v base %d, want duplicate at 5", kerr.ErrorForCode(code), base)
	}
	if code, base := rawProduce(t, pcl, topic, rawBatch(ir.ProducerID, ir.ProducerEpoch, 7, 1)); code != 0 || base != 7 {
		t.Fatalf("next batch after kill -9: code %v base %d, want 7", kerr.ErrorForCode(code), base)
	}
	t.Logf("%d committed offsets checked after kill -9", n)
}
