package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering/storewrap"
)

// encEnv is a MinIO bucket that brokers tier the topic "vault" into, encrypted.
type encEnv struct {
	t      *testing.T
	mc     *miniotest.Server
	bucket string
}

func (e *encEnv) s3Flags() []string {
	return []string{"--bucket", e.bucket, "--endpoint", e.mc.Endpoint, "--path-style", "true", "--region", miniotest.Region, "--prefix", "sealed"}
}

// serve starts strata serve on data with keyFile and returns its address, logs and a stop
// func returning serve's error.
func (e *encEnv) serve(data, keyFile string) (string, *syncBuffer, func() error) {
	ctx, cancel := context.WithCancel(e.t.Context())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
			"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", data, "--admin-addr", "off",
			"--set", "strata.tier.store=s3", "--set", "strata.tier.s3.bucket=" + e.bucket,
			"--set", "strata.tier.s3.endpoint=" + e.mc.Endpoint, "--set", "strata.tier.s3.path.style=true",
			"--set", "strata.tier.s3.region=" + miniotest.Region, "--set", "strata.tier.prefix=sealed",
			"--set", "strata.tier.encryption.key.file=" + keyFile,
			"--set", "log.retention.check.interval.ms=100",
		})
	}()
	addr := waitListening(e.t, logs, done)
	return addr, logs, func() error { cancel(); return <-done }
}

// objects returns every object in the bucket, raw.
func (e *encEnv) objects() map[string][]byte {
	e.t.Helper()
	ctx := e.t.Context()
	out := map[string][]byte{}
	for obj := range e.mc.Client.ListObjects(ctx, e.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			e.t.Fatal(obj.Err)
		}
		r, err := e.mc.Client.GetObject(ctx, e.bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			e.t.Fatalf("get %q: %v", obj.Key, err)
		}
		out[obj.Key] = b
	}
	return out
}

// waitUploaded waits until the bucket holds at least n .log objects of vault and vault's
// local segments below them are gone.
func (e *encEnv) waitUploaded(n int, data string, logs *syncBuffer) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		logsUp := 0
		for obj := range e.mc.Client.ListObjects(e.t.Context(), e.bucket, minio.ListObjectsOptions{Prefix: "sealed/vault-", Recursive: true}) {
			if strings.HasSuffix(obj.Key, ".log") {
				logsUp++
			}
		}
		local0, _ := filepath.Glob(filepath.Join(data, "vault-0", "*.log"))
		local1, _ := filepath.Glob(filepath.Join(data, "vault-1", "*.log"))
		if logsUp >= n && len(local0) <= 1 && len(local1) <= 1 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d segments uploaded (want %d), local %q %q\n%s", logsUp, n, local0, local1, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeKeyFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func produceVault(t *testing.T, addr string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := from; i < to; i++ {
		r := &kgo.Record{Topic: "vault", Partition: int32(i % 2),
			Key:     fmt.Appendf(nil, "KEYMARK-%04d", i),
			Value:   fmt.Appendf(nil, "VALUEMARK-%04d-%s", i, strings.Repeat("v", 100)),
			Headers: []kgo.RecordHeader{{Key: "HDRKEYMARK", Value: fmt.Appendf(nil, "HDRVALMARK-%04d", i)}}}
		if err := cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

// consumeVault reads topic from the beginning and checks it holds records 0..n-1.
func consumeVault(t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	seen := map[int]bool{}
	next := [2]int{0, 1}
	for len(seen) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(seen), n, topic, fs.Errors())
		}
		fs.EachRecord(func(r *kgo.Record) {
			var i int
			fmt.Sscanf(string(r.Key), "KEYMARK-%d", &i)
			if r.Partition > 1 || i != next[r.Partition] || !bytes.HasPrefix(r.Value, fmt.Appendf(nil, "VALUEMARK-%04d-", i)) ||
				len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprintf("HDRVALMARK-%04d", i) {
				t.Fatalf("%s-%d offset %d: key %q value %.20q headers %v, want record %d", topic, r.Partition, r.Offset, r.Key, r.Value, r.Headers, next[r.Partition])
			}
			next[r.Partition] += 2
			seen[i] = true
		})
	}
}

// TestTierEncryptedMinIO: a topic tiered to MinIO with strata.tier.encryption.key.file is
// consumed back whole from the bucket (local segments deleted) across a key rotation; no
// record key, value or header, nor any manifest, is readable in the bucket; tier cat,
// verify --deep and restore work with the key file and fail clearly without it or with a
// wrong one; a fresh broker restores the topic from the bucket with the key.
func TestTierEncryptedMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO and brokers; make test runs it (never -short)")
	}
	mc := miniotest.Start(t)
	e := &encEnv{t: t, mc: mc, bucket: mc.NewBucket(t)}
	t.Setenv("STRATA_TIER_S3_ACCESS_KEY", mc.AccessKey)
	t.Setenv("STRATA_TIER_S3_SECRET_KEY", mc.SecretKey)
	dir := t.TempDir()
	keys := filepath.Join(dir, "tier.keys")
	mustCLI(t, "", "tier", "keygen", "--key-file", keys, "--id", "k1")
	data := filepath.Join(dir, "data")

	addr, logs, stop := e.serve(data, keys)
	b := "--brokers=" + addr
	mustCLI(t, "", "topic", "create", "vault", b, "--partitions", "2",
		"--config", "remote.storage.enable=true", "--config", "segment.bytes=2048",
		"--config", "local.retention.bytes=1", "--config", "retention.ms=-1")
	produceVault(t, addr, 0, 120)
	e.waitUploaded(6, data, logs)
	if err := stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, logs)
	}
	before := e.objects()

	// Rotation: k2 becomes the primary; k1 stays listed for the objects it wrapped.
	mustCLI(t, "", "tier", "keygen", "--key-file", keys, "--id", "k2")
	addr, logs, stop = e.serve(data, keys)
	b = "--brokers=" + addr
	produceVault(t, addr, 120, 240)
	e.waitUploaded(len(before)/4+6, data, logs) // more segments than before
	consumeVault(t, addr, "vault", 240)

	// tier restore with the key (what the bucket holds: not the active segments), into
	// another topic of the same broker.
	s3 := e.s3Flags()
	catFlags := append([]string{"tier", "cat", "vault", "--key-file", keys, "--format", `%p %o %k %v\n`}, s3...)
	inBucket := strings.Count(mustCLI(t, "", catFlags...), "\n")
	if inBucket < 200 {
		t.Fatalf("tier cat with the key: %d records", inBucket)
	}
	mustCLI(t, "", "topic", "create", "vault-copy", b, "--partitions", "2")
	mustCLI(t, "", append([]string{"tier", "restore", "vault", "--to-topic", "vault-copy", b, "--key-file", keys}, s3...)...)
	consumeVault(t, addr, "vault-copy", inBucket)
	if err := stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, logs)
	}

	// Plaintext scan of every object, and which key wrapped each object's data key.
	all := e.objects()
	wrappedBy := map[string]int{}
	sawLog := false
	for key, obj := range all {
		for _, marker := range []string{"KEYMARK", "VALUEMARK", "HDRKEYMARK", "HDRVALMARK", "vault", "remote.storage", "chain", "sha256"} {
			if bytes.Contains(obj, []byte(marker)) {
				t.Errorf("object %q contains %q in plaintext", key, marker)
			}
		}
		if len(obj) < storewrap.EncHeaderBytes || string(obj[:8]) != "STRATAE1" {
			t.Errorf("object %q (%d bytes) is not encrypted", key, len(obj))
			continue
		}
		wrappedBy[string(obj[37:37+int(obj[36])])]++
		sawLog = sawLog || strings.HasSuffix(key, ".log")
		if old, ok := before[key]; ok && !strings.HasSuffix(key, ".json") && !bytes.Equal(old, obj) {
			t.Errorf("immutable object %q changed after the rotation", key)
		}
	}
	if !sawLog || wrappedBy["k1"] == 0 || wrappedBy["k2"] == 0 {
		t.Fatalf("objects by wrapping key: %v (want both k1 and k2, with segments)", wrappedBy)
	}
	// The scan would see plaintext: through the key the same objects hold the records.
	out := mustCLI(t, "", catFlags...)
	if strings.Count(out, "\n") < inBucket || !strings.Contains(out, "0 0 KEYMARK-0000 VALUEMARK-0000-") || !strings.Contains(out, "1 0 KEYMARK-0001 VALUEMARK-0001-") {
		t.Fatalf("tier cat with the key: %d lines\n%.600s", strings.Count(out, "\n"), out)
	}
	out = mustCLI(t, "", append([]string{"tier", "verify", "--deep", "--key-file", keys}, s3...)...)
	if !strings.Contains(out, " 0 corrupt") || strings.Contains(out, "CORRUPT") || strings.Contains(out, "UNREADABLE") {
		t.Fatalf("tier verify --deep with the key:\n%s", out)
	}

	// Without the key, or with the wrong one: one clear error, no records.
	wrongKeys := filepath.Join(dir, "wrong.keys")
	mustCLI(t, "", "tier", "keygen", "--key-file", wrongKeys, "--id", "k1") // the right ids, other keys
	mustCLI(t, "", "tier", "keygen", "--key-file", wrongKeys, "--id", "k2")
	onlyK2 := filepath.Join(dir, "k2.keys")
	writeKeyFile(t, onlyK2, strings.SplitAfter(string(mustRead(t, keys)), "\n")[1])
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{nil, "no key file is configured"},
		{[]string{"--key-file", wrongKeys}, "wrong key"},
		{[]string{"--key-file", onlyK2}, "does not list"},
	} {
		stdout, stderr, err := cli(t, "", append(append([]string{"tier", "cat", "vault", "--format", `%v\n`}, c.flags...), s3...)...)
		if err == nil || !strings.Contains(err.Error()+stderr, c.want) || strings.Contains(stdout, "VALUEMARK") {
			t.Errorf("tier cat %v: err %v, stderr %q, stdout %.200q; want an error with %q and no records", c.flags, err, stderr, stdout, c.want)
		}
	}

	// A fresh broker with the wrong key cannot restore from the bucket and says why; with
	// the key it restores the topic and serves every record from the bucket.
	_, wlogs, wstop := e.serveMaybe(filepath.Join(dir, "wrong-data"), wrongKeys)
	if err := wstop(); err == nil || !strings.Contains(err.Error(), "wrong key") {
		t.Errorf("broker with the wrong key: %v, want an error saying so; logs:\n%s", err, wlogs)
	} else {
		t.Logf("broker with the wrong key: %v", err)
	}
	if _, nlogs, nstop := e.serveMaybe(filepath.Join(dir, "nokey-data"), ""); true {
		if err := nstop(); err == nil || !strings.Contains(err.Error(), "no key file is configured") {
			t.Errorf("broker without a key file: %v, want an error saying so; logs:\n%s", err, nlogs)
		}
	}
	addr, logs, stop = e.serve(filepath.Join(dir, "data2"), keys)
	consumeVault(t, addr, "vault", inBucket)
	if err := stop(); err != nil {
		t.Fatalf("serve: %v\n%s", err, logs)
	}

	// Retiring k1: rewrap every object under k2, then k2 alone reads and verifies everything.
	if out := mustCLI(t, "", append([]string{"tier", "rewrap", "--key-file", keys, "--dry-run"}, s3...)...); !strings.Contains(out, "would rewrap") || strings.Contains(out, "would rewrap 0 ") {
		t.Fatalf("tier rewrap --dry-run: %s", out)
	}
	out = mustCLI(t, "", append([]string{"tier", "rewrap", "--key-file", keys}, s3...)...)
	if !strings.Contains(out, "rewrapped") || strings.HasPrefix(out, "rewrapped 0 ") {
		t.Fatalf("tier rewrap: %s", out)
	}
	if out := mustCLI(t, "", append([]string{"tier", "rewrap", "--key-file", keys}, s3...)...); !strings.HasPrefix(out, "rewrapped 0 objects") {
		t.Fatalf("second tier rewrap: %s", out)
	}
	for key, obj := range e.objects() {
		if string(obj[37:37+int(obj[36])]) != "k2" {
			t.Errorf("%q still wrapped by %q after rewrap", key, obj[37:37+int(obj[36])])
		}
	}
	out = mustCLI(t, "", append([]string{"tier", "verify", "--deep", "--key-file", onlyK2}, s3...)...)
	if !strings.Contains(out, " 0 corrupt") || strings.Contains(out, "CORRUPT") || strings.Contains(out, "UNREADABLE") {
		t.Fatalf("tier verify --deep with k2 alone after rewrap:\n%s", out)
	}
	if n := strings.Count(mustCLI(t, "", append([]string{"tier", "cat", "vault", "--key-file", onlyK2, "--format", `%v\n`}, s3...)...), "VALUEMARK"); n < inBucket {
		t.Fatalf("tier cat with k2 alone after rewrap: %d records", n)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serveMaybe is serve for a broker that may fail to start: it returns once serve returned
// or listens.
func (e *encEnv) serveMaybe(data, keyFile string) (string, *syncBuffer, func() error) {
	ctx, cancel := context.WithCancel(e.t.Context())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, streams{in: strings.NewReader(""), out: logs, err: logs}, []string{"serve",
			"--listeners", "PLAINTEXT://127.0.0.1:0", "--log-dirs", data, "--admin-addr", "off",
			"--set", "strata.tier.store=s3", "--set", "strata.tier.s3.bucket=" + e.bucket,
			"--set", "strata.tier.s3.endpoint=" + e.mc.Endpoint, "--set", "strata.tier.s3.path.style=true",
			"--set", "strata.tier.s3.region=" + miniotest.Region, "--set", "strata.tier.prefix=sealed",
			"--set", "strata.tier.encryption.key.file=" + keyFile,
		})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			cancel()
			return "", logs, func() error { return err }
		default:
		}
		if strings.Contains(logs.String(), "listening") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", logs, func() error { cancel(); return <-done }
}
