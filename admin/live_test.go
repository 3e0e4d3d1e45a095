package admin

// Against a live broker with tiered data (fsstore behind a fault-injecting wrapper):
// metrics scraped over HTTP and asserted by value, readiness going degraded when the
// bucket goes down and back, and the console in headless Chromium (console_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering/fsstore"
	"github.com/strata-io/strata/tiering/storewrap"
)

const (
	liveTopic   = "orders"
	liveRecords = 2000
	liveGroup   = "billing"
	liveCommit  = 1500
)

type live struct {
	logs  *syncBuffer
	reg   *prometheus.Registry
	b     *broker.Broker
	adm   *Server
	store *storewrap.FaultyStore
	base  string // http://host:port
	kadm  *kadm.Client
}

func startLive(t *testing.T) *live {
	t.Helper()
	dir := t.TempDir()
	fs, err := fsstore.New(dir + "/bucket")
	if err != nil {
		t.Fatal(err)
	}
	store := storewrap.Faulty(fs, storewrap.FaultConfig{})
	cfg, err := broker.ParseConfig(map[string]string{
		"listeners":                       "PLAINTEXT://127.0.0.1:0",
		"log.dirs":                        dir + "/data",
		"log.retention.check.interval.ms": "100",
		"auto.create.topics.enable":       "false",
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg.RemoteStore = store
	cfg.Registerer = reg
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterStateMetrics(reg, broker.StateMetricsOptions{PerPartition: true}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	srv, err := New(Config{Addr: "127.0.0.1:0", Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetSource(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	l := &live{logs: logs, reg: reg, b: b, adm: srv, store: store, base: "http://" + srv.Addr().String(), kadm: kadm.NewClient(cl)}
	t.Cleanup(func() {
		cl.Close()
		srv.Close()
		b.Close()
		<-done
	})

	ctx := t.Context()
	cr, err := l.kadm.CreateTopic(ctx, 1, 1, map[string]*string{
		"remote.storage.enable": kadm.StringPtr("true"),
		"segment.bytes":         kadm.StringPtr("16384"),
		"local.retention.bytes": kadm.StringPtr("60000"),
		"retention.ms":          kadm.StringPtr("-1"),
	}, liveTopic)
	if err != nil || cr.Err != nil {
		t.Fatalf("create topic: %v %v", err, cr.Err)
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(4096), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	var recs []*kgo.Record
	for i := range liveRecords {
		recs = append(recs, &kgo.Record{Topic: liveTopic, Value: fmt.Appendf(nil, "order-%05d-%s", i, strings.Repeat("x", 100))})
	}
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Wait until the partition has all three kinds of range: uploaded and deleted locally,
	// uploaded and still local, and not uploaded (the active segment).
	// Then wait for the uploads and local deletions to settle, so that what the tests
	// compare does not move.
	var prev string
	waitFor(t, "tiered data", 30*time.Second, func() bool {
		time.Sleep(250 * time.Millisecond)
		s := b.Snapshot(ctx)
		p := s.Topics[0].Partitions[0]
		cur := fmt.Sprint(p)
		stable := cur == prev
		prev = cur
		return stable && p.UploadLagBytes == 0 && p.LocalStartOffset > 0 && p.RemoteEndOffset > p.LocalStartOffset && len(p.Ranges) == 3
	})
	// A group that committed liveCommit: lag liveRecords-liveCommit.
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: liveTopic, Partition: 0, At: liveCommit, LeaderEpoch: -1})
	if err := l.kadm.CommitAllOffsets(ctx, liveGroup, os); err != nil {
		t.Fatal(err)
	}
	return l
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// scrape parses /metrics.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value returns the value of the series of name whose labels include want; ok=false if none.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestLiveMetricsAndReadiness(t *testing.T) {
	l := startLive(t)
	ctx := t.Context()

	// An error response: Metadata for an unknown topic (auto-create is off).
	if _, err := l.kadm.ListTopics(ctx, "no-such-topic"); err != nil {
		t.Logf("list unknown topic: %v", err)
	}
	snap := l.b.Snapshot(ctx)
	p := snap.Topics[0].Partitions[0]

	mfs := scrape(t, l.base)
	part := map[string]string{"topic": liveTopic, "partition": "0"}
	must := func(name string, labels map[string]string) float64 {
		t.Helper()
		v, ok := value(mfs, name, labels)
		if !ok {
			t.Fatalf("no series %s%v", name, labels)
		}
		return v
	}
	if v := must("strata_partition_high_watermark", part); v != liveRecords {
		t.Errorf("high watermark %v, want %d", v, liveRecords)
	}
	if v := must("strata_partition_log_start_offset", part); v != 0 {
		t.Errorf("log start %v, want 0", v)
	}
	if v := must("strata_partition_local_log_start_offset", part); v <= 0 || v >= liveRecords {
		t.Errorf("local log start %v, want inside (0, %d)", v, liveRecords)
	}
	remote := must("strata_partition_size_bytes", map[string]string{"topic": liveTopic, "partition": "0", "tier": "remote"})
	local := must("strata_partition_size_bytes", map[string]string{"topic": liveTopic, "partition": "0", "tier": "local"})
	if remote <= 0 || local <= 0 {
		t.Errorf("sizes local %v remote %v, want both > 0", local, remote)
	}
	if remote < float64(p.RemoteBytes)*0.5 || remote > float64(p.RemoteBytes)*2 {
		t.Errorf("remote size %v far from the snapshot's %d", remote, p.RemoteBytes)
	}
	if v := must("strata_group_lag", map[string]string{"group": liveGroup, "topic": liveTopic, "partition": "0"}); v != liveRecords-liveCommit {
		t.Errorf("group lag %v, want %d", v, liveRecords-liveCommit)
	}
	if v := must("strata_group_committed_offset", map[string]string{"group": liveGroup, "topic": liveTopic, "partition": "0"}); v != liveCommit {
		t.Errorf("committed %v, want %d", v, liveCommit)
	}
	// Every record value is 106 bytes, so the batches carry more than 2000*106 bytes.
	if v := must("strata_topic_bytes_in_total", map[string]string{"topic": liveTopic}); v < liveRecords*106 || v > liveRecords*200 {
		t.Errorf("bytes in %v, want about %d", v, liveRecords*106)
	}
	if v := must("strata_topic_bytes_in_total", map[string]string{"topic": liveTopic}); v != must("strata_produce_bytes_total", nil) {
		t.Errorf("per-topic bytes in %v disagree with strata_produce_bytes_total %v", v, must("strata_produce_bytes_total", nil))
	}
	if v := must("strata_requests_total", map[string]string{"api": "Produce"}); v < 1 {
		t.Errorf("produce requests %v", v)
	}
	if v := must("strata_request_duration_seconds", map[string]string{"api": "Produce"}); v != must("strata_requests_total", map[string]string{"api": "Produce"}) {
		t.Errorf("produce latency samples %v != produce requests", v)
	}
	if v := must("strata_request_errors_total", map[string]string{"api": "Metadata", "error": "UNKNOWN_TOPIC_OR_PARTITION"}); v < 1 {
		t.Errorf("metadata errors %v", v)
	}
	if v := must("strata_log_fsync_seconds", nil); v < 1 {
		t.Errorf("fsyncs observed %v; acks=-1 produces fsync", v)
	}
	if v := must("strata_connections", nil); v < 1 {
		t.Errorf("connections %v, want >= 1", v)
	}
	if v := must("strata_remote_copy_segments_total", map[string]string{"topic": liveTopic}); v < 3 {
		t.Errorf("segments uploaded %v", v)
	}

	// Consume everything from 0 (most from the bucket): bytes out per topic.
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.b.Addr().String()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{liveTopic: {0: kgo.NewOffset().At(0)}}))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	for n < liveRecords && cctx.Err() == nil {
		n += len(cl.PollFetches(cctx).Records())
	}
	cancel()
	cl.Close()
	mfs = scrape(t, l.base)
	if v := must("strata_topic_bytes_out_total", map[string]string{"topic": liveTopic}); v < liveRecords*106 {
		t.Errorf("bytes out %v after consuming %d records", v, n)
	}

	// Readiness: ok; bucket down -> degraded with the reason; back up -> ok.
	readyz := func(q string) (int, Readiness) {
		code, body := httpGet(t, l.base+"/readyz"+q)
		var rd Readiness
		if err := json.Unmarshal(body, &rd); err != nil {
			t.Fatalf("/readyz: %v: %s", err, body)
		}
		return code, rd
	}
	if code, rd := readyz(""); code != 200 || rd.Status != StatusOK {
		t.Fatalf("/readyz healthy: %d %+v", code, rd)
	}
	l.store.SetDown(true)
	waitFor(t, "degraded readiness", 10*time.Second, func() bool {
		code, rd := readyz("")
		return code == 503 && rd.Status == StatusDegraded && len(rd.Reasons) > 0 && strings.HasPrefix(rd.Reasons[0], "bucket unreachable: ")
	})
	if code, rd := readyz("?degraded=ok"); code != 200 || rd.Status != StatusDegraded {
		t.Fatalf("/readyz?degraded=ok: %d %+v", code, rd)
	}
	if code, _ := httpGet(t, l.base+"/healthz"); code != 200 {
		t.Fatalf("/healthz while degraded: %d", code)
	}
	l.store.SetDown(false)
	waitFor(t, "ready again", 10*time.Second, func() bool {
		code, rd := readyz("")
		return code == 200 && rd.Status == StatusOK
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestLiveLogsAndAggregatedMetrics checks the structured event lines and the per-topic
// (default) form of the partition metrics.
func TestLiveLogsAndAggregatedMetrics(t *testing.T) {
	l := startLive(t)
	events := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(l.logs.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		msg, _ := ev["msg"].(string)
		switch msg {
		case "segment rolled", "segment uploaded", "local segments deleted":
			if ev["topic"] != liveTopic || ev["partition"] == nil {
				t.Errorf("%s without topic/partition: %v", msg, ev)
			}
		}
		events[msg]++
	}
	for _, msg := range []string{"broker started", "segment rolled", "segment uploaded", "local segments deleted"} {
		if events[msg] == 0 {
			t.Errorf("no %q log line; got %v", msg, events)
		}
	}
	if events["segment uploaded"] > events["segment rolled"] {
		t.Errorf("%d uploads for %d rolls", events["segment uploaded"], events["segment rolled"])
	}

	reg := prometheus.NewRegistry()
	if err := l.b.RegisterStateMetrics(reg, broker.StateMetricsOptions{}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	for _, m := range byName["strata_partition_high_watermark"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "partition" {
				t.Fatalf("partition label without the per-partition switch: %v", m)
			}
		}
	}
	if v, ok := value(byName, "strata_partition_high_watermark", map[string]string{"topic": liveTopic}); !ok || v != liveRecords {
		t.Errorf("per-topic high watermark %v %v", v, ok)
	}
	if v, ok := value(byName, "strata_group_lag", map[string]string{"group": liveGroup, "topic": liveTopic}); !ok || v != liveRecords-liveCommit {
		t.Errorf("per-topic group lag %v %v", v, ok)
	}
}
