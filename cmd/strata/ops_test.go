package main

// End-to-end tests of the operator commands against an in-process Strata broker with an fs
// tier store: tier cat/verify/status (with a corrupted, a missing and an orphaned object)
// and group list/describe/seek/delete.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/admin"
	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/fsstore"
)

const (
	opsTopic   = "orders"
	opsRecords = 1000
	opsTs0     = int64(1_700_000_000_000)
)

type opsBroker struct {
	addr, adminAddr, tierDir string
	store                    *fsstore.Store
	adm                      *kadm.Client
	topicID                  [16]byte
}

// startOpsBroker runs a broker with an admin listener and a topic whose sealed segments
// are in the fs store.
func startOpsBroker(t *testing.T) *opsBroker {
	t.Helper()
	dir := t.TempDir()
	store, err := fsstore.New(filepath.Join(dir, "tier"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := brokerConfig(brokerParams{props: map[string]string{
		"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": filepath.Join(dir, "data"),
	}, store: store})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	srv, err := admin.New(admin.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetSource(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	ob := &opsBroker{addr: b.Addr().String(), adminAddr: srv.Addr().String(), tierDir: store.Root(), store: store, adm: kadm.NewClient(cl)}
	t.Cleanup(func() {
		cl.Close()
		srv.Close()
		cancel()
		<-done
		b.Close()
	})

	cr, err := ob.adm.CreateTopic(t.Context(), 1, 1, map[string]*string{
		"remote.storage.enable": kadm.StringPtr("true"),
		"segment.bytes":         kadm.StringPtr("1024"),
		"retention.ms":          kadm.StringPtr("-1"),
	}, opsTopic)
	if err != nil || cr.Err != nil {
		t.Fatalf("create topic: %v %v", err, cr.Err)
	}
	ob.topicID = cr.ID
	pcl, err := kgo.NewClient(kgo.SeedBrokers(ob.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(2048), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	var recs []*kgo.Record
	for i := range opsRecords {
		recs = append(recs, &kgo.Record{Topic: opsTopic, Value: fmt.Appendf(nil, "v%05d-%s", i, strings.Repeat("z", 60)),
			Timestamp: time.UnixMilli(opsTs0 + int64(i)*1000)})
	}
	if err := pcl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Wait for every sealed segment to be uploaded, not just some: the tests compare what
	// two commands read from the store (tier cat, then tier restore) and uploads still
	// under way between the two made them differ ("restored 959 records", want 902).
	deadline := time.Now().Add(30 * time.Second)
	partDir := filepath.Join(dir, "data", opsTopic+"-0")
	for {
		head, _, err := tiering.ReadPartitionManifest(t.Context(), store, "", opsTopic, ob.topicID, 0)
		active := activeSegmentBase(t, partDir)
		if err == nil && active >= 800 && head.EndOffset >= active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploads did not reach the active segment's base %d: end %d, %v", active, head.EndOffset, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ob
}

// activeSegmentBase returns the base offset of the newest segment in a partition
// directory (the active one: everything below it is sealed and due for upload).
func activeSegmentBase(t *testing.T, partDir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(partDir)
	if err != nil {
		t.Fatal(err)
	}
	base := int64(-1)
	for _, e := range entries {
		var off int64
		if name, ok := strings.CutSuffix(e.Name(), ".log"); ok && len(name) == 20 {
			if _, err := fmt.Sscanf(name, "%d", &off); err == nil {
				base = max(base, off)
			}
		}
	}
	return base
}

func TestTierCatVerifyStatus(t *testing.T) {
	ob := startOpsBroker(t)
	fsDir := "--fs-dir=" + ob.tierDir

	// cat by offset range.
	out := mustCLI(t, "", "tier", "cat", opsTopic, fsDir, "--from-offset", "100", "--to-offset", "105", "--format", `%o %t %s\n`)
	var want strings.Builder
	for i := 100; i < 105; i++ {
		fmt.Fprintf(&want, "%d %d v%05d-%s\n", i, opsTs0+int64(i)*1000, i, strings.Repeat("z", 60))
	}
	if out != want.String() {
		t.Fatalf("tier cat by offset:\n%s\nwant:\n%s", out, want.String())
	}
	// cat by time range (RFC 3339 and ms), bounded by -n.
	from := time.UnixMilli(opsTs0 + 200*1000).UTC().Format(time.RFC3339)
	out = mustCLI(t, "", "tier", "cat", opsTopic, fsDir, "--from-time", from, "-n", "3", "--format", `%o\n`)
	if out != "200\n201\n202\n" {
		t.Fatalf("tier cat --from-time: %q", out)
	}
	out = mustCLI(t, "", "tier", "cat", opsTopic, fsDir, "--from-time", fmt.Sprint(opsTs0+300*1000), "--to-time", fmt.Sprint(opsTs0+302*1000), "--format", `%o\n`)
	if out != "300\n301\n302\n" {
		t.Fatalf("tier cat time window: %q", out)
	}
	// The whole remote history, in order, without gaps.
	out = mustCLI(t, "", "tier", "cat", opsTopic, fsDir, "--format", `%o\n`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 800 || lines[0] != "0" || lines[len(lines)-1] != fmt.Sprint(len(lines)-1) {
		t.Fatalf("tier cat all: %d lines, first %q last %q", len(lines), lines[0], lines[len(lines)-1])
	}

	// Actionable errors.
	f := func(want string, args ...string) {
		t.Helper()
		_, _, err := cli(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("strata %s: %v, want one line with %q", strings.Join(args, " "), err, want)
		}
	}
	f(`topic "nope" not found in the store (it holds: orders)`, "tier", "cat", "nope", fsDir)
	f("no store given", "tier", "cat", opsTopic)
	// Issue 14: without a store flag, tier cat and verify read the default fs store of
	// strata serve, ./data/tier, as the quickstart leaves it.
	func() {
		wd := t.TempDir()
		if err := os.MkdirAll(filepath.Join(wd, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(ob.tierDir, filepath.Join(wd, "data", "tier")); err != nil {
			t.Fatal(err)
		}
		t.Chdir(wd)
		if out := mustCLI(t, "", "tier", "cat", opsTopic, "-n", "2", "--format", `%o\n`); out != "0\n1\n" {
			t.Fatalf("tier cat with the default store: %q", out)
		}
		if out := mustCLI(t, "", "tier", "verify"); !strings.Contains(out, "0 missing, 0 corrupt") {
			t.Fatalf("tier verify with the default store:\n%s", out)
		}
		t.Chdir(filepath.Dir(wd)) // leave wd so that the following calls see no ./data
	}()
	f("no such file or directory", "tier", "cat", opsTopic, "--fs-dir", filepath.Join(t.TempDir(), "missing"))
	f("cannot reach the admin listener at 127.0.0.1:1", "tier", "status", "--admin", "127.0.0.1:1")

	// status through the admin listener.
	out = mustCLI(t, "", "tier", "status", "--admin", ob.adminAddr)
	if !regexp.MustCompile(`(?m)^\s*orders\s+0\s+0\s+\d+\s+\d+\s+1000\s`).MatchString(out) {
		t.Fatalf("tier status:\n%s", out)
	}

	// verify: clean.
	out = mustCLI(t, "", "tier", "verify", fsDir)
	if !strings.Contains(out, "0 missing, 0 corrupt, 0 orphaned") {
		t.Fatalf("tier verify (clean):\n%s", out)
	}
	// Damage the bucket: flip a byte in one data object, remove an index, add an old orphan.
	_, entries, err := tiering.ReadPartitionManifest(t.Context(), ob.store, "", opsTopic, ob.topicID, 0)
	if err != nil || len(entries) < 3 {
		t.Fatalf("manifest: %d entries, %v", len(entries), err)
	}
	logPath := filepath.Join(ob.tierDir, entries[1].Log.Key)
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-5] ^= 0x40
	if err := os.WriteFile(logPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(ob.tierDir, entries[2].Index.Key)); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(filepath.Dir(logPath), "00000000000000000000-deadbeef.log")
	if err := os.WriteFile(orphan, []byte("left over"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(orphan, old, old); err != nil {
		t.Fatal(err)
	}
	out, _, err = cli(t, "", "tier", "verify", opsTopic, fsDir, "--delete-orphans", "--dry-run")
	if err == nil || err.Error() != "verify found 1 missing and 1 corrupt objects" {
		t.Fatalf("tier verify (damaged): %v\n%s", err, out)
	}
	for _, re := range []string{
		`CORRUPT  orders-0: segment ` + fmt.Sprint(entries[1].BaseOffset) + `-\d+: .*(sha256|crc32c)`,
		`MISSING  orders-0: segment ` + fmt.Sprint(entries[2].BaseOffset) + `-\d+: .*\.index`,
		`ORPHAN   orders-0: .*00000000000000000000-deadbeef\.log, 9 B, .* \(would delete\)`,
		`1 missing, 1 corrupt, 1 orphaned`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("verify output lacks %q:\n%s", re, out)
		}
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatalf("dry run deleted the orphan: %v", err)
	}
	out, _, _ = cli(t, "", "tier", "verify", opsTopic, fsDir, "--delete-orphans")
	if !strings.Contains(out, "(deleted)") || !strings.Contains(out, "(1 deleted)") {
		t.Fatalf("verify --delete-orphans:\n%s", out)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan still there: %v", err)
	}
	// The per-batch check (a batch corrupted before upload has an object checksum that
	// matches the manifest): a real batch passes, the same batch with one flipped bit fails.
	good, err := os.ReadFile(filepath.Join(ob.tierDir, entries[0].Log.Key))
	if err != nil {
		t.Fatal(err)
	}
	n := 12 + int(binary.BigEndian.Uint32(good[8:]))
	if err := checkBatchCRC(good[:n]); err != nil {
		t.Fatalf("intact batch: %v", err)
	}
	good[n-1] ^= 1
	if err := checkBatchCRC(good[:n]); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("flipped batch: %v", err)
	}
}

func TestGroupCommands(t *testing.T) {
	ob := startOpsBroker(t)
	b := "--brokers=" + ob.addr
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: opsTopic, Partition: 0, At: 400, LeaderEpoch: -1})
	if err := ob.adm.CommitAllOffsets(t.Context(), "g1", os); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, "", "group", "list", b)
	if !regexp.MustCompile(`(?m)^g1\s+Empty\s`).MatchString(out) {
		t.Fatalf("group list:\n%s", out)
	}
	out = mustCLI(t, "", "group", "describe", "g1", b)
	if !strings.Contains(out, "total lag 600") || !regexp.MustCompile(`(?m)^orders\s+0\s+400\s+1000\s+600\s`).MatchString(out) {
		t.Fatalf("group describe:\n%s", out)
	}
	out = mustCLI(t, "", "group", "seek", "g1", b, "--topic", opsTopic, "--to", "earliest")
	if out != "moved g1 orders-0 to 0\n" {
		t.Fatalf("group seek earliest: %q", out)
	}
	out = mustCLI(t, "", "group", "seek", "g1", b, "--topic", opsTopic, "--to", fmt.Sprintf("@%d", opsTs0+250*1000))
	if out != "moved g1 orders-0 to 250\n" {
		t.Fatalf("group seek timestamp: %q", out)
	}
	if out = mustCLI(t, "", "group", "describe", "g1", b); !strings.Contains(out, "total lag 750") {
		t.Fatalf("describe after seek:\n%s", out)
	}
	out = mustCLI(t, "", "group", "seek", "g1", b, "--topic", opsTopic, "--to", "latest", "--dry-run")
	if out != "would move g1 orders-0 to 1000\n" {
		t.Fatalf("group seek --dry-run: %q", out)
	}
	if out = mustCLI(t, "", "group", "delete", "g1", b); out != "deleted group g1\n" {
		t.Fatalf("group delete: %q", out)
	}
	f := func(want string, args ...string) {
		t.Helper()
		_, _, err := cli(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("strata %s: %v, want %q", strings.Join(args, " "), err, want)
		}
	}
	f(`group "g1" does not exist`, "group", "describe", "g1", b)
	f(`group "g1" does not exist`, "group", "delete", "g1", b)
	f(`topic "nope" does not exist`, "group", "seek", "g2", b, "--topic", "nope", "--to", "earliest")
	f("cannot reach a broker at 127.0.0.1:1: connection refused", "group", "list", "--brokers=127.0.0.1:1", "--timeout=2s")
}

func TestProgressOnlyWhenAsked(t *testing.T) {
	ob := startOpsBroker(t)
	fsDir := "--fs-dir=" + ob.tierDir
	// Buffers are not terminals: auto stays quiet.
	out, errOut, err := cli(t, "", "tier", "cat", opsTopic, fsDir, "--format", `%o\n`)
	if err != nil || errOut != "" || !strings.HasPrefix(out, "0\n1\n") {
		t.Fatalf("tier cat (auto): %v, stderr %q", err, errOut)
	}
	plain := out
	out, errOut, err = cli(t, "", "tier", "cat", opsTopic, fsDir, "--format", `%o\n`, "--progress", "always")
	if err != nil || !strings.HasPrefix(out, plain) { // uploads may have added segments since
		t.Fatalf("tier cat --progress always changed stdout: %v", err)
	}
	if !strings.Contains(errOut, "100%") || !strings.Contains(errOut, "KiB") || !strings.Contains(errOut, "rec/s") {
		t.Fatalf("tier cat progress: %q", errOut)
	}
	b := "--brokers=" + ob.addr
	out, errOut, err = cli(t, "", "consume", opsTopic, b, "--from-beginning", "-e", "--format", `%o\n`, "--progress", "always")
	if err != nil || strings.Count(out, "\n") != opsRecords {
		t.Fatalf("consume -e: %v, %d lines", err, strings.Count(out, "\n"))
	}
	if !strings.Contains(errOut, "100%") || !strings.Contains(errOut, "rec/s") {
		t.Fatalf("consume progress: %q", errOut)
	}
	if _, _, err := cli(t, "", "consume", opsTopic, b, "--progress", "sometimes"); err == nil {
		t.Fatal("bad --progress accepted")
	}
}

func TestTierRestore(t *testing.T) {
	ob := startOpsBroker(t)
	fsDir := "--fs-dir=" + ob.tierDir
	b := "--brokers=" + ob.addr
	f := func(want string, args ...string) {
		t.Helper()
		_, _, err := cli(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("strata %s: %v, want %q", strings.Join(args, " "), err, want)
		}
	}
	f(`topic "copy" does not exist: create it with at least 1 partitions`, "tier", "restore", opsTopic, fsDir, b, "--to-topic", "copy")
	mustCLI(t, "", "topic", "create", "copy", b, "--partitions", "1")
	archived := mustCLI(t, "", "tier", "cat", opsTopic, fsDir, "--from-offset", "10", "--format", `%t %v\n`)
	n := strings.Count(archived, "\n")
	out := mustCLI(t, "", "tier", "restore", opsTopic, fsDir, b, "--to-topic", "copy", "--from-offset", "10")
	if want := fmt.Sprintf("restored %d records of orders into copy\n", n); out != want {
		t.Fatalf("tier restore: %q, want %q", out, want)
	}
	restored := mustCLI(t, "", "consume", "copy", b, "--from-beginning", "-e", "--format", `%t %v\n`)
	if restored != archived {
		t.Fatalf("restored records differ from the archive: %d vs %d lines", strings.Count(restored, "\n"), n)
	}
}
