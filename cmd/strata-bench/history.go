package main

// The history phase (issue 7, "flat with history"): the same broker measurements on a
// partition with a short history (-history-small sealed segments, default 100) and a long
// one (-history-segments, default 100,000), reported side by side with their ratio.
//
// How a history is built (fast, and byte for byte what the broker itself would have):
//
//   - A child broker creates the topic (remote storage on, copy disabled, unlimited
//     retention) and is stopped, so the topic's metadata, topic ID and topic.json are the
//     broker's own.
//   - Local part: the newest half of the segments are sealed segments in the partition
//     directory. One template segment (one batch of one record) is written with the segment
//     package itself (segment.Open, Append, Roll, Close); every history segment is a copy of
//     its three files with the batch's baseOffset rewritten (bytes 0-7, outside the CRC;
//     the indexes are relative to the segment base, so they are the same for all).
//   - Remote part: a partition manifest naming ALL the segments (the oldest half exist only
//     remotely; the local half is uploaded and kept by local retention), laid out as the
//     uploader lays it out: a head with the newest ManifestChunkEntries (128) entries and a
//     chain of immutable spilled chunks of 128 entries, each pointing at the previous one.
//   - The segments' data objects (.log, .index, .timeindex) are NOT put into MinIO: none of
//     the measurements reads or lists them (start-up reads the head and the chunks and lists
//     "manifest-"; produce touches no object; an upload puts new objects and the head; the
//     orphan sweep, the only lister of data objects, first runs an hour after start-up).
//     Putting 300,000 small objects would take MinIO on this machine longer than the whole
//     phase may take.
//
// Measured per size, on a fresh child broker that starts on that data dir and bucket:
//   - start-up: process start until the first acks=-1 produce of one record is acknowledged,
//     from the second start on (the first replays the producer state from the local log,
//     because the broker's producer snapshot predates the history, and writes one at the
//     end). Both histories are built first; then -history-starts starts of each, each
//     stopped cleanly, alternate between the short and the long history (which goes first
//     alternates too), so that the load of a shared machine hits both alike; every start
//     is a sample (the table shows their median over all rounds). The remaining
//     measurements then run per size on one more start;
//   - produce 1p acks=-1 throughput right after (-history-mib, copy still disabled);
//   - uploads: the produce leaves sealed segments of segment.bytes waiting; the phase then
//     turns remote.log.copy.disable off and times the uploader until the manifest in the
//     bucket names them all: wall time and object-store requests and bytes per segment
//     (data, indexes and the manifest update), and MB/s, next to a raw single-stream PUT of
//     the same segment files (the "upload throughput on its own vs the MinIO PUT limit").

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/s3store"
)

const historyTopic = "history"

type startFunc func(dataDir, bucket string, extra map[string]string) (*brokerChild, error)

// historyPhase builds both histories, measures their start-ups alternately, then runs the
// other measurements on each, small first in odd rounds and large first in even ones.
func (b *bench) historyPhase(ctx context.Context, round int, start startFunc) error {
	sizes := slices.Clone(b.o.historyList())
	if round%2 == 0 {
		slices.Reverse(sizes)
	}
	hs := make([]*history, len(sizes))
	defer func() {
		for _, h := range hs {
			if h != nil {
				h.remove(b)
			}
		}
	}()
	for i, n := range sizes {
		h, err := b.historyBuild(ctx, round, n, start)
		hs[i] = h
		if err != nil {
			return fmt.Errorf("history %d segments: %w", n, err)
		}
	}
	for k := range max(1, b.o.historyStarts) {
		for j := range hs {
			h := hs[j]
			if k%2 == 1 {
				h = hs[len(hs)-1-j]
			}
			if err := b.historyStartup(ctx, round, k, h, start); err != nil {
				return fmt.Errorf("history %d segments: start %d: %w", h.n, k, err)
			}
		}
	}
	for _, h := range hs {
		t := time.Now()
		if err := b.historyOne(ctx, round, h, start); err != nil {
			return fmt.Errorf("history %d segments: %w", h.n, err)
		}
		fmt.Fprintf(os.Stderr, "strata-bench: round %d history %d segments done in %.1fs\n", round, h.n, time.Since(t).Seconds())
	}
	return nil
}

func historyMetric(n int, what string) string { return fmt.Sprintf("history %d segments: %s", n, what) }

// history is one built history: its data dir and bucket.
type history struct {
	n       int
	dataDir string
	bucket  string
	prefix  string
	partDir string
	ts0     int64   // timestamp (ms) of the record at offset 0; the one at offset o has ts0+o
	lookups []int64 // offsets (remote only) the ListOffsets-by-timestamp measurements look up
	seeks   []int64 // offsets (remote only) the seek measurements start consuming at
}

var historyProps = map[string]string{"log.retention.check.interval.ms": "300000"}

func (h *history) remove(b *bench) {
	os.RemoveAll(h.dataDir)
	b.removeBucket(h.bucket)
}

// historyBuild builds a history of n segments and starts the broker on it once (the start
// that replays the producer state and leaves a snapshot, as a long-running broker has).
func (b *bench) historyBuild(ctx context.Context, round, n int, start startFunc) (*history, error) {
	h := &history{n: n, dataDir: filepath.Join(b.scratch, fmt.Sprintf("history-r%d-%d", round, n)),
		bucket: fmt.Sprintf("hist-r%d-%d-%d", round, n, time.Now().Unix()%100000)}
	if err := b.minio.Client.MakeBucket(ctx, h.bucket, minioBucketOpts()); err != nil {
		os.RemoveAll(h.dataDir)
		return nil, fmt.Errorf("make bucket: %w", err)
	}
	dataDir, bucket, props := h.dataDir, h.bucket, historyProps

	// 1) The broker creates the topic.
	child, err := start(dataDir, bucket, props)
	if err != nil {
		return h, err
	}
	segBytes := strconv.FormatInt(b.o.historySegmentBytes, 10)
	on, off, unlimited := "true", "true", "-1"
	err = createTopic(ctx, child.Addr, historyTopic, 1, map[string]*string{
		"remote.storage.enable": &on, "remote.log.copy.disable": &off, "segment.bytes": &segBytes,
		"retention.ms": &unlimited, "retention.bytes": &unlimited,
	})
	var id [16]byte
	if err == nil {
		id, err = topicID(ctx, child.Addr, historyTopic)
	}
	child.Stop()
	if err != nil {
		return h, err
	}

	// 2) The history: local half in the partition directory, manifest for all in the bucket.
	buildStart := time.Now()
	partDir := filepath.Join(dataDir, historyTopic+"-0")
	remoteOnly := n / 2
	tmpl, err := templateSegment(b.scratch)
	if err != nil {
		return h, err
	}
	// Every segment has its own timestamp (one ms apart, in the past), so that a lookup by
	// timestamp has exactly one answer.
	h.ts0 = time.Now().Add(-time.Hour).UnixMilli() - int64(n)
	if err := writeLocalHistory(partDir, tmpl, int64(remoteOnly), int64(n), h.ts0); err != nil {
		return h, err
	}
	prefix := tiering.PartitionPrefix("", historyTopic, id, 0)
	h.prefix, h.partDir = prefix, partDir
	h.lookups, h.seeks = historyTargets(n)
	if err := b.writeHistoryRemote(ctx, round, h, id, tmpl); err != nil {
		return h, err
	}
	syscall.Sync()
	fmt.Fprintf(os.Stderr, "strata-bench: history of %d segments built in %.1fs\n", n, time.Since(buildStart).Seconds())

	// 3) A first start replays the producer state from the local log (the broker's snapshot
	// predates the history) and writes a snapshot at the log end when it stops cleanly, as a
	// long-running broker would have.
	t0 := time.Now()
	child, err = start(dataDir, bucket, props)
	if err != nil {
		return h, err
	}
	// The broker serves before it has loaded the manifests of partitions with local data
	// (broker/tier.go attachTierLate); a long-running broker has, and has kept local copies
	// of the manifest's chunks, so the first start stops only once the tier is attached.
	if _, err := waitTierAttached(ctx, child.Addr, historyTopic, 120*time.Second); err != nil {
		child.Stop()
		return h, fmt.Errorf("first start: %w", err)
	}
	child.Stop()
	fmt.Fprintf(os.Stderr, "strata-bench: history %d: first start (producer state replayed from the log) and stop took %.1fs\n", n, time.Since(t0).Seconds())
	return h, nil
}

// historyStartup measures one start-up on h: process start until one acks=-1 record is
// acknowledged; the broker is then stopped cleanly. The first one (k == 0) saves the
// start-up CPU profile.
func (b *bench) historyStartup(ctx context.Context, round, k int, h *history, start startFunc) error {
	props := maps.Clone(historyProps)
	if k == 0 {
		props["startup-profile"] = fmt.Sprintf("history-%d-startup", h.n)
	}
	t0 := time.Now()
	child, err := start(h.dataDir, h.bucket, props)
	if err != nil {
		return err
	}
	defer child.Stop()
	if err := produceOne(ctx, child.Addr, historyTopic); err != nil {
		return fmt.Errorf("first produce: %w", err)
	}
	b.rep.add(round, "strata", historyMetric(h.n, "start-up to first acks=-1 produce"), "ms", ms(time.Since(t0)))
	return nil
}

// historyOne measures the rest on h, from one more start: the remote tier attached, then
// produce and uploads.
func (b *bench) historyOne(ctx context.Context, round int, h *history, start startFunc) error {
	n, bucket, prefix, partDir := h.n, h.bucket, h.prefix, h.partDir
	t0 := time.Now()
	child, err := start(h.dataDir, bucket, maps.Clone(historyProps))
	if err != nil {
		return err
	}
	defer func() { child.Stop() }()
	// Reported, not a target: the remote tier is attached in the background after start-up
	// (until then the offsets below the local start are answered retriably). Produce and
	// upload are measured once it is, as the steady state they stand for.
	// The attach (manifest load from the local chunk copies, hash chain check) is profiled:
	// it is the part of start-up that grows with the history.
	if err := child.StartProfile(fmt.Sprintf("r%d-history-%d-attach", round, n)); err != nil {
		return err
	}
	_, err = waitTierAttached(ctx, child.Addr, historyTopic, 120*time.Second)
	if perr := child.StopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	b.rep.add(round, "strata", historyMetric(n, "start-up to remote tier attached (earliest offset listed)"), "ms", ms(time.Since(t0)))

	// Reads into old data (remote only): ListOffsets by timestamp and a new consumer's seek.
	if err := b.historyReads(ctx, round, h, child.Addr); err != nil {
		return err
	}

	// 4) Produce throughput, uploads still off.
	nrec := b.records(b.o.historyMiB)
	if err := child.StartProfile(fmt.Sprintf("r%d-history-%d-produce", round, n)); err != nil {
		return err
	}
	res, err := produceN(ctx, child.Addr, historyTopic, -1, nrec, b.pool)
	if perr := child.StopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	b.rep.add(round, "strata", historyMetric(n, "produce 1p acks=-1"), "MB/s", res.mbps())

	// 5) Uploads of the sealed segments the produce left: turn copying on and time it.
	head0, err := readHead(ctx, b.minio.Client, bucket, prefix)
	if err != nil {
		return err
	}
	pending, err := pendingFiles(partDir, head0.EndOffset)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return fmt.Errorf("no sealed segment waiting for upload after producing %d records (segment.bytes %d)", nrec, b.o.historySegmentBytes)
	}
	var pendingBytes int64
	for _, p := range pending {
		pendingBytes += p.size
	}
	want := pending[len(pending)-1].base // the last pending segment's base is below the manifest end once it is named
	st0, err := child.Stats()
	if err != nil {
		return err
	}
	if err := child.StartProfile(fmt.Sprintf("r%d-history-%d-upload", round, n)); err != nil {
		return err
	}
	u0 := time.Now()
	err = alterTopicConfig(ctx, child.Addr, historyTopic, "remote.log.copy.disable", "false")
	var head1 *tiering.PartitionHead
	if err == nil {
		head1, err = waitHead(ctx, b.minio.Client, bucket, prefix, func(h *tiering.PartitionHead) bool { return h.EndOffset > want }, 120*time.Second)
	}
	el := time.Since(u0)
	if perr := child.StopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	st1, err := child.Stats()
	if err != nil {
		return err
	}
	segs := float64(head1.Seq - head0.Seq)
	if segs != float64(len(pending)) {
		fmt.Fprintf(os.Stderr, "strata-bench: history %d: %d manifest writes for %d pending segments\n", n, head1.Seq-head0.Seq, len(pending))
	}
	k := float64(len(pending))
	b.rep.add(round, "strata", historyMetric(n, "upload wall time per segment"), "ms", ms(el)/k)
	b.rep.add(round, "strata", historyMetric(n, "upload throughput"), "MB/s", float64(pendingBytes)/1e6/el.Seconds())
	b.rep.add(round, "strata", historyMetric(n, "upload PUT requests per segment"), "n", float64(st1.PutRequests-st0.PutRequests)/k)
	b.rep.add(round, "strata", historyMetric(n, "upload other requests per segment (GET, HEAD, LIST)"), "n",
		float64((st1.GetRequests-st0.GetRequests)+(st1.StatRequests-st0.StatRequests)+(st1.ListRequests-st0.ListRequests))/k)
	b.rep.add(round, "strata", historyMetric(n, "upload PUT bytes per segment beyond its data"), "bytes", float64(st1.PutBytes-st0.PutBytes-pendingBytes)/k)

	raw, err := rawPutFiles(ctx, b.minio.Client, bucket, pending)
	if err != nil {
		return err
	}
	b.rep.add(round, "limit", historyMetric(n, "raw PUT of the same segment files, 1 stream"), "MB/s", raw)
	return nil
}

// template is one sealed segment of one batch of one record, as the segment package wrote it.
type template struct {
	log, index, timeIndex []byte
	maxTs                 int64
}

func templateSegment(scratch string) (template, error) {
	dir, err := os.MkdirTemp(scratch, "template-")
	if err != nil {
		return template{}, err
	}
	defer os.RemoveAll(dir)
	l, _, err := segment.Open(dir, segment.Config{})
	if err != nil {
		return template{}, err
	}
	ts := time.Now().UnixMilli()
	value := bytes.Repeat([]byte("h"), 100)
	if _, err := l.Append(segmenttest.Batch(ts, value), segment.AppendOptions{}); err != nil {
		l.Close()
		return template{}, err
	}
	if err := l.Roll(); err != nil {
		l.Close()
		return template{}, err
	}
	if err := l.Close(); err != nil {
		return template{}, err
	}
	var t template
	t.maxTs = ts
	for _, f := range []struct {
		dst *[]byte
		ext string
	}{{&t.log, ".log"}, {&t.index, ".index"}, {&t.timeIndex, ".timeindex"}} {
		if *f.dst, err = os.ReadFile(filepath.Join(dir, fmt.Sprintf("%020d%s", 0, f.ext))); err != nil {
			return template{}, err
		}
	}
	return t, nil
}

// historyTargets picks the offsets the lookups and seeks of a history of n segments go
// to: spread over its oldest half, which exists only in the bucket.
func historyTargets(n int) (lookups, seeks []int64) {
	const k = 4
	for i := range 2 * k {
		o := int64((i + 1) * n / (2 * (2*k + 1)))
		if i%2 == 0 {
			lookups = append(lookups, o)
		} else {
			seeks = append(seeks, o)
		}
	}
	return lookups, seeks
}

// segmentAt is the template's .log with the batch moved to offset base and timestamp ts:
// base offset rewritten (outside the CRC), first and max timestamp rewritten and the
// CRC-32C (attributes to the end) recomputed. The batch's one record has timestamp delta 0.
func (t template) segmentAt(base, ts int64) []byte {
	b := bytes.Clone(t.log)
	binary.BigEndian.PutUint64(b[0:8], uint64(base))
	binary.BigEndian.PutUint64(b[27:35], uint64(ts))
	binary.BigEndian.PutUint64(b[35:43], uint64(ts))
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// timeIndexAt is the template's local time index with its entries' timestamps set to ts
// (entries: 8-byte timestamp, 4-byte relative offset).
func (t template) timeIndexAt(ts int64) []byte {
	b := bytes.Clone(t.timeIndex)
	for i := 0; i+12 <= len(b); i += 12 {
		binary.BigEndian.PutUint64(b[i:i+8], uint64(ts))
	}
	return b
}

// writeLocalHistory replaces the partition's (empty) segments by sealed one-batch segments
// with base offsets [from, to) (timestamp ts0+base) and an empty active segment at to. The
// files are not fsynced one by one; the caller syncs the filesystem once.
func writeLocalHistory(partDir string, t template, from, to, ts0 int64) error {
	entries, err := os.ReadDir(partDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".log") || strings.HasSuffix(name, ".index") || strings.HasSuffix(name, ".timeindex") || name == "log-start-offset" {
			if err := os.Remove(filepath.Join(partDir, name)); err != nil {
				return err
			}
		}
	}
	for base := from; base < to; base++ {
		for _, f := range []struct {
			ext string
			b   []byte
		}{{".log", t.segmentAt(base, ts0+base)}, {".index", t.index}, {".timeindex", t.timeIndexAt(ts0 + base)}} {
			if err := os.WriteFile(filepath.Join(partDir, fmt.Sprintf("%020d%s", base, f.ext)), f.b, 0o644); err != nil {
				return err
			}
		}
	}
	for _, ext := range []string{".log", ".index", ".timeindex"} {
		if err := os.WriteFile(filepath.Join(partDir, fmt.Sprintf("%020d%s", to, ext)), nil, 0o644); err != nil {
			return err
		}
	}
	// The log was closed cleanly, but its clean-shutdown marker summarises the segments it
	// had, which Open would trust without listing the directory: a v0 marker (clean, no
	// summary) makes the first start check the copied segments (and its stop summarise
	// them), as it would after a broker without summaries stopped.
	return os.WriteFile(filepath.Join(partDir, "clean-shutdown"), []byte("0\n"), 0o644)
}

// writeHistoryRemote describes the n segments of h as the uploader would (tiering's
// DescribeSegment), puts the objects of the segments the lookups and seeks read (and the
// three after each), and writes the manifest naming all n with tiering's manifest writer
// (WriteManifest: hash chain, spilled chunks of 128 entries). It also reports, measured
// in this process, what loading and checking that manifest costs.
func (b *bench) writeHistoryRemote(ctx context.Context, round int, h *history, id [16]byte, t template) error {
	st, err := s3store.New(ctx, s3store.Config{
		Bucket: h.bucket, Endpoint: b.minio.Endpoint, PathStyle: true, Region: "us-east-1",
		AccessKey: b.minio.AccessKey, SecretKey: b.minio.SecretKey,
	})
	if err != nil {
		return err
	}
	stored := map[int64]bool{}
	for _, o := range append(slices.Clone(h.lookups), h.seeks...) {
		for k := range int64(4) {
			stored[o+k] = true
		}
	}
	entries := make([]tiering.SegmentEntry, 0, h.n)
	for base := int64(0); base < int64(h.n); base++ {
		so, err := tiering.DescribeSegment(h.prefix, base, t.segmentAt(base, h.ts0+base), tiering.Config{})
		if err != nil {
			return err
		}
		if stored[base] {
			for key, body := range so.Objects {
				if err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
					return fmt.Errorf("put %s: %w", key, err)
				}
			}
		}
		entries = append(entries, so.Entry)
	}
	head, err := tiering.WriteManifest(ctx, st, h.prefix, historyTopic, id, 0, entries, tiering.Config{})
	if err != nil {
		return err
	}
	// The hash chain over every entry, checked at each load (tiering/chain.go).
	t0 := time.Now()
	if breaks := tiering.VerifyChain(head, entries); len(breaks) > 0 {
		return fmt.Errorf("synthetic history: hash chain broken: %v", breaks[0])
	}
	b.rep.add(round, "strata", historyMetric(h.n, "hash chain check of all entries (in-process)"), "ms", ms(time.Since(t0)))
	t0 = time.Now()
	if _, es, breaks, err := tiering.ReadPartitionChain(ctx, st, "", historyTopic, id, 0); err != nil || len(es) != h.n || len(breaks) > 0 {
		return fmt.Errorf("synthetic history: loaded %d of %d entries, %d chain breaks: %v", len(es), h.n, len(breaks), err)
	}
	b.rep.add(round, "strata", historyMetric(h.n, "manifest load from the bucket, chunks fetched, chain checked (in-process)"), "ms", ms(time.Since(t0)))
	return nil
}

func putJSON(ctx context.Context, cl *minio.Client, bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = cl.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{DisableContentSha256: true})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func readHead(ctx context.Context, cl *minio.Client, bucket, prefix string) (*tiering.PartitionHead, error) {
	obj, err := cl.GetObject(ctx, bucket, prefix+"manifest.json", minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, fmt.Errorf("read manifest head: %w", err)
	}
	return tiering.DecodePartitionHead(b)
}

func waitHead(ctx context.Context, cl *minio.Client, bucket, prefix string, done func(*tiering.PartitionHead) bool, timeout time.Duration) (*tiering.PartitionHead, error) {
	deadline := time.Now().Add(timeout)
	for {
		h, err := readHead(ctx, cl, bucket, prefix)
		if err == nil && done(h) {
			return h, nil
		}
		if time.Now().After(deadline) {
			return h, fmt.Errorf("manifest under %s not as expected after %v (last error %v)", prefix, timeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

type segFile struct {
	path string
	base int64
	size int64
}

// pendingFiles lists the partition's sealed segments at or above from (all .log files but
// the newest), oldest first.
func pendingFiles(partDir string, from int64) ([]segFile, error) {
	entries, err := os.ReadDir(partDir)
	if err != nil {
		return nil, err
	}
	var out []segFile
	for _, e := range entries {
		digits, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || len(digits) != 20 {
			continue
		}
		base, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || base < from {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, segFile{path: filepath.Join(partDir, e.Name()), base: base, size: info.Size()})
	}
	if len(out) > 0 {
		out = out[:len(out)-1] // the active segment
	}
	return out, nil
}

// rawPutFiles PUTs the files one after the other (single stream) and returns MB/s.
func rawPutFiles(ctx context.Context, cl *minio.Client, bucket string, files []segFile) (float64, error) {
	var total int64
	var dur time.Duration
	for i, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return 0, err
		}
		key := fmt.Sprintf("raw-put/%d-%d", time.Now().UnixNano(), i)
		t := time.Now()
		if _, err := cl.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)),
			minio.PutObjectOptions{PartSize: uint64(max(len(b), 16<<20)), DisableContentSha256: true}); err != nil {
			return 0, fmt.Errorf("put %s: %w", key, err)
		}
		dur += time.Since(t)
		total += int64(len(b))
	}
	return float64(total) / 1e6 / dur.Seconds(), nil
}

// produceOne produces one record with acks=-1, retrying quickly until the broker accepts it.
func produceOne(ctx context.Context, addr, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 5 * time.Millisecond }), kgo.RecordRetries(1000))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr()
}

func topicID(ctx context.Context, addr, topic string) ([16]byte, error) {
	adm, cl, err := newAdmin(addr)
	if err != nil {
		return [16]byte{}, err
	}
	defer cl.Close()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return [16]byte{}, err
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		return [16]byte{}, fmt.Errorf("topic %s not listed: %v", topic, d.Err)
	}
	return [16]byte(d.ID), nil
}

func alterTopicConfig(ctx context.Context, addr, topic, key, value string) error {
	adm, cl, err := newAdmin(addr)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
	if err != nil {
		return err
	}
	for _, r := range resp {
		if r.Err != nil {
			return fmt.Errorf("alter %s %s=%s: %w", topic, key, value, r.Err)
		}
	}
	return nil
}

// removeBucket deletes a history bucket and everything in it (best effort).
func (b *bench) removeBucket(bucket string) {
	ctx := context.Background()
	objs := b.minio.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range b.minio.Client.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		_ = e
	}
	b.minio.Client.RemoveBucket(ctx, bucket)
}

// waitTierAttached polls ListOffsets earliest of partition 0 until the broker answers it
// without error (KAFKA_STORAGE_ERROR while the partition's remote tier is not attached)
// and returns the offset.
func waitTierAttached(ctx context.Context, addr, topic string, timeout time.Duration) (int64, error) {
	adm, cl, err := newAdmin(addr)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	deadline := time.Now().Add(timeout)
	for {
		offs, err := adm.ListStartOffsets(ctx, topic)
		if err == nil {
			if o, ok := offs.Lookup(topic, 0); ok && o.Err == nil {
				return o.Offset, nil
			} else if ok {
				err = o.Err
			} else {
				err = fmt.Errorf("partition 0 not listed")
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("remote tier of %s not attached after %v: %w", topic, timeout, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// historyReads measures, on the remote-only half of h: ListOffsets by timestamp (one
// request per looked-up offset, on a connected client; each lands in a different segment,
// whose remote time index the broker has not read yet) and the first-record latency of a
// seek (a new consumer assigned partition 0 at the offset, from client creation to the
// first record). Each sample is the median over the targets.
func (b *bench) historyReads(ctx context.Context, round int, h *history, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := listOffsets(ctx, cl, historyTopic, 1, -1); err != nil { // connect first
		return err
	}
	var lookups []float64
	for _, o := range h.lookups {
		t0 := time.Now()
		got, err := listOffsets(ctx, cl, historyTopic, 1, h.ts0+o)
		el := time.Since(t0)
		if err != nil {
			return err
		}
		if got[0] != o {
			return fmt.Errorf("ListOffsets timestamp %d (segment %d): offset %d", h.ts0+o, o, got[0])
		}
		lookups = append(lookups, ms(el))
	}
	b.rep.add(round, "strata", historyMetric(h.n, "ListOffsets by timestamp into old data"), "ms", median(lookups))
	var seeks []float64
	for _, o := range h.seeks {
		el, err := seekFirstRecord(ctx, addr, historyTopic, o)
		if err != nil {
			return err
		}
		seeks = append(seeks, ms(el))
	}
	b.rep.add(round, "strata", historyMetric(h.n, "seek into old data: first record"), "ms", median(seeks))
	return nil
}

// seekFirstRecord creates a consumer of partition 0 of topic at offset and returns the time
// from its creation to the record at offset.
func seekFirstRecord(ctx context.Context, addr, topic string, offset int64) (time.Duration, error) {
	t0 := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(offset)}}))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("seek to %d: no record: %w", offset, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil && !kerr.IsRetriable(err) {
				ferr = err
			}
		})
		if ferr != nil {
			return 0, fmt.Errorf("seek to %d: %w", offset, ferr)
		}
		if recs := fs.Records(); len(recs) > 0 {
			el := time.Since(t0)
			if recs[0].Offset != offset {
				return 0, fmt.Errorf("seek to %d: first record at %d", offset, recs[0].Offset)
			}
			return el, nil
		}
	}
}
