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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering"
)

const historyTopic = "history"

type startFunc func(dataDir, bucket string, extra map[string]string) (*brokerChild, error)

// historyPhase builds both histories, measures their start-ups alternately, then runs the
// other measurements on each, small first in odd rounds and large first in even ones.
func (b *bench) historyPhase(ctx context.Context, round int, start startFunc) error {
	sizes := []int{b.o.historySmall, b.o.historySegments}
	if round%2 == 0 {
		sizes[0], sizes[1] = sizes[1], sizes[0]
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
	if err := writeLocalHistory(partDir, tmpl, int64(remoteOnly), int64(n)); err != nil {
		return h, err
	}
	prefix := tiering.PartitionPrefix("", historyTopic, id, 0)
	if err := writeHistoryManifest(ctx, b.minio.Client, bucket, prefix, id, tmpl, n); err != nil {
		return h, err
	}
	h.prefix, h.partDir = prefix, partDir
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
	if _, err := waitTierAttached(ctx, child.Addr, historyTopic, 120*time.Second); err != nil {
		return err
	}
	b.rep.add(round, "strata", historyMetric(n, "start-up to remote tier attached (earliest offset listed)"), "ms", ms(time.Since(t0)))

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

// writeLocalHistory replaces the partition's (empty) segments by sealed one-batch segments
// with base offsets [from, to) and an empty active segment at to. The files are not fsynced
// one by one; the caller syncs the filesystem once.
func writeLocalHistory(partDir string, t template, from, to int64) error {
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
	logb := bytes.Clone(t.log)
	for base := from; base < to; base++ {
		binary.BigEndian.PutUint64(logb[0:8], uint64(base))
		for _, f := range []struct {
			ext string
			b   []byte
		}{{".log", logb}, {".index", t.index}, {".timeindex", t.timeIndex}} {
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

// writeHistoryManifest writes the manifest of n one-batch segments with base offsets
// [0, n): spilled chunks of 128 entries (each naming the previous one) and a head with the
// rest, as tiering's manifest writer lays them out (see tiering/doc.go).
func writeHistoryManifest(ctx context.Context, cl *minio.Client, bucket, prefix string, id [16]byte, t template, n int) error {
	const chunkEntries = 128 // tiering.Config.ManifestChunkEntries default
	uploaded := time.Now().UTC()
	logb := bytes.Clone(t.log)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	// The remote indexes of a one-batch segment: one block at relative offset 0, position 0.
	rindex := make([]byte, 8)
	rtime := make([]byte, 12)
	binary.BigEndian.PutUint64(rtime[0:], uint64(t.maxTs))
	entry := func(base int64) tiering.SegmentEntry {
		binary.BigEndian.PutUint64(logb[0:8], uint64(base))
		u := uuid.NewString()
		key := func(ext string) string { return fmt.Sprintf("%s%020d-%s%s", prefix, base, u, ext) }
		return tiering.SegmentEntry{
			ID: u, BaseOffset: base, LastOffset: base, FirstTimestamp: t.maxTs, MaxTimestamp: t.maxTs,
			Size: int64(len(logb)), Batches: 1, UploadTime: uploaded,
			Log:       tiering.ObjectRef{Key: key(".log"), Size: int64(len(logb)), CRC32C: crc32.Checksum(logb, castagnoli)},
			Index:     tiering.ObjectRef{Key: key(".index"), Size: 8, CRC32C: crc32.Checksum(rindex, castagnoli)},
			TimeIndex: tiering.ObjectRef{Key: key(".timeindex"), Size: 12, CRC32C: crc32.Checksum(rtime, castagnoli)},
		}
	}
	topicHex := tiering.TopicIDString(id)
	var prev *tiering.ChunkRef
	base := int64(0)
	for ; int64(n)-base > chunkEntries; base += chunkEntries {
		c := tiering.ManifestChunk{Version: tiering.ManifestVersion, Kind: "strata.partition.chunk",
			Topic: historyTopic, TopicID: topicHex, Prev: prev}
		ref := &tiering.ChunkRef{Key: fmt.Sprintf("%smanifest-%020d-%s.json", prefix, base, uuid.NewString()),
			FirstBase: base, LastOffset: base + chunkEntries - 1, Count: chunkEntries}
		for o := base; o < base+chunkEntries; o++ {
			e := entry(o)
			c.Segments = append(c.Segments, e)
			ref.Bytes += e.Size
		}
		if err := putJSON(ctx, cl, bucket, ref.Key, &c); err != nil {
			return err
		}
		prev = ref
	}
	h := tiering.PartitionHead{Version: tiering.ManifestVersion, Kind: "strata.partition", Topic: historyTopic,
		TopicID: topicHex, EndOffset: int64(n), Seq: int64(n), Writer: uuid.NewString(), Updated: uploaded, LastChunk: prev}
	for o := base; o < int64(n); o++ {
		h.Segments = append(h.Segments, entry(o))
	}
	return putJSON(ctx, cl, bucket, prefix+"manifest.json", &h)
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
