package s3store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/s3store"
)

// fakeS3 is just enough of S3 (path style, one bucket) to script failures: fail decides,
// per request, whether to answer with an error instead of serving it.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	reqs    []*http.Request
	calls   atomic.Int32
	fail    func(n int, r *http.Request, w http.ResponseWriter) bool
}

func newFake(t *testing.T, fail func(n int, r *http.Request, w http.ResponseWriter) bool) (*fakeS3, *s3store.Store) {
	f := &fakeS3{objects: map[string][]byte{}, fail: fail}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, newStore(t, s3store.Config{
		Bucket: "bkt", Endpoint: srv.URL, PathStyle: true, AccessKey: "AKIDFAKE", SecretKey: "fake-secret",
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 10 * time.Millisecond,
	})
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>scripted</Message></Error>`, code)
}

// dropConnection closes the connection without an answer (a lost response).
func dropConnection(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.calls.Add(1))
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	f.mu.Unlock()
	if int64(len(body)) != r.ContentLength && r.ContentLength >= 0 {
		s3Error(w, http.StatusBadRequest, "IncompleteBody")
		return
	}
	if f.fail != nil && f.fail(n, r, w) {
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/bkt/")
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, exists := f.objects[key]
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("If-None-Match") == "*" && exists {
			s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed")
			return
		}
		f.objects[key] = body
		w.Header().Set("ETag", fmt.Sprintf(`"etag-%d"`, n))
		w.WriteHeader(http.StatusOK)
	case http.MethodGet, http.MethodHead:
		if !exists {
			s3Error(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		w.Header().Set("ETag", `"x"`)
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		var from, to int
		if rg := r.Header.Get("Range"); rg != "" {
			if _, err := fmt.Sscanf(rg, "bytes=%d-%d", &from, &to); err != nil {
				s3Error(w, http.StatusNotImplemented, "NotImplemented")
				return
			}
			obj = obj[from : to+1]
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", from, to))
			w.Header().Set("Content-Length", fmt.Sprint(len(obj)))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(len(obj)))
		}
		if r.Method == http.MethodGet {
			w.Write(obj)
		}
	case http.MethodDelete:
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented")
	}
}

func TestRetrySlowDownThenSuccess(t *testing.T) {
	const failures = 5
	f, st := newFake(t, func(n int, r *http.Request, w http.ResponseWriter) bool {
		if n <= failures {
			s3Error(w, http.StatusServiceUnavailable, "SlowDown")
			return true
		}
		return false
	})
	if err := st.Put(t.Context(), "seg/1.log", strings.NewReader("hello"), 5); err != nil {
		t.Fatalf("put: %v", err)
	}
	if got := f.calls.Load(); got != failures+1 {
		t.Fatalf("%d requests, want %d", got, failures+1)
	}
	if string(f.objects["seg/1.log"]) != "hello" {
		t.Fatalf("stored %q", f.objects["seg/1.log"])
	}
	for _, r := range f.reqs {
		if r.ContentLength != 5 {
			t.Errorf("attempt sent Content-Length %d, want 5", r.ContentLength)
		}
	}
}

func TestRetryTransientKinds(t *testing.T) {
	f := func(name string, failure func(w http.ResponseWriter)) {
		t.Run(name, func(t *testing.T) {
			fk, st := newFake(t, func(n int, r *http.Request, w http.ResponseWriter) bool {
				if n <= 3 && r.Method == http.MethodGet {
					failure(w)
					return true
				}
				return false
			})
			fk.objects["k"] = []byte("0123456789")
			rc, err := st.GetRange(t.Context(), "k", 2, 3)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "234" {
				t.Fatalf("got %q", b)
			}
			if got := fk.reqs[len(fk.reqs)-1].Header.Get("Range"); got != "bytes=2-4" {
				t.Errorf("Range header %q", got)
			}
			if got := fk.calls.Load(); got != 4 {
				t.Fatalf("%d requests, want 4", got)
			}
		})
	}
	f("500 InternalError", func(w http.ResponseWriter) { s3Error(w, 500, "InternalError") })
	f("503 ServiceUnavailable", func(w http.ResponseWriter) { s3Error(w, 503, "ServiceUnavailable") })
	f("429", func(w http.ResponseWriter) { s3Error(w, 429, "TooManyRequests") })
	f("connection dropped", dropConnection)
}

func TestNoRetryForPermanentErrors(t *testing.T) {
	f, st := newFake(t, func(n int, r *http.Request, w http.ResponseWriter) bool {
		s3Error(w, http.StatusForbidden, "AccessDenied")
		return true
	})
	err := st.Put(t.Context(), "k", strings.NewReader("v"), 1)
	if err == nil {
		t.Fatal("no error")
	}
	if f.calls.Load() != 1 {
		t.Fatalf("%d attempts for AccessDenied, want 1", f.calls.Load())
	}
	if strings.Contains(err.Error(), "fake-secret") {
		t.Fatalf("secret in error: %v", err)
	}
}

func TestRetryBudgetAndCancel(t *testing.T) {
	f, st := newFake(t, func(n int, r *http.Request, w http.ResponseWriter) bool {
		s3Error(w, http.StatusServiceUnavailable, "SlowDown")
		return true
	})
	// Unbounded: ends only with ctx, after many attempts (far beyond the SDK's quota).
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := st.Stat(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, tiering.ErrNotExist) {
		t.Fatalf("stat: err = %v, want DeadlineExceeded", err)
	}
	if f.calls.Load() < 3 {
		t.Fatalf("only %d attempts in 1s", f.calls.Load())
	}
	// Bounded by MaxRetryDuration.
	fk := &fakeS3{objects: map[string][]byte{}, fail: f.fail}
	srv := httptest.NewServer(fk)
	defer srv.Close()
	bounded := newStore(t, s3store.Config{
		Bucket: "bkt", Endpoint: srv.URL, PathStyle: true, AccessKey: "a", SecretKey: "b",
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 20 * time.Millisecond,
		MaxRetryDuration: time.Second,
	})
	start := time.Now()
	err = bounded.Put(t.Context(), "k", strings.NewReader("v"), 1)
	if err == nil || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("bounded put: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second || fk.calls.Load() < 3 {
		t.Fatalf("bounded put took %v and %d attempts", d, fk.calls.Load())
	}
}

// TestConditionalPutLostResponse: the first create-only PUT is applied but its response is
// lost; the retry sees 412, finds its own bytes in place, and reports success.
func TestConditionalPutLostResponse(t *testing.T) {
	var dropped atomic.Bool
	f, st := newFake(t, nil)
	f.fail = func(n int, r *http.Request, w http.ResponseWriter) bool {
		if r.Method == http.MethodPut && dropped.CompareAndSwap(false, true) {
			f.mu.Lock()
			f.objects["manifest"] = []byte("mine")
			f.mu.Unlock()
			dropConnection(w)
			return true
		}
		return false
	}
	if _, err := st.PutIf(t.Context(), "manifest", strings.NewReader("mine"), 4, ""); err != nil {
		t.Fatalf("PutIf after a lost response: %v", err)
	}
	// Someone else's bytes: a real conflict.
	if _, err := st.PutIf(t.Context(), "manifest", strings.NewReader("theirs"), 6, ""); !errors.Is(err, tiering.ErrPreconditionFailed) {
		t.Fatalf("PutIf on existing key: %v", err)
	}
}

func TestRequestHeaders(t *testing.T) {
	fk := &fakeS3{objects: map[string][]byte{}}
	srv := httptest.NewServer(fk)
	defer srv.Close()
	st := newStore(t, s3store.Config{
		Bucket: "bkt", Endpoint: srv.URL, PathStyle: true, AccessKey: "a", SecretKey: "b",
		SSE: "aws:kms", KMSKeyID: "key-1", StorageClass: "STANDARD_IA",
	})
	if err := st.Put(t.Context(), "k", strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	r := fk.reqs[0]
	for h, want := range map[string]string{
		"X-Amz-Server-Side-Encryption":                "aws:kms",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "key-1",
		"X-Amz-Storage-Class":                         "STANDARD_IA",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if r.ContentLength != 3 {
		t.Errorf("Content-Length %d", r.ContentLength)
	}
}

func TestConfigValidate(t *testing.T) {
	f := func(c s3store.Config, ok bool) {
		t.Helper()
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("Validate(%v) = %v", c, err)
		}
	}
	f(s3store.Config{Bucket: "b"}, true)
	f(s3store.Config{}, false)
	f(s3store.Config{Bucket: "b", SSE: "rot13"}, false)
	f(s3store.Config{Bucket: "b", KMSKeyID: "k"}, false)
	f(s3store.Config{Bucket: "b", SSE: "aws:kms", KMSKeyID: "k"}, true)
	f(s3store.Config{Bucket: "b", PartSize: 1 << 20}, false)
	f(s3store.Config{Bucket: "b", SecretKey: "s"}, false)
	if s := fmt.Sprint(s3store.Config{Bucket: "b", AccessKey: "a", SecretKey: "topsecret"}); strings.Contains(s, "topsecret") {
		t.Errorf("String leaks the secret: %s", s)
	}
}

// TestRetriesOutlastSDKQuota: the SDK's standard retryer would stop after a retry quota of
// 500 tokens (about 100 retries of 5xx per client); ours keeps going until ctx is done.
func TestRetriesOutlastSDKQuota(t *testing.T) {
	fk := &fakeS3{objects: map[string][]byte{}, fail: func(n int, r *http.Request, w http.ResponseWriter) bool {
		if n <= 150 {
			s3Error(w, http.StatusServiceUnavailable, "SlowDown")
			return true
		}
		return false
	}}
	srv := httptest.NewServer(fk)
	defer srv.Close()
	st := newStore(t, s3store.Config{
		Bucket: "bkt", Endpoint: srv.URL, PathStyle: true, AccessKey: "a", SecretKey: "b",
		RetryBaseDelay: time.Microsecond, RetryMaxDelay: time.Microsecond,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := st.Put(ctx, "k", strings.NewReader("v"), 1); err != nil {
		t.Fatalf("put after 150 SlowDowns: %v", err)
	}
	if got := fk.calls.Load(); got != 151 {
		t.Fatalf("%d requests, want 151", got)
	}
}
