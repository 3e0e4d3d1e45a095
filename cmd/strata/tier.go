package main

// strata tier: read and check the bucket directly, without a broker.
//
//	strata tier cat TOPIC     print a topic's records from the bucket (offset or time range)
//	strata tier verify [TOPIC] check every object's checksum and every batch's CRC; report
//	                          missing, corrupt, unreadable (still refused by the bucket after
//	                          --retry-for) and orphaned objects; --delete-orphans [--dry-run]
//	strata tier verify --deep  also check the hash chains (and published heads, --heads FILE)
//	strata tier heads|proof|verify-proof  chain heads to publish, inclusion proofs (tierproof.go)
//	strata tier status [TOPIC] per partition: log start, local start, remote end, HW, bytes
//	                          local and remote, upload lag (from a broker's admin listener)
//
// The store is chosen like `strata serve` chooses it: strata.tier.* keys from --config,
// STRATA_TIER_* variables and --set, with shorthands --store, --fs-dir, --bucket,
// --endpoint, --prefix.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/admin"
	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

func runTier(ctx context.Context, s streams, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := s.err
		if len(args) > 0 {
			w = s.out
		}
		fmt.Fprintln(w, "usage: strata tier cat|verify|heads|proof|verify-proof|status|restore [flags]")
		fmt.Fprintln(w, "  cat TOPIC       print a topic's records straight from the bucket")
		fmt.Fprintln(w, "  verify [TOPIC]  check checksums, SHA-256s and batch CRCs; report missing, corrupt, unreadable, orphaned objects")
		fmt.Fprintln(w, "                  --deep: also the manifests' hash chains (--heads FILE: and that they reach published heads)")
		fmt.Fprintln(w, "  heads [TOPIC]   print each partition's chain head, to publish")
		fmt.Fprintln(w, "  proof TOPIC PARTITION OFFSET   print a proof that OFFSET is in the partition's chain")
		fmt.Fprintln(w, "  verify-proof --head SEQ:HASH [FILE]   check a proof against a published head, offline")
		fmt.Fprintln(w, "  status [TOPIC]  offsets and bytes per partition, local vs remote (admin listener)")
		fmt.Fprintln(w, "  restore TOPIC   replay a topic's history from the bucket into a topic on a cluster")
		fmt.Fprintln(w, "  keygen --key-file FILE [--id ID]   add a new primary key to a tier encryption key file")
		fmt.Fprintln(w, "  rewrap --key-file FILE   re-wrap every object's data key under the primary key (brokers stopped)")
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "cat":
		return runTierCat(ctx, s, args[1:])
	case "verify":
		return runTierVerify(ctx, s, args[1:])
	case "status":
		return runTierStatus(ctx, s, args[1:])
	case "restore":
		return runTierRestore(ctx, s, args[1:])
	case "heads":
		return runTierHeads(ctx, s, args[1:])
	case "proof":
		return runTierProof(ctx, s, args[1:])
	case "verify-proof":
		return runTierVerifyProof(ctx, s, args[1:])
	case "keygen":
		return runTierKeygen(ctx, s, args[1:])
	case "rewrap":
		return runTierRewrap(ctx, s, args[1:])
	}
	return usageErrorf("tier: unknown subcommand %q (want cat, verify, heads, proof, verify-proof, status or restore)", args[0])
}

// storeFlags choose the object store for the offline tier commands.
type storeFlags struct {
	config                                  string
	sets                                    kvFlag
	store, fsDir, bucket, endpoint, prefix  string
	region, accessKey, secretKey, pathStyle string
	keyFile                                 string        // strata.tier.encryption.key.file
	retryFor                                time.Duration // S3: give up on a request after retrying it this long (0: never)
}

func (f *storeFlags) registerOn(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", os.Getenv("STRATA_CONFIG"), "server.properties whose strata.tier.* keys name the store (env STRATA_CONFIG)")
	fs.Var(&f.sets, "set", "any strata.tier.* key=value (repeatable)")
	fs.StringVar(&f.store, "store", "", "object store: fs or s3 (strata.tier.store)")
	fs.StringVar(&f.fsDir, "fs-dir", "", "directory of the fs store (strata.tier.fs.dir)")
	fs.StringVar(&f.bucket, "bucket", "", "S3 bucket; implies --store s3 (strata.tier.s3.bucket)")
	fs.StringVar(&f.endpoint, "endpoint", "", "S3 endpoint, e.g. http://127.0.0.1:9000 (strata.tier.s3.endpoint)")
	fs.StringVar(&f.region, "region", "", "S3 region (strata.tier.s3.region)")
	fs.StringVar(&f.accessKey, "access-key", "", "S3 access key (strata.tier.s3.access.key)")
	fs.StringVar(&f.secretKey, "secret-key", "", "S3 secret key (strata.tier.s3.secret.key)")
	fs.StringVar(&f.pathStyle, "path-style", "", "S3 path-style addressing: true for MinIO (strata.tier.s3.path.style)")
	fs.StringVar(&f.prefix, "prefix", "", "key prefix (strata.tier.prefix)")
	fs.StringVar(&f.keyFile, "key-file", "", "key file of an encrypted bucket (strata.tier.encryption.key.file)")
}

// open builds the store. Only strata.tier.* keys of the file and environment are used.
func (f *storeFlags) open(ctx context.Context) (tiering.ObjectStore, tierConfig, error) {
	flagProps := map[string]string{}
	for _, k := range f.sets.keys {
		flagProps[k] = f.sets.vals[k]
	}
	if f.bucket != "" && f.store == "" {
		f.store = "s3"
	}
	for k, v := range map[string]string{
		"strata.tier.store": f.store, "strata.tier.fs.dir": f.fsDir, "strata.tier.s3.bucket": f.bucket,
		"strata.tier.s3.endpoint": f.endpoint, "strata.tier.s3.region": f.region,
		"strata.tier.s3.access.key": f.accessKey, "strata.tier.s3.secret.key": f.secretKey,
		"strata.tier.s3.path.style": f.pathStyle, "strata.tier.prefix": f.prefix,
		"strata.tier.encryption.key.file": f.keyFile,
	} {
		if v != "" {
			flagProps[k] = v
		}
	}
	props, _, err := gatherServeProps(f.config, os.Environ(), flagProps)
	if err != nil {
		return nil, tierConfig{}, err
	}
	rest, tierProps := splitTierProps(props)
	if tierProps["strata.tier.store"] == "" && tierProps["strata.tier.fs.dir"] == "" && tierProps["strata.tier.s3.bucket"] == "" {
		// Nothing chosen: the store strata serve uses by default, <log.dirs>/tier
		// (./data/tier after the quickstart), when it exists.
		def := filepath.Join(dataDirOf(rest), "tier")
		if fi, err := os.Stat(def); err != nil || !fi.IsDir() {
			return nil, tierConfig{}, usageErrorf("no store given and no default fs store in %s: use --fs-dir DIR, --bucket NAME (with --endpoint for MinIO) or --config server.properties", def)
		}
		tierProps["strata.tier.store"] = "fs"
	}
	tc, err := parseTierConfig(tierProps, dataDirOf(rest))
	if err != nil {
		return nil, tierConfig{}, err
	}
	tc.S3.MaxRetryDuration = f.retryFor
	if tc.Store == "none" {
		return nil, tierConfig{}, usageErrorf("strata.tier.store is none: nothing to read")
	}
	if tc.Store == "fs" {
		if _, err := os.Stat(tc.FSDir); err != nil {
			return nil, tierConfig{}, fmt.Errorf("fs store %q: %w", tc.FSDir, err)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	st, _, err := buildObjectStore(ctx, tc, logger, nil)
	if err != nil {
		return nil, tierConfig{}, bucketError(tc, err)
	}
	return st, tc, nil
}

// bucketError turns a store error into one line a person can act on.
func bucketError(tc tierConfig, err error) error {
	if err == nil {
		return nil
	}
	if worded, ok := bucketProblem(tc, err); ok {
		return worded
	}
	return fmt.Errorf("%s: %w", storeWhere(tc), err)
}

// storeWhere names the store of tc: its directory, or bucket "b" at <endpoint>.
func storeWhere(tc tierConfig) string {
	where := tc.FSDir
	if tc.Store == "s3" {
		where = "bucket " + strconv.Quote(tc.S3.Bucket)
		if tc.S3.Endpoint != "" {
			where += " at " + tc.S3.Endpoint
		}
	}
	return where
}

// bucketProblem recognises the store errors a person fixes outside Strata (a missing
// bucket, credentials, an unreachable endpoint) and words them as one line with the fix.
func bucketProblem(tc tierConfig, err error) (error, bool) {
	msg := err.Error()
	where := storeWhere(tc)
	switch {
	case strings.Contains(msg, "NoSuchBucket"):
		return fmt.Errorf("%s does not exist: create it (e.g. mc mb, aws s3 mb) or start strata serve once with --set strata.tier.s3.create.bucket=true", where), true
	case strings.Contains(msg, "InvalidAccessKeyId"), strings.Contains(msg, "SignatureDoesNotMatch"),
		strings.Contains(msg, "AccessDenied"), strings.Contains(msg, "InvalidToken"), strings.Contains(msg, "ExpiredToken"):
		return fmt.Errorf("%s: credentials rejected (check strata.tier.s3.access.key / secret.key)", where), true
	case strings.Contains(msg, "failed to retrieve credentials"), strings.Contains(msg, "no EC2 IMDS role"),
		strings.Contains(msg, "get credentials"), strings.Contains(msg, "AnonymousCredentials"):
		return fmt.Errorf("%s: no S3 credentials: set STRATA_TIER_S3_ACCESS_KEY and STRATA_TIER_S3_SECRET_KEY (or the AWS environment / shared config)", where), true
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"):
		return fmt.Errorf("%s: cannot connect: %v", where, err), true
	}
	return nil, false
}

// findTopic reads the topic manifest of name from the bucket.
func findTopic(ctx context.Context, st tiering.ObjectStore, tc tierConfig, name string) (tiering.TopicManifest, error) {
	tms, err := tiering.Restore(ctx, st, tc.Prefix)
	if err != nil {
		return tiering.TopicManifest{}, bucketError(tc, err)
	}
	var names []string
	for _, tm := range tms {
		if tm.Topic == name && tm.LocalOnly {
			return tiering.TopicManifest{}, fmt.Errorf("topic %q is not tiered (remote.storage.enable=false): the store holds only its configs, no records", name)
		}
		if tm.Topic == name {
			return tm, nil
		}
		names = append(names, tm.Topic)
	}
	if len(names) == 0 {
		return tiering.TopicManifest{}, fmt.Errorf("topic %q not found: the store holds no topics under prefix %q", name, tc.Prefix)
	}
	return tiering.TopicManifest{}, fmt.Errorf("topic %q not found in the store (it holds: %s)", name, strings.Join(names, ", "))
}

// eachBatch streams the record batches of a .log object, calling fn with each batch's
// position and bytes (valid until fn returns). A frame that does not fit is segment.ErrCorrupt.
func eachBatch(ctx context.Context, st tiering.ObjectStore, key string, fn func(pos int64, batch []byte) error) error {
	rc, err := st.GetRange(ctx, key, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	return batchesOf(rc, key, fn)
}

// eachVerifiedBatch is eachBatch of e's data object, whose bytes are handed out only once
// their hash block matched the manifest (tiering.OpenVerified).
func eachVerifiedBatch(ctx context.Context, st tiering.ObjectStore, e *tiering.SegmentEntry, fn func(pos int64, batch []byte) error) error {
	rc, err := tiering.OpenVerified(ctx, st, e)
	if err != nil {
		return err
	}
	defer rc.Close()
	return batchesOf(rc, e.Log.Key, fn)
}

func batchesOf(rc io.Reader, key string, fn func(pos int64, batch []byte) error) error {
	br := bufio.NewReaderSize(rc, 256<<10)
	var pos int64
	var buf []byte
	for {
		var hdr [segment.BatchHeaderSize]byte // every batch is at least a header long
		if n, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) && n == 0 {
				return nil
			}
			return fmt.Errorf("%w: %s: batch header at %d: %v", segment.ErrCorrupt, key, pos, err)
		}
		h, _ := segment.DecodeBatchHeader(hdr[:]) // cannot fail: hdr is a whole header
		if h.BatchLength < segment.MinBatchLength || h.BatchLength > 1<<30 {
			return fmt.Errorf("%w: %s: batch at %d has length %d", segment.ErrCorrupt, key, pos, h.BatchLength)
		}
		size := int(h.Size())
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		copy(buf, hdr[:])
		if _, err := io.ReadFull(br, buf[len(hdr):]); err != nil {
			return fmt.Errorf("%w: %s: batch at %d is cut short: %v", segment.ErrCorrupt, key, pos, err)
		}
		if err := fn(pos, buf); err != nil {
			return err
		}
		pos += int64(size)
	}
}

// checkBatchCRC verifies a v2 batch's CRC-32C.
func checkBatchCRC(b []byte) error {
	h, err := segment.DecodeBatchHeader(b)
	if err != nil || h.Magic != 2 {
		return fmt.Errorf("%w: not a v2 record batch", segment.ErrCorrupt)
	}
	if got := segment.BatchCRC(b); got != h.CRC {
		return fmt.Errorf("%w: batch crc %08x, computed %08x", segment.ErrCorrupt, h.CRC, got)
	}
	return nil
}

// parseTimeFlag accepts Unix milliseconds or RFC 3339; "" is -1.
func parseTimeFlag(name, v string) (int64, error) {
	if v == "" {
		return -1, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, usageErrorf("--%s: want Unix milliseconds or RFC 3339 (2024-05-01T12:00:00Z), got %q", name, v)
	}
	return t.UnixMilli(), nil
}

// replayFlags select what a replay from the bucket reads (tier cat, tier restore).
type replayFlags struct {
	partition        *int
	fromOff, toOff   *int64
	fromTime, toTime *string
	count            *int
	progress         *string
}

func (r *replayFlags) register(fs *flag.FlagSet) {
	r.partition = fs.Int("partition", -1, "only this partition (-1: all, one after another)")
	r.fromOff = fs.Int64("from-offset", -1, "first offset (default: the remote log start)")
	r.toOff = fs.Int64("to-offset", -1, "stop before this offset (default: the remote end)")
	r.fromTime = fs.String("from-time", "", "only records with timestamp >= this (Unix ms or RFC 3339)")
	r.toTime = fs.String("to-time", "", "only records with timestamp <= this (Unix ms or RFC 3339)")
	r.count = fs.Int("n", 0, "stop after this many records (0: no limit)")
	r.progress = fs.String("progress", "auto", "progress on stderr: auto (stderr is a terminal, stdout is not), always, never")
}

// errReplayDone stops a replay early (count reached).
var errReplayDone = errors.New("replay done")

// replay reads the records of tm selected by r from the bucket, in offset order per
// partition, partitions one after another, and calls fn for each.
func replay(ctx context.Context, s streams, st tiering.ObjectStore, tc tierConfig, tm tiering.TopicManifest, r *replayFlags, what string, fn func(*kgo.Record) error) error {
	tsFrom, err := parseTimeFlag("from-time", *r.fromTime)
	if err != nil {
		return err
	}
	tsTo, err := parseTimeFlag("to-time", *r.toTime)
	if err != nil {
		return err
	}
	showProgress, err := progressEnabled(*r.progress, s)
	if err != nil {
		return err
	}
	fromOff, toOff := *r.fromOff, *r.toOff
	parts := make([]int32, 0, tm.Partitions)
	for p := int32(0); p < tm.Partitions; p++ {
		if *r.partition < 0 || int32(*r.partition) == p {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("topic %q has %d partitions, no partition %d", tm.Topic, tm.Partitions, *r.partition)
	}
	type partEntries struct {
		p       int32
		entries []tiering.SegmentEntry
	}
	var plan []partEntries
	var total int64
	for _, p := range parts {
		_, entries, err := tiering.ReadPartitionManifest(ctx, st, tc.Prefix, tm.Topic, tm.TopicID, p)
		if err != nil {
			return bucketError(tc, fmt.Errorf("cannot read the manifest of %s-%d: %w", tm.Topic, p, err))
		}
		var keep []tiering.SegmentEntry
		for _, e := range entries {
			if (fromOff >= 0 && e.LastOffset < fromOff) || (toOff >= 0 && e.BaseOffset >= toOff) ||
				(tsFrom >= 0 && e.MaxTimestamp < tsFrom) {
				continue
			}
			keep = append(keep, e)
			lo, hi := max(e.BaseOffset, fromOff), e.LastOffset+1
			if toOff >= 0 {
				hi = min(hi, toOff)
			}
			total += max(0, hi-lo)
		}
		plan = append(plan, partEntries{p, keep})
	}

	prog := newProgress(s.err, showProgress, total, what+" "+tm.Topic)
	defer prog.finish()
	n := 0
	decomp := kgo.DefaultDecompressor()
	for _, pe := range plan {
		for _, e := range pe.entries {
			want := e.BaseOffset // offsets run on from the segment's base offset, as reads check
			err := eachVerifiedBatch(ctx, st, &e, func(pos int64, batch []byte) error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				h, _ := segment.DecodeBatchHeader(batch) // eachBatch hands whole batches
				if err := segment.CheckContinuity(h, want, e.LastOffset); err != nil {
					return fmt.Errorf("%s at position %d: %w (run strata tier verify)", e.Log.Key, pos, err)
				}
				want = h.LastOffset() + 1
				base, last := h.BaseOffset, h.LastOffset()
				if (fromOff >= 0 && last < fromOff) || (toOff >= 0 && base >= toOff) {
					return nil
				}
				lo, hi := max(base, fromOff), last+1
				if toOff >= 0 {
					hi = min(hi, toOff)
				}
				prog.add(hi-lo, int64(len(batch)))
				rp := &kmsg.FetchResponseTopicPartition{Partition: pe.p, HighWatermark: e.LastOffset + 1, RecordBatches: batch}
				fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: tm.Topic, Partition: pe.p, Offset: max(fromOff, 0)}, rp, decomp, nil)
				if fp.Err != nil {
					return fmt.Errorf("%s: batch at offset %d: %w", e.Log.Key, base, fp.Err)
				}
				for _, rec := range fp.Records {
					if (toOff >= 0 && rec.Offset >= toOff) || (tsFrom >= 0 && rec.Timestamp.UnixMilli() < tsFrom) ||
						(tsTo >= 0 && rec.Timestamp.UnixMilli() > tsTo) {
						continue
					}
					if err := fn(rec); err != nil {
						return err
					}
					n++
					if *r.count > 0 && n >= *r.count {
						return errReplayDone
					}
				}
				return nil
			})
			if errors.Is(err, errReplayDone) {
				return nil
			}
			if err == nil && want != e.LastOffset+1 {
				err = fmt.Errorf("%s: %w: the batches end at offset %d, the manifest at %d (run strata tier verify)", e.Log.Key, segment.ErrOffsetGap, want-1, e.LastOffset)
			}
			if err != nil {
				if errors.Is(err, tiering.ErrNotExist) {
					return fmt.Errorf("object %q named by the manifest is missing (run strata tier verify)", e.Log.Key)
				}
				return bucketError(tc, err)
			}
		}
	}
	return nil
}

func runTierCat(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier cat", "tier cat TOPIC --fs-dir DIR | --bucket B [--endpoint URL] [flags]")
	var sf storeFlags
	sf.registerOn(fs)
	var rf replayFlags
	rf.register(fs)
	format := fs.String("format", `%v\n`, "output format, as for strata consume")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("tier cat: want exactly one TOPIC")
	}
	recFormat, err := parseRecordFormat(*format)
	if err != nil {
		return usageErrorf("%v", err)
	}
	st, tc, err := sf.open(ctx)
	if err != nil {
		return err
	}
	tm, err := findTopic(ctx, st, tc, pos[0])
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(s.out, 64<<10)
	err = replay(ctx, s, st, tc, tm, &rf, "replaying", func(r *kgo.Record) error {
		recFormat.write(w, r)
		return nil
	})
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("cannot write output: %w", ferr)
	}
	return err
}

// runTierRestore replays a topic's history from the bucket into a topic on a running
// cluster (the same or another), keeping partitions, keys, values, headers and timestamps.
func runTierRestore(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier restore", "tier restore TOPIC --fs-dir DIR | --bucket B ... --brokers HOST:PORT --to-topic NAME [flags]")
	var sf storeFlags
	sf.registerOn(fs)
	var rf replayFlags
	rf.register(fs)
	var cf clientFlags
	cf.register(fs)
	toTopic := fs.String("to-topic", "", "topic to produce into (required; it must exist with at least as many partitions)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *toTopic == "" {
		return usageErrorf("tier restore: want TOPIC and --to-topic")
	}
	st, tc, err := sf.open(ctx)
	if err != nil {
		return err
	}
	tm, err := findTopic(ctx, st, tc, pos[0])
	if err != nil {
		return err
	}
	cl, err := cf.newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	actx, cancel := context.WithTimeout(ctx, cf.timeout)
	td, err := kadm.NewClient(cl).ListTopics(actx, *toTopic)
	cancel()
	if err != nil {
		return brokerError(&cf, fmt.Errorf("cannot describe topic %q: %w", *toTopic, err))
	}
	d, ok := td[*toTopic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %q does not exist: create it with at least %d partitions (strata topic create)", *toTopic, tm.Partitions)
	}
	if d.Err != nil {
		return fmt.Errorf("topic %q: %w", *toTopic, d.Err)
	}
	if int32(len(d.Partitions)) < tm.Partitions && *rf.partition < 0 {
		return fmt.Errorf("topic %q has %d partitions, %q had %d", *toTopic, len(d.Partitions), tm.Topic, tm.Partitions)
	}
	var (
		mu       sync.Mutex
		firstErr error
		n        int64
	)
	err = replay(ctx, s, st, tc, tm, &rf, "restoring", func(r *kgo.Record) error {
		mu.Lock()
		ferr := firstErr
		mu.Unlock()
		if ferr != nil {
			return ferr
		}
		// r's key, value and headers may alias the batch buffer that replay reuses for the
		// next batch (uncompressed batches), and Produce is asynchronous: copy them.
		hs := make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = kgo.RecordHeader{Key: h.Key, Value: bytes.Clone(h.Value)}
		}
		out := &kgo.Record{Topic: *toTopic, Partition: r.Partition, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), Headers: hs, Timestamp: r.Timestamp}
		cl.Produce(ctx, out, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				n++
			case firstErr == nil:
				firstErr = fmt.Errorf("cannot produce to %s[%d]: %w", *toTopic, r.Partition, err)
			}
		})
		return nil
	})
	if ferr := cl.Flush(ctx); err == nil {
		err = ferr
	}
	mu.Lock()
	defer mu.Unlock()
	if err == nil {
		err = firstErr
	}
	if err != nil {
		return brokerError(&cf, err)
	}
	fmt.Fprintf(s.out, "restored %d %s of %s into %s\n", n, plural(int(n), "record", "records"), tm.Topic, *toTopic)
	return nil
}

// verifyReport counts what verify found.
type verifyReport struct {
	segments, objects                    int
	bytes                                int64
	missing, corrupt, orphan, unreadable int
	deleted                              int
	broken                               int // verify --deep: chain problems
}

func runTierVerify(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier verify", "tier verify [TOPIC] --fs-dir DIR | --bucket B [--endpoint URL] [--delete-orphans [--dry-run]]")
	var sf storeFlags
	sf.registerOn(fs)
	grace := fs.Duration("grace", time.Hour, "objects no manifest names count as orphans only when older than this (uploads in progress are younger)")
	deleteOrphans := fs.Bool("delete-orphans", false, "delete orphaned objects")
	dryRun := fs.Bool("dry-run", false, "with --delete-orphans: print what would be deleted, delete nothing")
	deep := fs.Bool("deep", false, "also check every manifest's hash chain, and segment objects past a manifest's end (a rolled-back manifest)")
	headsFile := fs.String("heads", "", "with --deep: a file of published chain heads (strata tier heads output) the chains must still reach")
	fs.DurationVar(&sf.retryFor, "retry-for", time.Minute, "S3: retry a read the bucket refuses (503 SlowDown, 5xx, timeouts) this long, then report the segment UNREADABLE and go on")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("tier verify: at most one TOPIC")
	}
	if *dryRun && !*deleteOrphans {
		return usageErrorf("tier verify: --dry-run goes with --delete-orphans")
	}
	var dv *deepVerify
	if *headsFile != "" && !*deep {
		return usageErrorf("tier verify: --heads goes with --deep")
	}
	if *deep {
		dv = &deepVerify{}
		if *headsFile != "" {
			if dv.heads, err = readHeadsFile(*headsFile); err != nil {
				return usageErrorf("--heads: %v", err)
			}
		}
	}
	st, tc, err := sf.open(ctx)
	if err != nil {
		return err
	}
	var topics []tiering.TopicManifest
	if len(pos) == 1 {
		tm, err := findTopic(ctx, st, tc, pos[0])
		if err != nil {
			return err
		}
		topics = []tiering.TopicManifest{tm}
	} else if topics, err = tiering.Restore(ctx, st, tc.Prefix); err != nil {
		return bucketError(tc, err)
	}
	var rep verifyReport
	now := time.Now()
	// A topic that is not tiered has only its topic.json in the bucket: nothing to verify.
	topics = slices.DeleteFunc(topics, func(tm tiering.TopicManifest) bool { return tm.LocalOnly })
	for _, tm := range topics {
		for p := int32(0); p < tm.Partitions; p++ {
			if err := verifyPartition(ctx, s.out, st, tc, tm, p, now, *grace, *deleteOrphans, *dryRun, &rep); err != nil {
				return err
			}
			if dv != nil {
				if err := verifyChainDeep(ctx, s.out, st, tc, tm, p, now, *grace, dv, &rep); err != nil {
					return err
				}
			}
		}
	}
	fmt.Fprintf(s.out, "verified %d %s, %d %s, %d %s, %s: %d missing, %d corrupt, %d orphaned",
		len(topics), plural(len(topics), "topic", "topics"), rep.segments, plural(int(rep.segments), "segment", "segments"),
		rep.objects, plural(int(rep.objects), "object", "objects"), humanBytes(rep.bytes), rep.missing, rep.corrupt, rep.orphan)
	if *deleteOrphans && !*dryRun {
		fmt.Fprintf(s.out, " (%d deleted)", rep.deleted)
	}
	fmt.Fprintf(s.out, ", %d unreadable", rep.unreadable)
	if dv != nil {
		fmt.Fprintf(s.out, ", %d broken %s", rep.broken, plural(rep.broken, "chain", "chains"))
	}
	fmt.Fprintln(s.out)
	if rep.unreadable > 0 {
		return fmt.Errorf("verify found %d missing, %d corrupt and %d unreadable objects", rep.missing, rep.corrupt, rep.unreadable)
	}
	if rep.missing+rep.corrupt > 0 {
		return fmt.Errorf("verify found %d missing and %d corrupt objects", rep.missing, rep.corrupt)
	}
	if rep.broken > 0 {
		return fmt.Errorf("%w (%d)", errDeepFailed, rep.broken)
	}
	return nil
}

func verifyPartition(ctx context.Context, out io.Writer, st tiering.ObjectStore, tc tierConfig, tm tiering.TopicManifest, p int32,
	now time.Time, grace time.Duration, del, dryRun bool, rep *verifyReport) error {
	name := fmt.Sprintf("%s-%d", tm.Topic, p)
	prefix := tiering.PartitionPrefix(tc.Prefix, tm.Topic, tm.TopicID, p)
	head, entries, err := tiering.ReadPartitionManifest(ctx, st, tc.Prefix, tm.Topic, tm.TopicID, p)
	if err != nil {
		if errors.Is(err, tiering.ErrCorruptManifest) || errors.Is(err, tiering.ErrNotExist) {
			rep.corrupt++
			fmt.Fprintf(out, "CORRUPT  %s: manifest: %v\n", name, err)
			return nil
		}
		return bucketError(tc, fmt.Errorf("cannot read the manifest of %s: %w", name, err))
	}
	named := map[string]bool{prefix + "manifest.json": true, prefix + tiering.WatermarkName: true}
	// Spilled manifest chunks, newest first.
	for ref := head.LastChunk; ref != nil; {
		named[ref.Key] = true
		rc, err := st.GetRange(ctx, ref.Key, 0, -1)
		if err != nil {
			break // loading the manifest above already read every chunk
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			break
		}
		ch, err := tiering.DecodeManifestChunk(b)
		if err != nil {
			break
		}
		ref = ch.Prev
	}
	for _, e := range entries {
		rep.segments++
		for _, o := range e.Objects() {
			named[o.Key] = true
			rep.objects++
			rep.bytes += o.Size
		}
		err := tiering.VerifyEntry(ctx, st, e)
		if err == nil {
			err = eachBatch(ctx, st, e.Log.Key, func(pos int64, batch []byte) error {
				if err := checkBatchCRC(batch); err != nil {
					return fmt.Errorf("%s at position %d: %w", e.Log.Key, pos, err)
				}
				return nil
			})
		}
		switch {
		case err == nil:
		case errors.Is(err, tiering.ErrNotExist):
			rep.missing++
			fmt.Fprintf(out, "MISSING  %s: segment %d-%d: %v\n", name, e.BaseOffset, e.LastOffset, err)
		case errors.Is(err, segment.ErrCorrupt):
			rep.corrupt++
			fmt.Fprintf(out, "CORRUPT  %s: segment %d-%d: %v\n", name, e.BaseOffset, e.LastOffset, err)
		case ctx.Err() == nil:
			// The store refused the object (after its bounded retries, --retry-for): say
			// so and go on with the others, so that one bad object does not hide the rest.
			rep.unreadable++
			fmt.Fprintf(out, "UNREADABLE %s: segment %d-%d: %v\n", name, e.BaseOffset, e.LastOffset, err)
		default:
			return bucketError(tc, err)
		}
	}
	var orphans []tiering.ObjectInfo
	err = st.List(ctx, prefix, func(oi tiering.ObjectInfo) error {
		if !named[oi.Key] && now.Sub(oi.LastModified) >= grace {
			orphans = append(orphans, oi)
		}
		return nil
	})
	if err != nil {
		return bucketError(tc, err)
	}
	for _, oi := range orphans {
		rep.orphan++
		action := ""
		switch {
		case del && dryRun:
			action = " (would delete)"
		case del:
			if err := st.Delete(ctx, oi.Key); err != nil {
				return bucketError(tc, fmt.Errorf("cannot delete orphan %q: %w", oi.Key, err))
			}
			rep.deleted++
			action = " (deleted)"
		}
		fmt.Fprintf(out, "ORPHAN   %s: %s, %s, modified %s%s\n", name, oi.Key, humanBytes(oi.Size), oi.LastModified.UTC().Format(time.RFC3339), action)
	}
	fmt.Fprintf(out, "checked  %s: %d %s, offsets %d-%d\n", name, len(entries), plural(len(entries), "segment", "segments"), head.LogStartOffset, head.EndOffset)
	return nil
}

func runTierStatus(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier status", "tier status [TOPIC] [--admin HOST:PORT]")
	def := os.Getenv("STRATA_ADMIN")
	if def == "" {
		def = admin.DefaultAddr
	}
	addr := fs.String("admin", def, "admin listener of the broker (strata.admin.listener; env STRATA_ADMIN)")
	timeout := fs.Duration("timeout", 10*time.Second, "request timeout")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("tier status: at most one TOPIC")
	}
	base := *addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(base, "/")+"/api/snapshot", nil)
	if err != nil {
		return usageErrorf("--admin %q: %v", *addr, err)
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the admin listener at %s (is the broker running? see strata.admin.listener): %v", *addr, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	var snap broker.ClusterSnapshot
	if resp.StatusCode != 200 {
		return fmt.Errorf("admin listener at %s answered %s", *addr, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		return fmt.Errorf("admin listener at %s: cannot decode the snapshot: %w", *addr, err)
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLOG-START\tLOCAL-START\tREMOTE-END\tHW\tLOCAL-BYTES\tREMOTE-BYTES\tUPLOAD-LAG\t")
	found := false
	sort.Slice(snap.Topics, func(i, j int) bool { return snap.Topics[i].Name < snap.Topics[j].Name })
	for _, t := range snap.Topics {
		if len(pos) == 1 && t.Name != pos[0] {
			continue
		}
		found = true
		for _, p := range t.Partitions {
			re := "-"
			if p.RemoteEndOffset >= 0 {
				re = strconv.FormatInt(p.RemoteEndOffset, 10)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t\n", t.Name, p.Partition, p.LogStartOffset, p.LocalStartOffset,
				re, p.HighWatermark, p.LocalBytes, p.RemoteBytes, p.UploadLagBytes)
		}
	}
	if len(pos) == 1 && !found {
		return fmt.Errorf("topic %q does not exist", pos[0])
	}
	return tw.Flush()
}
