package storewrap_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
	"github.com/strata-io/strata/tiering/objstoretest"
	"github.com/strata-io/strata/tiering/storewrap"
)

// plain hides memstore's PutIf.
type plain struct{ tiering.ObjectStore }

func TestConformanceThroughDecorators(t *testing.T) {
	t.Run("Prefix", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) tiering.ObjectStore {
			inner := memstore.New()
			// Keys outside the prefix must stay invisible.
			objstoretest.Put(t, inner, "other/list/x", []byte("x"))
			objstoretest.Put(t, inner, "tenant-list/x", []byte("x"))
			return storewrap.Prefix(inner, "/tenant/")
		})
	})
	t.Run("Metrics", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) tiering.ObjectStore {
			return storewrap.Metrics(memstore.New(), prometheus.NewRegistry())
		})
	})
	t.Run("Faulty", func(t *testing.T) {
		objstoretest.Run(t, func(t *testing.T) tiering.ObjectStore {
			return storewrap.Faulty(memstore.New(), storewrap.FaultConfig{Seed: 1})
		})
	})
}

func TestPrefixLayout(t *testing.T) {
	inner := memstore.New()
	s := storewrap.Prefix(inner, "cluster-a")
	objstoretest.Put(t, s, "t-1/0/manifest", []byte("m"))
	if _, ok := inner.Bytes("cluster-a/t-1/0/manifest"); !ok {
		t.Fatal("object not stored under the prefix")
	}
	oi, err := s.Stat(t.Context(), "t-1/0/manifest")
	if err != nil || oi.Key != "t-1/0/manifest" {
		t.Fatalf("stat = %+v, %v", oi, err)
	}
	if storewrap.Prefix(inner, "") != tiering.ObjectStore(inner) {
		t.Error("empty prefix should return the store itself")
	}
	if _, ok := storewrap.Prefix(plain{inner}, "p").(tiering.ConditionalPutter); ok {
		t.Error("Prefix invented a ConditionalPutter")
	}
	if _, ok := storewrap.Prefix(inner, "p").(tiering.ConditionalPutter); !ok {
		t.Error("Prefix lost the ConditionalPutter")
	}
	if _, ok := storewrap.Metrics(plain{inner}, nil).(tiering.ConditionalPutter); ok {
		t.Error("Metrics invented a ConditionalPutter")
	}
}

func TestMetricsValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := storewrap.Metrics(memstore.New(), reg)
	s2 := storewrap.Metrics(memstore.New(), reg) // shares the series
	ctx := t.Context()
	objstoretest.Put(t, s, "a", make([]byte, 100))
	objstoretest.Put(t, s2, "b", make([]byte, 50))
	if got := objstoretest.GetRange(t, s, "a", 10, 30); len(got) != 30 {
		t.Fatalf("read %d", len(got))
	}
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, tiering.ErrNotExist) {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	s.Delete(cctx, "a")
	if _, err := s.(tiering.ConditionalPutter).PutIf(ctx, "a", strings.NewReader("x"), 1, ""); !errors.Is(err, tiering.ErrPreconditionFailed) {
		t.Fatal(err)
	}
	f := func(c prometheus.Collector, want float64) {
		t.Helper()
		if got := testutil.ToFloat64(c); got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	m := storewrap.NewRemoteMetrics(reg) // the registered collectors
	f(m.Requests.WithLabelValues("put", "ok"), 2)
	f(m.Requests.WithLabelValues("get", "ok"), 1)
	f(m.Requests.WithLabelValues("stat", "not_found"), 1)
	f(m.Requests.WithLabelValues("delete", "canceled"), 1)
	f(m.Requests.WithLabelValues("put_if", "precondition_failed"), 1)
	f(m.Bytes.WithLabelValues("put"), 150)
	f(m.Bytes.WithLabelValues("get"), 30)
	if n := testutil.CollectAndCount(reg, "strata_remote_request_duration_seconds"); n == 0 {
		t.Error("no duration series")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "strata_remote_bytes_total" && !strings.Contains(mf.GetHelp(), "RemoteFetchBytesPerSec") {
			t.Errorf("help text lacks Kafka's name: %q", mf.GetHelp())
		}
	}
}

func TestFaultyErrorRateIsSeeded(t *testing.T) {
	run := func(seed uint64) []bool {
		s := storewrap.Faulty(memstore.New(), storewrap.FaultConfig{
			Seed: seed, ErrorRate: map[storewrap.Op]float64{storewrap.OpPut: 0.5}})
		var out []bool
		for range 64 {
			err := s.Put(t.Context(), "k", strings.NewReader("v"), 1)
			if err != nil && !errors.Is(err, storewrap.ErrInjected) {
				t.Fatal(err)
			}
			out = append(out, err != nil)
		}
		calls, injected := s.Calls(storewrap.OpPut)
		if calls != 64 || injected < 16 || injected > 48 {
			t.Fatalf("calls %d, injected %d: not a 50%% rate", calls, injected)
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	if !equal(a, b) {
		t.Error("same seed, different faults")
	}
	if equal(a, c) {
		t.Error("different seeds, same faults")
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaultyModes(t *testing.T) {
	inner := memstore.New()
	s := storewrap.Faulty(inner, storewrap.FaultConfig{LoseResponseAfterPut: 1})
	ctx := t.Context()
	// Lost response: error for the caller, object in the store.
	if err := s.Put(ctx, "k", strings.NewReader("v"), 1); !errors.Is(err, storewrap.ErrInjected) {
		t.Fatalf("put: %v", err)
	}
	if b, ok := inner.Bytes("k"); !ok || string(b) != "v" {
		t.Fatal("lost-response put did not store the object")
	}
	if _, err := s.PutIf(ctx, "c", strings.NewReader("v"), 1, ""); !errors.Is(err, storewrap.ErrInjected) {
		t.Fatalf("put_if: %v", err)
	}
	if _, ok := inner.Bytes("c"); !ok {
		t.Fatal("lost-response put_if did not store the object")
	}
	// Outage switch.
	s.SetConfig(storewrap.FaultConfig{})
	s.SetDown(true)
	for _, err := range []error{
		s.Put(ctx, "k2", strings.NewReader("v"), 1),
		s.Delete(ctx, "k"),
		s.List(ctx, "", func(tiering.ObjectInfo) error { return nil }),
		func() error { _, err := s.Stat(ctx, "k"); return err }(),
		func() error { _, err := s.GetRange(ctx, "k", 0, -1); return err }(),
	} {
		if !errors.Is(err, storewrap.ErrInjected) {
			t.Errorf("while down: %v", err)
		}
	}
	if inner.Len() != 2 {
		t.Fatalf("calls reached the store while down: %d objects", inner.Len())
	}
	s.SetDown(false)
	objstoretest.Put(t, s, "k2", []byte("v2"))
	// Body cut halfway.
	objstoretest.Put(t, s, "body", []byte("0123456789"))
	s.SetConfig(storewrap.FaultConfig{BodyErrorRate: 1})
	rc, err := s.GetRange(ctx, "body", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if string(b) != "01234" || !errors.Is(err, storewrap.ErrInjected) {
		t.Fatalf("cut body: %q, %v", b, err)
	}
	// Hook for targeted faults.
	errHook := errors.New("manifest write refused")
	s.SetConfig(storewrap.FaultConfig{Hook: func(op storewrap.Op, key string) error {
		if op == storewrap.OpPut && strings.HasSuffix(key, "manifest") {
			return errHook
		}
		return nil
	}})
	if err := s.Put(ctx, "p/manifest", strings.NewReader("m"), 1); !errors.Is(err, errHook) {
		t.Fatalf("hooked put: %v", err)
	}
	objstoretest.Put(t, s, "p/0.log", []byte("d"))
	// Latency honours ctx.
	s.SetConfig(storewrap.FaultConfig{Latency: time.Hour})
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Stat(cctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stat under latency: %v", err)
	}
	// PutIf without the capability.
	noCond := storewrap.Faulty(plain{inner}, storewrap.FaultConfig{})
	if _, err := noCond.PutIf(ctx, "x", strings.NewReader("v"), 1, ""); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("put_if on a plain store: %v", err)
	}
}

// retainer is a store with PutRetained, recording the keys and locks it was given.
type retainer struct {
	tiering.ObjectStore
	keys  []string
	locks []tiering.ObjectLock
}

func (r *retainer) PutRetained(ctx context.Context, key string, rd io.Reader, size int64, lock tiering.ObjectLock) error {
	r.keys, r.locks = append(r.keys, key), append(r.locks, lock)
	return r.ObjectStore.Put(ctx, key, rd, size)
}

// Prefix and Metrics keep a RetainingPutter (prefixing its keys) and invent none.
func TestWrappersKeepRetainingPutter(t *testing.T) {
	inner := &retainer{ObjectStore: memstore.New()}
	s := storewrap.Metrics(storewrap.Prefix(inner, "p"), prometheus.NewRegistry())
	rp, ok := s.(tiering.RetainingPutter)
	if !ok {
		t.Fatal("Metrics(Prefix(...)) lost the RetainingPutter")
	}
	lock := tiering.ObjectLock{Mode: "GOVERNANCE", Until: time.Unix(2e9, 0)}
	if err := rp.PutRetained(t.Context(), "k", strings.NewReader("v"), 1, lock); err != nil {
		t.Fatal(err)
	}
	if len(inner.keys) != 1 || inner.keys[0] != "p/k" || inner.locks[0] != lock {
		t.Fatalf("inner got %q %v", inner.keys, inner.locks)
	}
	if _, ok := s.(tiering.ConditionalPutter); ok {
		t.Error("a ConditionalPutter invented")
	}
	if _, ok := storewrap.Metrics(memstore.New(), nil).(tiering.RetainingPutter); ok {
		t.Error("Metrics invented a RetainingPutter")
	}
}
