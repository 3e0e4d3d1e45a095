package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strata-io/strata/broker"
)

type fakeSource struct{ h broker.Health }

func (f *fakeSource) Snapshot(ctx context.Context) broker.ClusterSnapshot {
	return broker.ClusterSnapshot{ClusterID: "c1", Health: f.h}
}
func (f *fakeSource) Health(context.Context) broker.Health { return f.h }

func TestEvaluate(t *testing.T) {
	healthy := broker.Health{Recovered: true, DiskFreeBytes: 50, DiskTotalBytes: 100, TieringEnabled: true}
	f := func(name string, mod func(*broker.Health), cfg Config, status, reason string) {
		t.Helper()
		h := healthy
		mod(&h)
		r := Evaluate(h, cfg)
		if r.Status != status || (reason != "" && !strings.Contains(strings.Join(r.Reasons, "|"), reason)) || (reason == "" && len(r.Reasons) > 0) {
			t.Errorf("%s: got %s %q, want %s with %q", name, r.Status, r.Reasons, status, reason)
		}
	}
	f("healthy", func(*broker.Health) {}, Config{}, StatusOK, "")
	f("recovering", func(h *broker.Health) { h.Recovered = false }, Config{}, StatusStarting, "recovering")
	f("bucket", func(h *broker.Health) { h.BucketError = "storewrap: injected fault" }, Config{}, StatusDegraded, "bucket unreachable: storewrap: injected fault")
	f("backlog", func(h *broker.Health) { h.UploadBacklogBytes = 2 << 30 }, Config{}, StatusDegraded, "upload backlog 2147483648 bytes")
	f("backlog under custom threshold", func(h *broker.Health) { h.UploadBacklogBytes = 100 }, Config{BacklogBytes: 1000}, StatusOK, "")
	f("backlog check off", func(h *broker.Health) { h.UploadBacklogBytes = 1 << 40 }, Config{BacklogBytes: -1}, StatusOK, "")
	f("disk", func(h *broker.Health) { h.DiskFreeBytes = 4 }, Config{}, StatusDegraded, "disk nearly full: 4 of 100 bytes free")
	f("disk custom", func(h *broker.Health) { h.DiskFreeBytes = 15 }, Config{MinFreeDiskRatio: 0.2}, StatusDegraded, "disk nearly full")
	f("disk unknown", func(h *broker.Health) { h.DiskFreeBytes, h.DiskTotalBytes = -1, -1 }, Config{}, StatusOK, "")
	f("data dir", func(h *broker.Health) { h.DataDir, h.DataDirError = "/d", "no such file or directory" }, Config{}, StatusDegraded, "data dir /d unavailable: no such file")
	f("fenced", func(h *broker.Health) { h.FencedPartitions = 2 }, Config{}, StatusDegraded, "2 partitions fenced")
	f("disk full", func(h *broker.Health) { h.DiskFull = "1 partitions fenced by a full disk" }, Config{}, StatusDegraded, "disk full: 1 partitions fenced by a full disk")
	f("storage fenced", func(h *broker.Health) { h.StorageFencedPartitions = 3 }, Config{}, StatusDegraded, "3 partitions fenced by a failed write or fsync")
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestProbesAndStartingState(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := s.Handler()
	if code, body := get(t, h, "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	// No broker yet: starting, 503, with a reason; the snapshot is unavailable too.
	code, body := get(t, h, "/readyz")
	var rd Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil || code != 503 || rd.Status != StatusStarting || len(rd.Reasons) == 0 {
		t.Fatalf("/readyz before SetSource: %d %s", code, body)
	}
	if code, _ := get(t, h, "/api/snapshot"); code != 503 {
		t.Fatalf("/api/snapshot before SetSource: %d", code)
	}
	if code, _ := get(t, h, "/metrics"); code != 404 {
		t.Fatalf("/metrics without a gatherer: %d", code)
	}

	src := &fakeSource{h: broker.Health{Recovered: true}}
	s.SetSource(src)
	if code, body := get(t, h, "/readyz"); code != 200 || !strings.Contains(body, `"status": "ok"`) {
		t.Fatalf("/readyz healthy: %d %s", code, body)
	}
	src.h.BucketError = "connection refused"
	code, body = get(t, h, "/readyz")
	if code != 503 || !strings.Contains(body, "bucket unreachable: connection refused") {
		t.Fatalf("/readyz degraded: %d %s", code, body)
	}
	if code, _ := get(t, h, "/readyz?degraded=ok"); code != 200 {
		t.Fatalf("/readyz?degraded=ok: %d", code)
	}
	if code, body := get(t, h, "/api/snapshot"); code != 200 || !strings.Contains(body, `"clusterId": "c1"`) || !strings.Contains(body, `"status": "degraded"`) {
		t.Fatalf("/api/snapshot: %d %s", code, body)
	}
	// The console is embedded.
	for _, p := range []string{"/", "/console.js", "/console.css"} {
		if code, body := get(t, h, p); code != 200 || len(body) < 100 {
			t.Fatalf("%s: %d, %d bytes", p, code, len(body))
		}
	}
	// Over the real listener too.
	resp, err := http.Get("http://" + s.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /healthz over TCP: %v", err)
	}
	resp.Body.Close()
}
