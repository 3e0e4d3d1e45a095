package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzSeeds is one encoded default request (header + body, no size prefix) for every
// implemented API key and version.
func fuzzSeeds() map[string][]byte {
	seeds := make(map[string][]byte)
	for _, e := range apiTable() {
		for v := e.min; v <= e.max; v++ {
			req := kmsg.RequestForKey(int16(e.key))
			req.SetVersion(v)
			if m, ok := req.(*kmsg.MetadataRequest); ok && v >= 1 {
				m.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
			}
			seeds[fmt.Sprintf("%02d_%s_v%d", e.key, e.key.Name(), v)] = encodeRequest(req, 1, "fuzz")[4:]
		}
	}
	return seeds
}

// FuzzRequestDecode feeds arbitrary frames to the request parser (header + kmsg decode;
// no handler runs). Invariants: it never panics; every rejection wraps errProtocol; an
// accepted request is an implemented key at a served version (or an ApiVersions request
// above the served range, answered with v0); an accepted request re-encodes to bytes
// that decode again to the same encoding.
//
// Known finding (kmsg v1.15.0, not ours to fix here): a flexible request whose tagged-field
// count is a huge uvarint after the reader has run out makes kmsg's tag loop spin up to
// 2^32 times (~4 s of CPU) before it reports the error; the fuzzer reports such inputs as
// hangs. The request is still rejected and the connection closed.
func FuzzRequestDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := parseRequest(frame)
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("error does not wrap errProtocol: %v", err)
			}
			return
		}
		api := lookupAPI(r.key)
		if api == nil {
			t.Fatalf("accepted unimplemented key %d", r.key)
		}
		if r.req == nil {
			if r.key != int16(kmsg.ApiVersions) || r.version <= api.max {
				t.Fatalf("accepted key %d v%d without decoding", r.key, r.version)
			}
			return
		}
		if r.version < api.min || r.version > api.max {
			t.Fatalf("accepted key %d v%d outside %d-%d", r.key, r.version, api.min, api.max)
		}
		enc := encodeRequest(r.req, r.correlationID, r.clientID)[4:]
		r2, err := parseRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		enc2 := encodeRequest(r2.req, r2.correlationID, r2.clientID)[4:]
		if string(enc) != string(enc2) {
			t.Fatalf("encoding not stable")
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzRequestDecode when
// STRATA_WRITE_FUZZ_SEEDS=1; otherwise it checks every seed is committed.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRequestDecode")
	write := os.Getenv("STRATA_WRITE_FUZZ_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range fuzzSeeds() {
		path := filepath.Join(dir, name)
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if write {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != content {
			t.Errorf("seed %s missing or stale (run with STRATA_WRITE_FUZZ_SEEDS=1): %v", name, err)
		}
	}
}

// FuzzHandlers runs every request that decodes through its handler on a live broker
// (temporary data dir). Invariants: no panic; the response, if any, encodes and decodes.
// Seeds are the FuzzRequestDecode seeds (added in code).
func FuzzHandlers(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": f.TempDir(),
		"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1", "num.partitions": "2"})
	if err != nil {
		f.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := parseRequest(frame)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		buf, err := b.handleRequest(ctx, r, "127.0.0.1", "127.0.0.1", nil)
		if err != nil || buf == nil {
			return // the connection would close, or no response (acks=0)
		}
		resp := kmsg.ResponseForKey(r.key)
		v := r.version
		if r.req == nil {
			v = 0
		}
		resp.SetVersion(v)
		body := buf[8:]
		if resp.IsFlexible() && r.key != int16(kmsg.ApiVersions) {
			body = body[1:]
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("%s v%d: response does not decode: %v", kmsg.NameForKey(r.key), v, err)
		}
	})
}
