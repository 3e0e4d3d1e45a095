package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/s3store"
)

// tamperEnv is a bucket on a real MinIO that brokers (strata serve) tier a two-partition
// topic "audit" into.
type tamperEnv struct {
	t      *testing.T
	mc     *miniotest.Server
	bucket string
	store  *s3store.Store
	tm     tiering.TopicManifest
}

// serve starts strata serve on data and returns its address, its logs and a stop func.
func (e *tamperEnv) serve(data string) (string, *syncBuffer, func()) {
	t := e.t
	ctx, cancel := context.WithCancel(t.Context())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
			"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", data, "--admin-addr", "off",
			"--set", "strata.tier.store=s3", "--set", "strata.tier.s3.bucket=" + e.bucket,
			"--set", "strata.tier.s3.endpoint=" + e.mc.Endpoint, "--set", "strata.tier.s3.path.style=true",
			"--set", "strata.tier.s3.region=" + miniotest.Region,
			"--set", "log.retention.check.interval.ms=100",
			"--set", "remote.log.chunk.bytes=1024", // four hash blocks per segment: hash lists are used
		})
	}()
	addr := waitListening(t, logs, done)
	stopped := false
	return addr, logs, func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, logs)
		}
	}
}

// with returns e for a subtest's t.
func (e *tamperEnv) with(t *testing.T) *tamperEnv {
	c := *e
	c.t = t
	return &c
}

func (e *tamperEnv) entries(p int32) (tiering.PartitionHead, []tiering.SegmentEntry) {
	e.t.Helper()
	h, es, err := tiering.ReadPartitionManifest(e.t.Context(), e.store, "", "audit", e.tm.TopicID, p)
	if err != nil {
		e.t.Fatalf("manifest of audit-%d: %v", p, err)
	}
	return h, es
}

func (e *tamperEnv) get(key string) []byte {
	e.t.Helper()
	r, err := e.mc.Client.GetObject(e.t.Context(), e.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatalf("get %q: %v", key, err)
	}
	return b
}

func (e *tamperEnv) put(key string, b []byte) {
	e.t.Helper()
	if _, err := e.mc.Client.PutObject(e.t.Context(), e.bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *tamperEnv) headKey(p int32) string {
	return tiering.PartitionPrefix("", "audit", e.tm.TopicID, p) + "manifest.json"
}

// verify runs tier verify --deep with extra flags and returns its output and error.
func (e *tamperEnv) verify(extra ...string) (string, error) {
	args := append([]string{"tier", "verify", "audit", "--deep", "--bucket", e.bucket, "--endpoint", e.mc.Endpoint,
		"--path-style", "true", "--region", miniotest.Region}, extra...)
	out, errOut, err := cli(e.t, "", args...)
	return out + errOut, err
}

// fetch sends one Fetch (v12: by topic name) and returns the partition's error code and
// how many bytes of batches it got.
func fetchAt(t *testing.T, addr string, p int32, offset int64) (int16, int) {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(1, 12)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(vs))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 100, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "audit"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch audit-%d at %d: %v", p, offset, err)
	}
	r := resp.Topics[0].Partitions[0]
	return r.ErrorCode, len(r.RecordBatches)
}

// brokerRefuses starts a broker on data (a fresh directory restores the topic from the
// bucket, so every read is remote and no chunk is cached), waits until it serves the
// intact offset good (or only for the refusal, when good < 0), and checks that a fetch
// at bad gets KAFKA_STORAGE_ERROR, twice, and an ERROR line containing logWant.
func (e *tamperEnv) brokerRefuses(data string, p int32, good, bad int64, logWant string) {
	t := e.t
	t.Helper()
	addr, logs, stop := e.serve(data)
	defer stop()
	deadline := time.Now().Add(60 * time.Second)
	if good >= 0 {
		for {
			code, n := fetchAt(t, addr, p, good)
			if code == 0 && n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("intact offset %d of audit-%d not served: code %d, %d bytes\n%s", good, p, code, n, logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for range 2 {
		if code, n := fetchAt(t, addr, p, bad); code != kerr.KafkaStorageError.Code || n != 0 {
			t.Fatalf("fetch of audit-%d at %d: code %d with %d bytes, want KAFKA_STORAGE_ERROR\n%s", p, bad, code, n, logs)
		}
	}
	for !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), logWant) {
		if time.Now().After(deadline) {
			t.Fatalf("no ERROR line with %q\n%s", logWant, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTierTamperDetectedMinIO tampers with a tiered topic in a real MinIO bucket in each
// of the ways the tamper evidence is for - a flipped byte (with the batch CRC fixed, so
// that only the SHA-256 can tell), a deleted segment object, a segment cut out of the
// manifest, reordered manifest entries, an old manifest put back, the objects of two
// partitions swapped - and checks that `strata tier verify --deep` fails naming it, and that
// a broker reading the data refuses it with the retriable KAFKA_STORAGE_ERROR and an ERROR
// log line. Every case restores the bucket before the next.
func TestTierTamperDetectedMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a MinIO server and real brokers; make test runs it (never -short)")
	}
	mc := miniotest.Start(t)
	e := &tamperEnv{t: t, mc: mc, bucket: mc.NewBucket(t)}
	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)
	var err error
	e.store, err = s3store.New(t.Context(), s3store.Config{Bucket: e.bucket, Region: miniotest.Region, Endpoint: mc.Endpoint,
		PathStyle: true, AccessKey: mc.AccessKey, SecretKey: mc.SecretKey})
	if err != nil {
		t.Fatal(err)
	}

	// Two rounds of produce on one data dir (the writer), with the broker stopped between
	// them so that the first round's manifest can be put back later.
	dataA := filepath.Join(t.TempDir(), "a")
	produce := func(addr string, from, n int) {
		for p := range 2 {
			for i := from; i < from+n; i += 10 {
				var in strings.Builder
				for j := i; j < i+10; j++ {
					fmt.Fprintf(&in, "p%d-event-%04d-%s\n", p, j, strings.Repeat("x", 90))
				}
				mustCLI(t, in.String(), "produce", "audit", "--brokers="+addr, "-q", "--partition", fmt.Sprint(p))
			}
		}
	}
	waitEntries := func(n int) {
		deadline := time.Now().Add(60 * time.Second)
		for p := int32(0); p < 2; p++ {
			for {
				if _, es := e.entries(p); len(es) >= n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("audit-%d: fewer than %d segments uploaded", p, n)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	addr, _, stop := e.serve(dataA)
	mustCLI(t, "", "topic", "create", "audit", "--brokers="+addr, "--partitions", "2",
		"--config", "remote.storage.enable=true", "--config", "segment.bytes=4096",
		"--config", "local.retention.bytes=1", "--config", "retention.ms=-1")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if e.tm, err = findTopic(t.Context(), e.store, tierConfig{}, "audit"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	produce(addr, 0, 150)
	waitEntries(4)
	stop()
	oldHead := e.get(e.headKey(0))
	_, oldEntries := e.entries(0)

	addr, _, stop = e.serve(dataA)
	produce(addr, 150, 120)
	waitEntries(len(oldEntries) + 3)
	deadline := time.Now().Add(60 * time.Second)
	for { // the first segment is remote only: a read of offset 0 on dataA is a remote read
		if _, err := os.Stat(filepath.Join(dataA, "audit-0", "00000000000000000000.log")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first segment of audit-0 is still local")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	headsOut := mustCLI(t, "", "tier", "heads", "audit", "--bucket", e.bucket, "--endpoint", mc.Endpoint, "--path-style", "true", "--region", miniotest.Region)
	headsFile := filepath.Join(t.TempDir(), "heads")
	if err := os.WriteFile(headsFile, []byte(headsOut), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := e.verify("--heads", headsFile); err != nil || !strings.Contains(out, "0 broken chains") {
		t.Fatalf("verify --deep of the intact bucket: %v\n%s", err, out)
	}
	_, es0 := e.entries(0)
	_, es1 := e.entries(1)
	t.Logf("audit-0: %d segments, audit-1: %d; heads:\n%s", len(es0), len(es1), headsOut)

	// A proof that an offset of audit-0 is in its chain checks offline against the
	// published head of audit-0, and against nothing else.
	t.Run("proof", func(t *testing.T) {
		off := es0[2].BaseOffset + 1
		proof := mustCLI(t, "", "tier", "proof", "audit", "0", fmt.Sprint(off), "--bucket", e.bucket, "--endpoint", mc.Endpoint,
			"--path-style", "true", "--region", miniotest.Region)
		t.Logf("proof for offset %d: %d bytes", off, len(proof))
		var heads [2]string
		for _, line := range strings.Split(headsOut, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "audit" {
				heads[map[string]int{"0": 0, "1": 1}[f[1]]] = f[2]
			}
		}
		out := mustCLI(t, proof, "tier", "verify-proof", "--head", heads[0])
		if !strings.Contains(out, fmt.Sprintf("proof OK: offset %d of audit-0 is in segment %d-%d", off, es0[2].BaseOffset, es0[2].LastOffset)) {
			t.Fatalf("verify-proof: %s", out)
		}
		if _, _, err := cli(t, proof, "tier", "verify-proof", "--head", heads[1]); err == nil {
			t.Fatal("the proof checked against another partition's head")
		}
		forged := strings.Replace(proof, fmt.Sprintf(`"lastOffset": %d`, es0[2].LastOffset), fmt.Sprintf(`"lastOffset": %d`, es0[2].LastOffset+1), 1)
		if forged == proof {
			t.Fatal("cannot forge the proof")
		}
		if _, _, err := cli(t, forged, "tier", "verify-proof", "--head", heads[0]); err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("a forged proof: %v", err)
		}
	})

	fresh := func() string { return filepath.Join(t.TempDir(), "fresh") }
	expect := func(t *testing.T, out string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("verify --deep passed:\n%s", out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("verify --deep output lacks %q:\n%s", w, out)
			}
		}
	}

	t.Run("flip a byte", func(t *testing.T) {
		e := e.with(t)
		v := es0[1]
		orig := e.get(v.Log.Key)
		b := bytes.Clone(orig)
		_, _, size, err := tiering.BatchBounds(b)
		if err != nil {
			t.Fatal(err)
		}
		b[size-1] ^= 0x01
		binary.BigEndian.PutUint32(b[17:], segment.BatchCRC(b[:size])) // the CRC no longer tells
		e.put(v.Log.Key, b)
		defer e.put(v.Log.Key, orig)
		out, err := e.verify()
		expect(t, out, err, fmt.Sprintf("CORRUPT  audit-0: segment %d-%d", v.BaseOffset, v.LastOffset), "sha256")
		e.brokerRefuses(fresh(), 0, es0[0].BaseOffset, v.BaseOffset, "sha256")
		// tier cat hands out nothing of the changed block: it stops before the segment.
		out, _, err = cli(t, "", "tier", "cat", "audit", "--partition", "0", "--format", `%o\n`, "--bucket", e.bucket,
			"--endpoint", mc.Endpoint, "--path-style", "true", "--region", miniotest.Region)
		if err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("tier cat of the flipped segment: %v", err)
		}
		if got := strings.Fields(out); len(got) != int(v.BaseOffset) || got[len(got)-1] != fmt.Sprint(v.BaseOffset-1) {
			t.Fatalf("tier cat printed %d records (last %q), want exactly the %d before the segment", len(got), got[len(got)-1], v.BaseOffset)
		}
	})
	t.Run("delete a segment object", func(t *testing.T) {
		e := e.with(t)
		v := es0[2]
		orig := e.get(v.Log.Key)
		if err := mc.Client.RemoveObject(t.Context(), e.bucket, v.Log.Key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		defer e.put(v.Log.Key, orig)
		out, err := e.verify()
		expect(t, out, err, fmt.Sprintf("MISSING  audit-0: segment %d-%d", v.BaseOffset, v.LastOffset))
		e.brokerRefuses(fresh(), 0, es0[0].BaseOffset, v.BaseOffset, v.Log.Key)
	})
	// Edits of the head manifest (the newest entries live there).
	editHead := func(e *tamperEnv, fn func(h map[string]any)) func() {
		orig := e.get(e.headKey(0))
		var h map[string]any
		if err := json.Unmarshal(orig, &h); err != nil {
			t.Fatal(err)
		}
		fn(h)
		b, _ := json.Marshal(h)
		e.put(e.headKey(0), b)
		return func() { e.put(e.headKey(0), orig) }
	}
	head0, _ := e.entries(0)
	if len(head0.Segments) < 4 {
		t.Fatalf("the head of audit-0 holds %d segments, the manifest edits need 4", len(head0.Segments))
	}
	hs := head0.Segments
	t.Run("cut a segment out of the manifest", func(t *testing.T) {
		e := e.with(t)
		defer editHead(e, func(h map[string]any) {
			segs := h["segments"].([]any)
			h["segments"] = append(segs[:2:2], segs[3:]...)
		})()
		out, err := e.verify()
		expect(t, out, err, fmt.Sprintf("BROKEN   audit-0: hash chain: link %d (offsets %d-%d)", hs[3].ChainSeq, hs[3].BaseOffset, hs[3].LastOffset))
		e.brokerRefuses(fresh(), 0, es0[0].BaseOffset, hs[3].BaseOffset, "hash chain broken")
	})
	t.Run("reorder manifest entries", func(t *testing.T) {
		e := e.with(t)
		defer editHead(e, func(h map[string]any) {
			segs := h["segments"].([]any)
			segs[1], segs[2] = segs[2], segs[1]
		})()
		out, err := e.verify()
		expect(t, out, err, "CORRUPT  audit-0: manifest", "overlaps")
		e.brokerRefuses(dataA, 0, -1, es0[0].BaseOffset, "corrupt manifest")
	})
	t.Run("replay an old manifest", func(t *testing.T) {
		e := e.with(t)
		cur := e.get(e.headKey(0))
		e.put(e.headKey(0), oldHead)
		defer e.put(e.headKey(0), cur)
		out, err := e.verify("--heads", headsFile)
		expect(t, out, err, "BROKEN   audit-0: published head", "rolled back")
		out, err = e.verify("--grace", "0s") // without published heads: the newer objects
		expect(t, out, err, "BROKEN   audit-0:", "that it does not name")
		// The broker that wrote the newer manifest notices on its next start.
		e.brokerRefuses(dataA, 0, -1, 0, "rolled back")
	})
	t.Run("swap two partitions' objects", func(t *testing.T) {
		e := e.with(t)
		a, b := es0[1].Log.Key, es1[1].Log.Key
		ab, bb := e.get(a), e.get(b)
		e.put(a, bb)
		e.put(b, ab)
		defer func() { e.put(a, ab); e.put(b, bb) }()
		out, err := e.verify()
		expect(t, out, err, fmt.Sprintf("CORRUPT  audit-0: segment %d-%d", es0[1].BaseOffset, es0[1].LastOffset))
		e.brokerRefuses(fresh(), 0, es0[0].BaseOffset, es0[1].BaseOffset, a)
	})
	// Restored: all clean again.
	if out, err := e.verify("--heads", headsFile); err != nil {
		t.Fatalf("verify --deep after restoring the bucket: %v\n%s", err, out)
	}
}
