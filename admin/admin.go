// Package admin is Strata's HTTP admin listener: Prometheus metrics, liveness and readiness
// probes, a JSON view of the broker, and a small read-only web console.
//
// Routes (all GET):
//
//	/metrics        Prometheus exposition of the registry cmd/strata builds
//	/healthz        200 "ok" while the process serves HTTP (liveness)
//	/readyz         200 when ready; 503 while starting (data dirs opening, recovery) and
//	                when degraded, with the reasons: bucket unreachable, upload backlog over
//	                its threshold, disk nearly full, disk full (partitions fenced by
//	                ENOSPC), fenced partitions. ?degraded=ok answers
//	                200 when degraded (a broker whose bucket is down still serves produce and
//	                hot reads; use it for load-balancer readiness). Body: JSON Readiness.
//	/api/snapshot   JSON broker.ClusterSnapshot (topics, partitions, offset ranges, groups, health)
//	/api/readiness  JSON Readiness, always 200
//	/               the console (embedded; no network access needed at run time)
//
// The listener is started before the broker opens its data directory, so /healthz answers
// during a long recovery; SetSource is called once the broker is open.
package admin

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-io/strata/broker"
)

// DefaultAddr is the admin listener's default address (strata.admin.listener).
const DefaultAddr = "127.0.0.1:9644"

// Source is the read-only view of a broker the admin listener shows. *broker.Broker
// implements it.
type Source interface {
	Snapshot(ctx context.Context) broker.ClusterSnapshot
	Health(ctx context.Context) broker.Health
}

var _ Source = (*broker.Broker)(nil)

// Config configures the admin listener. The zero value listens on DefaultAddr.
type Config struct {
	Addr     string              // listen address; default DefaultAddr; port 0 picks a free port
	Gatherer prometheus.Gatherer // served at /metrics; nil = /metrics answers 404
	Logger   *slog.Logger        // nil = discard
	// BacklogBytes: readiness is degraded when sealed local bytes not yet uploaded exceed
	// it; default 1 GiB; -1 = never.
	BacklogBytes int64
	// MinFreeDiskRatio: degraded when the data dir's filesystem has less free space than
	// this fraction; default 0.05.
	MinFreeDiskRatio float64
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.BacklogBytes == 0 {
		c.BacklogBytes = 1 << 30
	}
	if c.MinFreeDiskRatio == 0 {
		c.MinFreeDiskRatio = 0.05
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Readiness is the /readyz answer.
type Readiness struct {
	Status  string        `json:"status"` // starting, ok, degraded
	Reasons []string      `json:"reasons,omitempty"`
	Health  broker.Health `json:"health"`
}

// Status values of Readiness.
const (
	StatusStarting = "starting"
	StatusOK       = "ok"
	StatusDegraded = "degraded"
)

// Evaluate applies the thresholds of cfg to h.
func Evaluate(h broker.Health, cfg Config) Readiness {
	cfg = cfg.withDefaults()
	r := Readiness{Status: StatusOK, Health: h}
	if !h.Recovered {
		return Readiness{Status: StatusStarting, Reasons: []string{"recovering partitions"}, Health: h}
	}
	if h.DataDirError != "" {
		r.Reasons = append(r.Reasons, "data dir "+h.DataDir+" unavailable: "+h.DataDirError)
	}
	if h.BucketError != "" {
		r.Reasons = append(r.Reasons, "bucket unreachable: "+h.BucketError)
	}
	if cfg.BacklogBytes >= 0 && h.UploadBacklogBytes > cfg.BacklogBytes {
		r.Reasons = append(r.Reasons, fmt.Sprintf("upload backlog %d bytes is over the threshold of %d bytes", h.UploadBacklogBytes, cfg.BacklogBytes))
	}
	if h.DiskTotalBytes > 0 && float64(h.DiskFreeBytes) < cfg.MinFreeDiskRatio*float64(h.DiskTotalBytes) {
		r.Reasons = append(r.Reasons, fmt.Sprintf("disk nearly full: %d of %d bytes free in %s", h.DiskFreeBytes, h.DiskTotalBytes, h.DataDir))
	}
	if h.StorageFencedPartitions > 0 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d partitions fenced by a failed write or fsync refuse produce until a restart recovers them", h.StorageFencedPartitions))
	}
	if h.DiskFull != "" {
		r.Reasons = append(r.Reasons, "disk full: "+h.DiskFull)
	}
	if h.DiskPressure != "" {
		r.Reasons = append(r.Reasons, "disk budget used up, produce refused: "+h.DiskPressure)
	}
	if h.FencedPartitions > 0 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d partitions fenced by another manifest writer", h.FencedPartitions))
	}
	if len(r.Reasons) > 0 {
		r.Status = StatusDegraded
	}
	return r
}

//go:embed console
var consoleFS embed.FS

// Server is the admin listener.
type Server struct {
	cfg  Config
	ln   net.Listener
	srv  *http.Server
	src  atomic.Pointer[sourceRef]
	done chan struct{}
}

type sourceRef struct{ s Source }

// New binds the listener (so Addr is valid at once) and starts serving in the background.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the admin API on %q: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("admin listener stopped", "err", err)
		}
	}()
	cfg.Logger.Info("admin listener started", "addr", ln.Addr().String())
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetSource installs the broker to show (nil: back to "starting").
func (s *Server) SetSource(src Source) {
	if src == nil {
		s.src.Store(nil)
		return
	}
	s.src.Store(&sourceRef{src})
}

func (s *Server) source() Source {
	if r := s.src.Load(); r != nil {
		return r.s
	}
	return nil
}

// Close stops the listener, waiting up to 5 s for requests in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// Handler returns the admin routes (for tests and embedding).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.cfg.Logger}}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rd := s.readiness(r.Context())
		code := http.StatusOK
		switch {
		case rd.Status == StatusStarting:
			code = http.StatusServiceUnavailable
		case rd.Status == StatusDegraded && r.URL.Query().Get("degraded") != "ok":
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, rd)
	})
	mux.HandleFunc("GET /api/readiness", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.readiness(r.Context()))
	})
	mux.HandleFunc("GET /api/snapshot", func(w http.ResponseWriter, r *http.Request) {
		src := s.source()
		if src == nil {
			writeJSON(w, http.StatusServiceUnavailable, Readiness{Status: StatusStarting, Reasons: []string{"broker not open yet"}})
			return
		}
		snap := src.Snapshot(r.Context())
		writeJSON(w, http.StatusOK, struct {
			broker.ClusterSnapshot
			Readiness Readiness `json:"readiness"`
		}{snap, Evaluate(snap.Health, s.cfg)})
	})
	sub, _ := fs.Sub(consoleFS, "console")
	mux.Handle("GET /", http.FileServerFS(sub))
	return mux
}

func (s *Server) readiness(ctx context.Context) Readiness {
	src := s.source()
	if src == nil {
		return Readiness{Status: StatusStarting, Reasons: []string{"broker not open yet: opening data dirs and recovering partitions"}}
	}
	return Evaluate(src.Health(ctx), s.cfg)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("metrics exposition error", "err", fmt.Sprint(v...)) }
