package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/checker"
)

// TestTxnGroupTransactSessionExactlyOnce runs a consume-transform-produce job with
// franz-go's GroupTransactSession in three members against the strata binary. Mid-run one
// member is killed (its client dropped with a transaction open) and the broker is
// SIGKILLed and restarted. A read_committed checker then verifies that the output holds
// every input record exactly once, in input order per key.
func TestTxnGroupTransactSessionExactlyOnce(t *testing.T) {
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
	// EOS_TEST_BROKER_LOG keeps the broker's log at a persistent path for debugging; by
	// default it lives in the test's temporary directory and its tail is logged on
	// failure.
	logPath := os.Getenv("EOS_TEST_BROKER_LOG")
	if logPath == "" {
		logPath = filepath.Join(t.TempDir(), "strata.log")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	t.Cleanup(func() {
		if t.Failed() {
			logTail(t, logPath, 200)
		}
	})
	srv := &checker.Strata{Bin: bin, DataDir: t.TempDir(), Port: port, Log: logf, Args: []string{
		"--set", "group.initial.rebalance.delay.ms=0",
		"--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
		"--set", "log.segment.bytes=65536",
	}}
	start := func() {
		t.Helper()
		if err := srv.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "broker ready", 60*time.Second, func() bool {
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

	const (
		in, out   = "eos-in", "eos-out"
		parts     = 6
		keys      = 24
		n         = 3000
		groupName = "eos-group"
	)
	groupCreateTopic(t, srv.Addr(), in, parts)
	groupCreateTopic(t, srv.Addr(), out, parts)
	// Input: n records, key k<i%keys>, value "<key>:<seq within key>"; idempotent, so the
	// input holds each exactly once.
	{
		cl := groupClient(t, srv.Addr())
		recs := make([]*kgo.Record, n)
		for i := range recs {
			k := i % keys
			recs[i] = &kgo.Record{Topic: in, Key: []byte("k" + strconv.Itoa(k)), Value: []byte(fmt.Sprintf("k%d:%d", k, i/keys))}
		}
		if err := cl.ProduceSync(ctxTimeout(t, time.Minute), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}

	var processed atomic.Int64
	stopAll := make(chan struct{})
	var wg sync.WaitGroup
	member := func(id string, kill <-chan struct{}) {
		defer wg.Done()
		for {
			select {
			case <-stopAll:
				return
			default:
			}
			sess, err := kgo.NewGroupTransactSession(
				kgo.SeedBrokers(srv.Addr()),
				kgo.TransactionalID(id),
				kgo.TransactionTimeout(6*time.Second),
				kgo.ConsumerGroup(groupName),
				kgo.ConsumeTopics(in),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.RequireStableFetchOffsets(),
				kgo.SessionTimeout(6*time.Second),
				kgo.RebalanceTimeout(10*time.Second),
				kgo.RetryTimeout(20*time.Second),
				kgo.MetadataMinAge(100*time.Millisecond),
			)
			if err != nil {
				t.Error(err)
				return
			}
			err = runSession(sess, out, kill, stopAll, &processed)
			if errors.Is(err, errKilled) {
				// Killed: drop the client with its transaction open, no leave.
				sess.Client().PurgeTopicsFromClient(in)
				sess.Client().Close()
				return
			}
			sess.Close()
			if err == nil {
				return
			}
			t.Logf("member %s: %v; starting a new session", id, err)
		}
	}
	killOne := make(chan struct{})
	wg.Add(3)
	go member("eos-m0", nil)
	go member("eos-m1", nil)
	go member("eos-m2", killOne)

	waitFor(t, "a third of the input processed", 2*time.Minute, func() bool { return processed.Load() >= n/3 })
	close(killOne)
	waitFor(t, "half of the input processed", 2*time.Minute, func() bool { return processed.Load() >= n/2 })
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	start()

	// The checker: read_committed output until every input record is there; then no
	// duplicates, and per key the input order.
	cl := groupClient(t, srv.Addr(), kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer cl.Close()
	ctx := ctxTimeout(t, 4*time.Minute)
	count := map[string]int{}
	lastSeq := map[string]int{}
	distinct := 0
	for distinct < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("output has %d of %d distinct records", distinct, n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("checker fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			count[v]++
			if count[v] == 1 {
				distinct++
			}
			k, seqs, _ := strings.Cut(v, ":")
			seq, _ := strconv.Atoi(seqs)
			if last, ok := lastSeq[k]; ok && seq <= last {
				t.Errorf("key %s: %d after %d (order or duplicate)", k, seq, last)
			}
			lastSeq[k] = seq
		})
	}
	close(stopAll)
	wg.Wait()
	// Whatever else is committed by now must not duplicate anything.
	for {
		pctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		got := 0
		fs.EachRecord(func(r *kgo.Record) { count[string(r.Value)]++; got++ })
		if got == 0 {
			break
		}
	}
	for v, c := range count {
		if c != 1 {
			t.Errorf("%s in the output %d times", v, c)
		}
	}
	if len(count) != n {
		t.Errorf("output has %d distinct records, want %d", len(count), n)
	}
}

var errKilled = errors.New("member killed")

// runSession runs a member's consume-transform-produce loop until stop (nil), kill
// (errKilled, with a transaction open) or a session error.
func runSession(sess *kgo.GroupTransactSession, out string, kill, stop <-chan struct{}, processed *atomic.Int64) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
		case <-kill:
		}
		cancel()
	}()
	for {
		fs := sess.PollRecords(ctx, 50)
		if ctx.Err() != nil {
			select {
			case <-kill:
				return errKilled
			default:
				return nil
			}
		}
		if err := sess.Begin(); err != nil {
			return err
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, &kgo.Record{Topic: out, Key: r.Key, Value: r.Value})
		})
		var perr error
		if len(recs) > 0 {
			perr = sess.ProduceSync(ctx, recs...).FirstErr()
		}
		select {
		case <-kill:
			return errKilled // the transaction stays open until the coordinator's timeout
		default:
		}
		ectx, ecancel := context.WithTimeout(context.Background(), 30*time.Second)
		committed, err := sess.End(ectx, kgo.TransactionEndTry(perr == nil))
		ecancel()
		if err != nil {
			return err
		}
		if committed {
			processed.Add(int64(len(recs)))
		}
	}
}

// logTail logs the last n lines of the file at path.
func logTail(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("cannot read broker log %q: %v", path, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("broker log %s (last %d lines):\n%s", path, len(lines), strings.Join(lines, "\n"))
}
