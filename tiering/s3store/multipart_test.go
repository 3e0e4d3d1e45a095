package s3store_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/tiering/s3store"
)

// fakeMultipart serves the multipart API (path style, bucket "bkt") with an optional
// scripted failure before each request is served and after a completion is applied.
type fakeMultipart struct {
	mu        sync.Mutex
	uploads   map[string]map[int32][]byte
	objects   map[string][]byte
	etags     map[string]string
	completes int
	aborts    int
	// dropAfterComplete drops the connection after the first completion is applied.
	dropAfterComplete bool
}

func (f *fakeMultipart) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	key := strings.TrimPrefix(r.URL.Path, "/bkt/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		id := fmt.Sprintf("up-%d", len(f.uploads)+1)
		f.uploads[id] = map[int32][]byte{}
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, key, id)
	case r.Method == http.MethodPut && q.Has("uploadId"):
		parts, ok := f.uploads[q.Get("uploadId")]
		if !ok {
			s3Error(w, http.StatusNotFound, "NoSuchUpload")
			return
		}
		n, _ := strconv.Atoi(q.Get("partNumber"))
		parts[int32(n)] = body
		sum := md5.Sum(body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		parts, ok := f.uploads[q.Get("uploadId")]
		if !ok {
			s3Error(w, http.StatusNotFound, "NoSuchUpload")
			return
		}
		nums := make([]int, 0, len(parts))
		for n := range parts {
			nums = append(nums, int(n))
		}
		sort.Ints(nums)
		var obj []byte
		h := md5.New()
		for _, n := range nums {
			obj = append(obj, parts[int32(n)]...)
			sum := md5.Sum(parts[int32(n)])
			h.Write(sum[:])
		}
		etag := fmt.Sprintf(`"%x-%d"`, h.Sum(nil), len(nums))
		f.objects[key], f.etags[key] = obj, etag
		delete(f.uploads, q.Get("uploadId"))
		f.completes++
		if f.dropAfterComplete && f.completes == 1 {
			dropConnection(w)
			return
		}
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>`, key, etag)
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		delete(f.uploads, q.Get("uploadId"))
		f.aborts++
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodHead:
		obj, ok := f.objects[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("ETag", f.etags[key])
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented")
	}
}

// TestMultipartCompleteLostResponse: the completion is applied but its response lost; the
// retry gets NoSuchUpload, and the store recognises its own object by the multipart ETag.
func TestMultipartCompleteLostResponse(t *testing.T) {
	f := &fakeMultipart{uploads: map[string]map[int32][]byte{}, objects: map[string][]byte{},
		etags: map[string]string{}, dropAfterComplete: true}
	srv := httptest.NewServer(f)
	defer srv.Close()
	st := newStore(t, s3store.Config{
		Bucket: "bkt", Endpoint: srv.URL, PathStyle: true, AccessKey: "a", SecretKey: "b",
		PartSize: 5 << 20, RetryBaseDelay: time.Millisecond, RetryMaxDelay: 10 * time.Millisecond,
	})
	data := bytes.Repeat([]byte("x"), 11<<20)
	if err := st.Put(t.Context(), "seg", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("put with a lost completion response: %v", err)
	}
	if !bytes.Equal(f.objects["seg"], data) || f.completes != 1 || f.aborts != 0 {
		t.Fatalf("object %d bytes, %d completions, %d aborts", len(f.objects["seg"]), f.completes, f.aborts)
	}
	// A failing part aborts the upload.
	short := bytes.NewReader(data[:6<<20])
	if err := st.Put(t.Context(), "seg2", short, int64(len(data))); err == nil {
		t.Fatal("short multipart put: no error")
	}
	if f.aborts != 1 || len(f.uploads) != 0 {
		t.Fatalf("%d aborts, %d uploads left", f.aborts, len(f.uploads))
	}
}
