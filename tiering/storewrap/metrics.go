package storewrap

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/tiering"
)

// Result label values of strata_remote_requests_total.
const (
	ResultOK                 = "ok"
	ResultNotFound           = "not_found"
	ResultPreconditionFailed = "precondition_failed"
	ResultCanceled           = "canceled"
	ResultError              = "error"
)

// RemoteMetrics are the collectors behind Metrics. Several stores may share one set.
type RemoteMetrics struct {
	Requests *prometheus.CounterVec   // strata_remote_requests_total{op,result}
	Duration *prometheus.HistogramVec // strata_remote_request_duration_seconds{op}
	Bytes    *prometheus.CounterVec   // strata_remote_bytes_total{op}
}

// NewRemoteMetrics creates the collectors and registers them with reg (nil: not registered).
// Collectors already registered with reg by an earlier call are reused.
func NewRemoteMetrics(reg prometheus.Registerer) *RemoteMetrics {
	m := &RemoteMetrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_requests_total",
			Help: "Operations on the remote object store by operation and result (ok, not_found, " +
				"precondition_failed, canceled, error); an operation the backend retried counts once.",
		}, []string{"op", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "strata_remote_request_duration_seconds",
			Help: "Latency of remote object store operations, including retries; for get, the time " +
				"until the body starts streaming.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"op"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_remote_bytes_total",
			Help: "Bytes moved to and from the remote object store: op=put is Kafka's " +
				"RemoteCopyBytesPerSec (as a counter), op=get is RemoteFetchBytesPerSec.",
		}, []string{"op"}),
	}
	if reg != nil {
		m.Requests = register(reg, m.Requests)
		m.Duration = register(reg, m.Duration)
		m.Bytes = register(reg, m.Bytes)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a conflicting collector under our name is a programmer error
	}
	return c
}

// Metrics wraps s so that every operation is counted and timed, registering the collectors
// with reg (nil: unregistered). Wrapping several stores with one registry shares the series.
func Metrics(s tiering.ObjectStore, reg prometheus.Registerer) tiering.ObjectStore {
	return WithMetrics(s, NewRemoteMetrics(reg))
}

// WithMetrics wraps s with existing collectors.
func WithMetrics(s tiering.ObjectStore, m *RemoteMetrics) tiering.ObjectStore {
	ms := &metered{s: s, m: m}
	return withCaps(ms, s, func(cp tiering.ConditionalPutter) tiering.ConditionalPutter {
		return meteredCond{ms: ms, cp: cp}
	}, func(rp tiering.RetainingPutter) tiering.RetainingPutter {
		return meteredRetain{ms: ms, rp: rp}
	})
}

// meteredRetain counts PutRetained as a put.
type meteredRetain struct {
	ms *metered
	rp tiering.RetainingPutter
}

func (c meteredRetain) PutRetained(ctx context.Context, key string, r io.Reader, size int64, lock tiering.ObjectLock) error {
	start := time.Now()
	err := c.rp.PutRetained(ctx, key, r, size, lock)
	c.ms.observe(OpPut, start, err)
	if err == nil {
		c.ms.m.Bytes.WithLabelValues(string(OpPut)).Add(float64(size))
	}
	return err
}

type metered struct {
	s tiering.ObjectStore
	m *RemoteMetrics
}

func resultOf(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, tiering.ErrNotExist):
		return ResultNotFound
	case errors.Is(err, tiering.ErrPreconditionFailed):
		return ResultPreconditionFailed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ResultCanceled
	default:
		return ResultError
	}
}

func (ms *metered) observe(op Op, start time.Time, err error) {
	ms.m.Requests.WithLabelValues(string(op), resultOf(err)).Inc()
	ms.m.Duration.WithLabelValues(string(op)).Observe(time.Since(start).Seconds())
}

func (ms *metered) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	start := time.Now()
	err := ms.s.Put(ctx, key, r, size)
	ms.observe(OpPut, start, err)
	if err == nil {
		ms.m.Bytes.WithLabelValues(string(OpPut)).Add(float64(size))
	}
	return err
}

func (ms *metered) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := ms.s.GetRange(ctx, key, off, length)
	ms.observe(OpGet, start, err)
	if err != nil {
		return nil, err
	}
	return &countingBody{rc: rc, c: ms.m.Bytes.WithLabelValues(string(OpGet))}, nil
}

func (ms *metered) Stat(ctx context.Context, key string) (tiering.ObjectInfo, error) {
	start := time.Now()
	oi, err := ms.s.Stat(ctx, key)
	ms.observe(OpStat, start, err)
	return oi, err
}

func (ms *metered) List(ctx context.Context, prefix string, fn func(tiering.ObjectInfo) error) error {
	start := time.Now()
	err := ms.s.List(ctx, prefix, fn)
	ms.observe(OpList, start, err)
	return err
}

func (ms *metered) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := ms.s.Delete(ctx, key)
	ms.observe(OpDelete, start, err)
	return err
}

type meteredCond struct {
	ms *metered
	cp tiering.ConditionalPutter
}

func (c meteredCond) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	start := time.Now()
	etag, err := c.cp.PutIf(ctx, key, r, size, ifMatch)
	c.ms.observe(OpPutIf, start, err)
	if err == nil {
		c.ms.m.Bytes.WithLabelValues(string(OpPutIf)).Add(float64(size))
	}
	return etag, err
}

// countingBody counts the bytes the caller actually reads.
type countingBody struct {
	rc io.ReadCloser
	c  prometheus.Counter
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.c.Add(float64(n))
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }
