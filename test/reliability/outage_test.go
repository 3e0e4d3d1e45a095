package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/checker"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/s3store"
	"github.com/strata-io/strata/tiering/storewrap"
)

// outageWindows records when the bucket was down, to count the acknowledgements made
// while it was (produce must carry on) and the longest time to drain the backlog after.
type outageWindows struct {
	// during, if set, runs in the middle of each outage (after half of it).
	during func()

	mu      sync.Mutex
	windows [][2]time.Time
	drains  []time.Duration
}

func (w *outageWindows) add(from, to time.Time) {
	w.mu.Lock()
	w.windows = append(w.windows, [2]time.Time{from, to})
	w.mu.Unlock()
}

func (w *outageWindows) cycles() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.windows)
}

// acksDuring counts acknowledgements recorded inside an outage window.
func (w *outageWindows) acksDuring(h *checker.History) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, op := range h.Ops() {
		if op.Kind != checker.KindAck {
			continue
		}
		for _, win := range w.windows {
			if op.Time.After(win[0]) && op.Time.Before(win[1]) {
				n++
				break
			}
		}
	}
	return n
}

// outageNemesis takes the bucket down (down) and brings it back (up) cycles times spread
// over span, each outage lasting downFor. After each outage it measures how long the
// upload backlog takes to drain (recorded as the cycle's recovery time).
func outageNemesis(tb *testBroker, w *outageWindows, cycles int, span, downFor time.Duration, down, up func() error) func(ctx context.Context, h *checker.History) error {
	return func(ctx context.Context, h *checker.History) error {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
		slot := span / time.Duration(cycles)
		for i := range cycles {
			if i == 0 {
				// Let the workload fill a few segments and upload them first.
				if !sleepCtx(ctx, min(slot/2, 2*time.Second)) {
					return nil
				}
			}
			wait := slot - downFor - time.Second
			if wait > 0 {
				wait = time.Duration(rng.Int64N(int64(wait)/2+1)) + wait/4
			}
			if !sleepCtx(ctx, max(wait, 100*time.Millisecond)) {
				return nil
			}
			from := time.Now()
			nemesisOp(h, fmt.Sprintf("bucket down (%d)", i))
			if err := down(); err != nil {
				return err
			}
			sleepCtx(ctx, downFor/2)
			if w.during != nil {
				w.during()
			}
			sleepCtx(ctx, downFor-downFor/2)
			if err := up(); err != nil {
				return err
			}
			to := time.Now()
			nemesisOp(h, fmt.Sprintf("bucket up (%d)", i))
			w.add(from, to)
			// Recovery: the backlog of sealed segments piled up during the outage drains.
			start := time.Now()
			for tb.Health(context.Background()).UploadBacklogBytes > 0 && time.Since(start) < 30*time.Second && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			w.mu.Lock()
			w.drains = append(w.drains, time.Since(start))
			w.mu.Unlock()
		}
		return nil
	}
}

func (w *outageWindows) maxDrain() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var m time.Duration
	for _, d := range w.drains {
		m = max(m, d)
	}
	return m
}

// afterOutages asserts what every bucket-outage scenario promises once the workload is
// over: produce went on during the outages, the upload backlog drains, and the partitions
// did cross into the bucket.
func afterOutages(t *testing.T, tb *testBroker, w *outageWindows, r checker.Report, h func() *checker.History) {
	t.Helper()
	if w.cycles() == 0 {
		t.Errorf("no outage was injected")
	}
	if h != nil {
		if n := w.acksDuring(h()); n == 0 {
			t.Errorf("no record was acknowledged while the bucket was down: produce must carry on")
		} else {
			t.Logf("acknowledged during outages: %d", n)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for tb.Health(context.Background()).UploadBacklogBytes > 0 {
		if time.Now().After(deadline) {
			t.Errorf("the upload backlog did not drain in 60 s: %+v", tb.Health(context.Background()))
			for _, tp := range tb.Snapshot(context.Background()).Topics {
				for _, p := range tp.Partitions {
					t.Logf("%s-%d: %+v", tp.Name, p.Partition, p)
				}
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	snap := tb.Snapshot(context.Background())
	remote := 0
	for _, tp := range snap.Topics {
		for _, p := range tp.Partitions {
			remote += p.RemoteSegments
		}
	}
	if remote == 0 {
		t.Errorf("nothing reached the bucket: the scenario did not exercise remote reads")
	}
	t.Logf("remote segments at the end: %d; longest backlog drain after an outage: %s", remote, w.maxDrain())
}

// TestBucketOutageMinIO stops the real MinIO process under the checker workload and
// restarts it, several times, with a tiered topic whose segments are small and whose local
// retention is short, so that the local/remote handover happens during the outages.
func TestBucketOutageMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	dur, cycles := scale(t, 14*time.Second, 2)
	srv := miniotest.Start(t)
	store, err := s3store.New(t.Context(), s3store.Config{
		Bucket: srv.NewBucket(t), Region: miniotest.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond,
		MaxRetryDuration: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, t.TempDir(), tieredBroker(), func(c *broker.Config) { c.RemoteStore = store })
	w := &outageWindows{}
	// A cold read during the outage: the oldest offset of each partition is only in the
	// bucket (or in the chunk cache). The answer is records or the retriable
	// KAFKA_STORAGE_ERROR, and the connection survives.
	raw := rawClient(t, tb.addr)
	var coldMu sync.Mutex
	cold := map[int16]int{}
	w.during = func() {
		for p := int32(0); p < 3; p++ {
			code, n := fetchOnce(t, raw, "outage-minio", p, 0)
			coldMu.Lock()
			if code == 0 && n == 0 {
				code = -100 // empty answer: the remote read is still running
			}
			cold[code]++
			coldMu.Unlock()
		}
	}
	var hist *checker.History
	r := runChecked(t, checker.Config{
		Brokers:      []string{tb.addr},
		Topic:        "outage-minio",
		Partitions:   3,
		TopicConfigs: tieredTopic(),
		Duration:     dur,
		Nemesis: func(ctx context.Context, h *checker.History) error {
			hist = h
			return outageNemesis(tb, w, cycles, dur, 3*time.Second,
				func() error { srv.Stop(); return nil },
				srv.Restart)(ctx, h)
		},
	}, "bucket outage (MinIO stop/restart)", cycles, w.maxDrain)
	afterOutages(t, tb, w, r, func() *checker.History { return hist })
	coldMu.Lock()
	defer coldMu.Unlock()
	t.Logf("cold fetches at offset 0 during outages, by error code (0 = records from cache, -100 = empty, remote read pending): %v", cold)
	for code := range cold {
		if code != 0 && code != -100 && code != kerr.KafkaStorageError.Code {
			t.Errorf("cold fetch during an outage answered code %d; want records or KAFKA_STORAGE_ERROR", code)
		}
	}
}

// fetchOnce fetches topic/partition from offset with a short wait and returns the error
// code and the bytes of record batches. A failed request (broken connection) fails t.
func fetchOnce(t testing.TB, cl *kgo.Client, topic string, partition int32, offset int64) (int16, int) {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 100
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Errorf("fetch %s-%d at %d: %v (the connection must survive)", topic, partition, offset, err)
		return -1, 0
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, len(p.RecordBatches)
}

// TestBucketFaultyStore runs the checker workload against a store that fails a share of
// every operation, adds latency, loses the response of some successful puts (so the
// uploader retries an object that exists, and orphans are left behind), breaks some
// response bodies half-way, and goes down completely now and then.
func TestBucketFaultyStore(t *testing.T) {
	dur, cycles := scale(t, 10*time.Second, 2)
	faults := storewrap.FaultConfig{
		Seed: uint64(time.Now().UnixNano()),
		// Per request. A segment upload is five puts (log, index, time index, producer
		// snapshot, manifest), so 3% + 3% lost responses fail a quarter of the attempts.
		ErrorRate: map[storewrap.Op]float64{
			storewrap.OpPut: 0.03, storewrap.OpPutIf: 0.03, storewrap.OpGet: 0.2,
			storewrap.OpStat: 0.1, storewrap.OpList: 0.1, storewrap.OpDelete: 0.1,
		},
		Latency:              2 * time.Millisecond,
		LoseResponseAfterPut: 0.03,
		BodyErrorRate:        0.2,
	}
	if v := os.Getenv("STRATA_FAULT_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		faults.Seed = n
	}
	t.Logf("fault seed %d (STRATA_FAULT_SEED reruns it)", faults.Seed)
	store := storewrap.Faulty(memstore.New(), storewrap.FaultConfig{})
	tb := startBroker(t, t.TempDir(), tieredBroker(), func(c *broker.Config) {
		c.RemoteStore = store
		c.RemoteChunkBytes = 8 << 10 // many ranged GETs: more reads meet the faults
		c.RemoteCacheBytes = 64 << 10
	})
	// Faults start once the broker runs: start-up reads of the bucket (topic restore,
	// SCRAM credentials) fail the start on any error, by design of those features.
	store.SetConfig(faults)
	w := &outageWindows{}
	var hist *checker.History
	r := runChecked(t, checker.Config{
		Brokers:      []string{tb.addr},
		Topic:        "outage-faulty",
		Partitions:   3,
		TopicConfigs: tieredTopic(),
		Duration:     dur,
		Nemesis: func(ctx context.Context, h *checker.History) error {
			hist = h
			return outageNemesis(tb, w, cycles, dur, 2*time.Second,
				func() error { store.SetDown(true); return nil },
				func() error { store.SetDown(false); return nil })(ctx, h)
		},
	}, "bucket faults (3% put errors + 3% lost put responses, 20% GET errors, latency, outages)", cycles, w.maxDrain)
	// Clear the error rates so that the backlog can drain deterministically.
	for _, op := range storewrap.Ops {
		calls, injected := store.Calls(op)
		t.Logf("during the workload: store %s: %d calls, %d faults injected", op, calls, injected)
	}
	store.SetConfig(storewrap.FaultConfig{})
	afterOutages(t, tb, w, r, func() *checker.History { return hist })
	for _, op := range storewrap.Ops {
		calls, injected := store.Calls(op)
		t.Logf("store %s: %d calls, %d faults injected", op, calls, injected)
	}
	named, orphans := segmentObjects(t, tb, store, "outage-faulty")
	t.Logf("segment objects in the bucket: %d named by the manifests, %d orphans (left by lost put responses and retries); the checker saw none served", named, orphans)
	if named == 0 {
		t.Errorf("no segment object is named by a manifest")
	}
	if calls, _ := store.Calls(storewrap.OpGet); calls == 0 {
		t.Errorf("no GetRange reached the store: remote reads were not exercised")
	}
	var _ tiering.ObjectStore = store
}

// segmentObjects counts the .log objects of topic in the bucket that its partitions'
// manifests name, and those they do not (orphans: uploads whose manifest write failed or
// whose response was lost and that were retried under a new name).
func segmentObjects(t *testing.T, tb *testBroker, store tiering.ObjectStore, topic string) (named, orphans int) {
	t.Helper()
	cl := newClient(t, tb.addr)
	details, err := kadm.NewClient(cl).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	td := details[topic]
	for p := range td.Partitions {
		_, entries, err := tiering.ReadPartitionManifest(context.Background(), store, "", topic, td.ID, p)
		if err != nil {
			t.Fatalf("read manifest of %s-%d: %v", topic, p, err)
		}
		keys := map[string]bool{}
		for _, e := range entries {
			keys[e.Log.Key] = true
		}
		err = store.List(context.Background(), tiering.PartitionPrefix("", topic, td.ID, p), func(oi tiering.ObjectInfo) error {
			if strings.HasSuffix(oi.Key, ".log") {
				if keys[oi.Key] {
					named++
				} else {
					orphans++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return named, orphans
}
