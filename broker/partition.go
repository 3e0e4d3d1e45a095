package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Remote reads. A fetch waits at most remoteFetchMaxWait (Kafka's remote.fetch.max.wait.ms
// default) for a remote read; if the bucket is slower the partition is answered empty,
// the read carries on in the background (bounded by remoteReadTimeout) and the client's
// next fetch at the same offset picks up its result.
const (
	remoteFetchMaxWait = 500 * time.Millisecond
	remoteReadTimeout  = 30 * time.Second
	// A failed remote read answers fetches at the same offset with its error for a while
	// instead of starting a new read, so consumers retrying against a bucket that is down
	// cost a few GETs per partition per second, not one per fetch (one replaying consumer
	// made ~250 failing GETs a second; test/reliability). The hold starts at
	// remoteErrorHoldMin and doubles with each consecutive failure of the partition up to
	// remoteErrorHoldMax, so one transient error costs a consumer little.
	remoteErrorHoldMin = 50 * time.Millisecond
	remoteErrorHoldMax = time.Second
)

// errRemoteRead marks a failed read from the remote tier. Kafka itself answers
// UNKNOWN_SERVER_ERROR when a RemoteStorageManager fetch fails, which franz-go surfaces to
// the application as a fatal-looking fetch error. Strata answers KAFKA_STORAGE_ERROR
// instead: it is retriable in every client (Java: KafkaStorageException is a
// RetriableException; franz-go: kerr.IsRetriable strips the partition and refetches;
// librdkafka refreshes metadata and retries), and the connection stays open.
var errRemoteRead = kerr.KafkaStorageError

// producerState is the idempotent-producer check run under the partition's write lock:
// Check before the append (a duplicate answers the original offsets and writes nothing),
// Update after it. *producer.State implements it.
type producerState interface {
	Check(pid int64, epoch int16, baseSeq, lastSeq int32) (*producer.BatchMeta, error)
	Update(b producer.BatchMeta, now time.Time)
	// TruncateBefore is called (under the write lock) after the log start offset rose
	// (DeleteRecords, retention), so that state for deleted batches is dropped.
	TruncateBefore(logStartOffset int64)
}

var _ producerState = (*producer.State)(nil)

// Partition is one partition of a topic: a local segment.Log, optionally composed with a
// remote tier that serves offsets below the local log start.
//
// Locking: mu serialises every writer operation on the log (append, roll, retention,
// log start changes) and guards the fields marked below. Readers (Fetch, ListOffsets)
// never take mu: segment.Log supports reads concurrent with its writer, and the tier is
// safe for concurrent use. Lock order: Partition.mu, then remoteMu.
type Partition struct {
	topicName string
	index     int32
	dir       string
	logger    *slog.Logger

	log    *segment.Log
	cfg    atomic.Pointer[TopicConfig]
	tier   atomic.Pointer[tierRef]
	notify appendNotifier
	closed atomic.Bool

	// openListing is what segment.Open found beside the log (RecoveryReport.OtherFiles),
	// kept from openPartition until openProducerState has looked for snapshots in it.
	openListing []string

	mu            sync.Mutex
	activeSize    int64         // guarded by mu: bytes in the active segment
	activeCreated time.Time     // guarded by mu: first append into the active segment (zero if empty)
	producers     producerState // guarded by mu; nil = no idempotence checks
	// rollSnaps are the offsets of the roll snapshots saved since the last prune of
	// producer snapshots (guarded by mu; prodsnap_prune.go).
	rollSnaps []int64

	remoteMu       sync.Mutex
	remotePending  *remoteRead              // guarded by remoteMu: the latest background remote read
	remoteInflight map[*remoteRead]struct{} // guarded by remoteMu: every read's goroutine still running (close cancels them)
	remoteWG       sync.WaitGroup
	remoteFails    atomic.Int32 // consecutive failed remote reads (the error hold doubles with them)
	early          *earlyReads  // the broker's budget for early reads (remoterecords.go)
	earlyPin       int64        // bytes an early read may pin beyond its size: two chunks (remote.log.chunk.bytes)

	// freeReserve releases the broker's disk reserve (fulldisk.go); nil in tests that
	// build partitions by hand.
	freeReserve func(why string) bool
	warns       warnLimiter // full-disk warnings, at most one a minute each (fulldisk.go)
}

type tierRef struct{ t tiering.PartitionTier }

// remoteRead is one background read from the tier.
type remoteRead struct {
	offset   int64
	done     chan struct{}
	cancel   context.CancelFunc
	left     chan struct{}   // closed once r is no longer the pending read (leftLocked)
	early    bool            // started by readNextRemoteLocked, not asked for by a fetch
	charge   int64           // guarded by remoteMu: bytes charged to the early-read budget, not yet released
	data     tiering.Records // valid after done (aliases the tier's chunk cache: read-only)
	err      error           // valid after done
	finished time.Time       // valid after done
	hold     time.Duration   // valid after done: how long a failure is answered without a new read
}

// heldError reports whether r is a finished, failed read younger than its hold.
func (r *remoteRead) heldError(now time.Time) bool {
	select {
	case <-r.done:
		return r.err != nil && !errors.Is(r.err, segment.ErrOffsetOutOfRange) && now.Sub(r.finished) < r.hold
	default:
		return false
	}
}

// openPartition opens (recovering if needed) the local log of partition index of topic
// in dir.
func openPartition(b *Broker, topic *Topic, index int32, dir string) (*Partition, error) {
	cfg := topic.Config()
	logger := b.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("topic", topic.Name, "partition", index)
	p := &Partition{topicName: topic.Name, index: index, dir: dir, logger: logger,
		early: &b.earlyReads, earlyPin: 2 * b.cfg.RemoteChunkBytes, freeReserve: b.releaseReserve}
	p.cfg.Store(&cfg)

	scfg := segmentConfig(cfg, logger)
	scfg.OnFsync = b.observeFsync // opsmetrics.go
	scfg.FS = b.segmentFS         // nil: the OS; tests use segmenttest.MemFS (powerloss_test.go)
	scfg.Files = b.segFiles       // one cap on sealed segment files for all partitions (segfiles.go)
	log, rep, err := segment.Open(dir, scfg)
	if err != nil {
		return nil, fmt.Errorf("cannot open partition %s-%d in %q: %w", topic.Name, index, dir, err)
	}
	if rep.TruncatedBytes > 0 || !rep.CleanShutdown {
		logger.Info("partition recovered", "clean", rep.CleanShutdown, "segments", rep.Segments,
			"truncated_bytes", rep.TruncatedBytes, "truncated_at", rep.TruncatedAt, "rebuilt_indexes", rep.RebuiltIndexes)
	}
	p.log = log
	p.openListing = rep.OtherFiles // for openProducerState: no second listing of the directory
	active := log.ActiveSegment()
	p.activeSize = active.Size
	if active.Size > 0 {
		p.activeCreated = active.Created
	}
	return p, nil
}

// segmentConfig maps topic configs to the local log's. Rolls by size and time are done by
// the Partition itself (so that configuration changes apply at once and every roll can
// hint the uploader), so the log is opened with rolling effectively disabled.
func segmentConfig(cfg TopicConfig, logger *slog.Logger) segment.Config {
	c := segment.Config{
		SegmentBytes:       math.MaxInt32,
		IndexIntervalBytes: int(cfg.IndexIntervalBytes),
		Logger:             logger,
	}
	if cfg.FlushMessages > 0 && cfg.FlushMessages < math.MaxInt64 {
		c.FlushMessages = cfg.FlushMessages
	}
	if cfg.FlushMs > 0 && cfg.FlushMs < math.MaxInt64/int64(time.Millisecond) {
		c.FlushInterval = time.Duration(cfg.FlushMs) * time.Millisecond
	}
	return c
}

func (p *Partition) config() TopicConfig { return *p.cfg.Load() }

// applyConfig installs the topic's new effective config. segment.bytes, segment.ms,
// retention and message.timestamp.type apply from the next append or maintenance run;
// flush.messages/flush.ms and index.interval.bytes apply when the partition is reopened.
func (p *Partition) applyConfig(cfg TopicConfig) { p.cfg.Store(&cfg) }

// setTier attaches the remote tier (nil detaches it). If the local log is empty and the
// tier already holds data (a broker restored from the bucket), the local log restarts at
// the remote end so that new records continue the offsets.
func (p *Partition) setTier(t tiering.PartitionTier) {
	if t == nil {
		p.tier.Store(nil)
		return
	}
	p.tier.Store(&tierRef{t})
	if _, end, ok := t.Bounds(); ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.log.NextOffset() < end && p.log.Size() == 0 {
			if err := p.log.SetLogStartOffset(end); err != nil {
				p.logger.Warn("cannot restart local log at remote end", "offset", end, "err", err)
			}
		}
	}
}

func (p *Partition) getTier() tiering.PartitionTier {
	if r := p.tier.Load(); r != nil {
		return r.t
	}
	return nil
}

// setProducerState installs the idempotent-producer state (nil = none).
func (p *Partition) setProducerState(s producerState) {
	p.mu.Lock()
	p.producers = s
	p.mu.Unlock()
}

// HighWatermark is the offset after the last record visible to consumers. A single node
// is its own ISR, so a record is committed once it is in the leader's log: the high
// watermark equals the log end offset (acks=-1 additionally waits for fsync before
// answering the producer, but does not hold back visibility).
func (p *Partition) HighWatermark() int64 { return p.log.NextOffset() }

// LastStableOffset equals the high watermark: there are no open transactions.
func (p *Partition) LastStableOffset() int64 { return p.log.NextOffset() }

// LocalLogStartOffset is the first offset held on local disk.
func (p *Partition) LocalLogStartOffset() int64 { return p.log.LogStartOffset() }

// LogStartOffset is the first offset a consumer may read: the remote start when the tier
// holds older data than the local log, else the local start.
func (p *Partition) LogStartOffset() int64 {
	local := p.log.LogStartOffset()
	if t := p.getTier(); t != nil {
		if start, _, ok := t.Bounds(); ok && start < local {
			return start
		}
	}
	return local
}

// SizeBytes is the size of the local log.
func (p *Partition) SizeBytes() int64 { return p.log.Size() }

// appendResult is the outcome of one batch append.
type appendResult struct {
	info      segment.BatchInfo
	duplicate bool // an idempotent retry: nothing was written, info holds the original offsets
}

// append writes one validated v2 batch (see validateBatch). It runs the idempotence check,
// rolls the active segment by segment.bytes / segment.ms, appends, and wakes waiting
// fetches. Errors wrap a *kerr.Error where the Kafka code is known.
func (p *Partition) append(batch []byte, h segment.BatchHeader, now time.Time) (appendResult, error) {
	return p.appendBatch(batch, h, now, true)
}

// appendBatch is append; with wake false it leaves waking the fetches to the caller
// (wakeFetches), which an acks=-1 produce does once the batch is fsynced (00_produce.go).
func (p *Partition) appendBatch(batch []byte, h segment.BatchHeader, now time.Time, wake bool) (appendResult, error) {
	if p.closed.Load() {
		return appendResult{}, errBrokerClosed
	}
	cfg := p.config()
	if now.IsZero() {
		now = time.Now()
	}

	p.mu.Lock()
	defer p.mu.Unlock()

	if p.producers != nil && h.ProducerID >= 0 {
		dup, err := p.producers.Check(h.ProducerID, h.ProducerEpoch, h.BaseSequence, producer.LastSeq(h.BaseSequence, h.NumRecords))
		if err != nil {
			return appendResult{}, err
		}
		if dup != nil {
			return appendResult{duplicate: true, info: segment.BatchInfo{
				BaseOffset: dup.FirstOffset, LastOffset: dup.LastOffset, MaxTimestamp: dup.MaxTimestamp,
				ProducerID: dup.ProducerID, ProducerEpoch: dup.ProducerEpoch, BaseSequence: dup.FirstSeq,
			}}, nil
		}
	}

	if p.activeSize > 0 {
		bySize := cfg.SegmentBytes > 0 && p.activeSize+int64(len(batch)) > cfg.SegmentBytes
		byTime := cfg.SegmentMs > 0 && now.Sub(p.activeCreated) >= time.Duration(cfg.SegmentMs)*time.Millisecond
		if bySize || byTime {
			if err := p.rollLocked(); err != nil {
				return appendResult{}, err
			}
		}
	}

	info, err := p.log.Append(batch, segment.AppendOptions{Now: now, LogAppendTime: cfg.MessageTimestampType == "LogAppendTime"})
	if err != nil {
		return appendResult{}, classifyAppendError(err)
	}
	if p.activeSize == 0 {
		p.activeCreated = now
	}
	p.activeSize += int64(info.Size)
	if p.producers != nil && h.ProducerID >= 0 {
		p.producers.Update(producer.BatchMeta{
			ProducerID: info.ProducerID, ProducerEpoch: info.ProducerEpoch,
			FirstSeq: info.BaseSequence, LastSeq: producer.LastSeq(info.BaseSequence, info.NumRecords),
			FirstOffset: info.BaseOffset, LastOffset: info.LastOffset, MaxTimestamp: info.MaxTimestamp,
		}, now)
	}
	if t, ok := p.getTier().(interface{ NoteLogEnd(int64) }); ok {
		t.NoteLogEnd(info.LastOffset + 1) // the bucket's watermark (tiering/watermark.go)
	}
	if wake {
		p.notify.broadcast()
	}
	return appendResult{info: info}, nil
}

// wakeFetches wakes the fetches waiting for records of p (see appendBatch).
func (p *Partition) wakeFetches() { p.notify.broadcast() }

// classifyAppendError gives segment's append errors their Kafka codes: structure errors
// are INVALID_RECORD, CRC mismatches CORRUPT_MESSAGE, an old magic
// UNSUPPORTED_FOR_MESSAGE_FORMAT, and everything else (failed writes, a fenced log) is
// KAFKA_STORAGE_ERROR.
func classifyAppendError(err error) error {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return err
	case errors.Is(err, segment.ErrCorruptBatchCRC):
		return fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
	case errors.Is(err, segment.ErrUnsupportedMagic):
		return fmt.Errorf("%w: %w", kerr.UnsupportedForMessageFormat, err)
	case errors.Is(err, segment.ErrInvalidBatch):
		return fmt.Errorf("%w: %w", kerr.InvalidRecord, err)
	default:
		return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
	}
}

// waitDurable returns once every record below offset is fsynced.
func (p *Partition) waitDurable(ctx context.Context, offset int64) error {
	if err := p.log.WaitDurable(ctx, offset); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
		}
		return classifyAppendError(err)
	}
	return nil
}

// rollLocked seals the active segment and hints the uploader.
func (p *Partition) rollLocked() error {
	p.snapshotProducersAtRollLocked() // see prodsnap_tier.go
	if err := p.log.Roll(); err != nil {
		return fmt.Errorf("%w: roll: %w", kerr.KafkaStorageError, err)
	}
	p.logger.Info("segment rolled", "size", p.activeSize, "next_offset", p.log.NextOffset())
	p.activeSize = 0
	p.activeCreated = time.Time{}
	if t := p.getTier(); t != nil {
		t.OnSealed()
	}
	return nil
}

// readLocal reads whole batches from the local log starting with the batch containing
// offset. It returns ok=false when offset is below the local log start (ask the tier).
func (p *Partition) readLocal(offset int64, maxBytes int, minOneBatch bool) (data []byte, ok bool, err error) {
	return p.readLocalBuf(offset, maxBytes, minOneBatch, nil)
}

// readLocalBuf is readLocal reading into a buffer from rb (recordbufs.go); nil rb
// allocates. Only rr.Size bytes are read: what the log reported below its end at the
// time of the read, never the file's current size.
func (p *Partition) readLocalBuf(offset int64, maxBytes int, minOneBatch bool, rb *recordBufs) (data []byte, ok bool, err error) {
	for attempt := 0; ; attempt++ {
		if offset < p.log.LogStartOffset() {
			return nil, false, nil
		}
		rr, err := p.log.Read(offset, maxBytes, minOneBatch)
		if err != nil {
			if errors.Is(err, segment.ErrOffsetOutOfRange) && offset < p.log.LogStartOffset() {
				return nil, false, nil // retention moved the start since we looked
			}
			return nil, true, err
		}
		if rr.Size == 0 {
			return nil, true, nil
		}
		buf := rb.get(int(rr.Size))
		n, err := rr.File.ReadAt(buf, rr.Position)
		if err == nil || n == len(buf) {
			return buf, true, nil
		}
		if attempt == 0 && offset < p.log.LogStartOffset() {
			continue // the segment was deleted under us: look again
		}
		return nil, true, fmt.Errorf("%w: read %s-%d at %d: %w", kerr.KafkaStorageError, p.topicName, p.index, offset, err)
	}
}

// readRemote starts (or joins) a background read from the tier at offset and waits for it
// at most wait, or until ctx is done (ctx bounds only the waiting, not the read). done=false
// means the read is still running; the caller answers the partition empty and the
// client's next fetch joins the same read.
func (p *Partition) readRemote(ctx context.Context, t tiering.PartitionTier, offset int64, maxBytes int, minOneBatch bool, wait time.Duration) (data tiering.Records, done bool, err error) {
	p.remoteMu.Lock()
	r := p.remotePending
	if r != nil && r.offset == offset && !r.heldError(time.Now()) {
		select {
		case <-r.done:
			if r.err != nil {
				r = nil // a failed read whose hold is over: try the bucket again
			}
		default:
		}
	}
	if r == nil || r.offset != offset || p.closed.Load() {
		// A read for another offset is left to finish (bounded by remoteReadTimeout): a
		// second consumer of this partition may still be waiting for it.
		if p.closed.Load() {
			p.remoteMu.Unlock()
			return tiering.Records{}, true, errBrokerClosed
		}
		r = p.startRemoteReadLocked(t, offset, maxBytes, minOneBatch, 0) // remoterecords.go
	}
	p.remoteMu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	select {
	case <-r.done: // a finished read wins over a simultaneous timeout
	default:
		return tiering.Records{}, false, nil
	}

	p.remoteMu.Lock()
	if p.remotePending == r && !r.heldError(time.Now()) {
		// Consumed; the client moves on to the next offset, which is read meanwhile.
		p.remotePending = nil
		p.leftLocked(r)                                     // remoterecords.go
		p.readNextRemoteLocked(t, r, maxBytes, minOneBatch) // remoterecords.go
	}
	p.remoteMu.Unlock()
	if r.err != nil {
		if errors.Is(r.err, segment.ErrOffsetOutOfRange) {
			return tiering.Records{}, true, r.err
		}
		return tiering.Records{}, true, fmt.Errorf("%w: remote read %s-%d at %d: %w", errRemoteRead, p.topicName, p.index, offset, r.err)
	}
	return r.data.Trim(maxBytes, minOneBatch), true, nil
}

// deleteRecords raises the log start offset to offset (DeleteRecords). The remote part is
// moved first (its manifest is the truth for remote data), then the local log.
func (p *Partition) deleteRecords(ctx context.Context, offset int64) (int64, error) {
	if p.closed.Load() {
		return -1, errBrokerClosed
	}
	if offset <= p.LogStartOffset() {
		return p.LogStartOffset(), nil
	}
	if t := p.getTier(); t != nil {
		if start, _, ok := t.Bounds(); ok && start < offset {
			if err := t.SetLogStartOffset(ctx, offset); err != nil {
				return -1, fmt.Errorf("%w: delete remote records of %s-%d below %d: %w", errRemoteRead, p.topicName, p.index, offset, err)
			}
		}
	}
	p.mu.Lock()
	if offset > p.log.LogStartOffset() {
		err := p.log.SetLogStartOffset(offset)
		if err != nil && noSpace(err) {
			// A full disk fenced the log or failed the checkpoint write: release the
			// reserve, lift the fence and try once more (fulldisk.go).
			if p.freeReserve != nil {
				p.freeReserve("DeleteRecords")
			}
			if _, uerr := p.log.Unfence(); uerr == nil {
				err = p.log.SetLogStartOffset(offset)
			}
		}
		if err != nil {
			p.mu.Unlock()
			return -1, classifyAppendError(err)
		}
		p.resyncActiveLocked()
	}
	p.mu.Unlock()
	return p.LogStartOffset(), nil
}

// resyncActiveLocked runs after an operation that raised the log start (DeleteRecords,
// retention): it tells the producer state, and reloads the active segment's size, which
// the operation may have replaced (SetLogStartOffset past the end restarts the log).
func (p *Partition) resyncActiveLocked() {
	if p.producers != nil {
		p.producers.TruncateBefore(p.LogStartOffset())
	}
	active := p.log.ActiveSegment()
	if active.Size != p.activeSize {
		p.activeSize = active.Size
		p.activeCreated = time.Time{}
		if active.Size > 0 {
			p.activeCreated = active.Created
		}
	}
}

// Optional capabilities of a tier, found by type assertion (*tiering.RemotePartition has
// both).
type (
	// tierRetention applies retention.ms/bytes to the remote part. localBytes is the size
	// of the local data not yet remote; it returns the new remote log start offset.
	tierRetention interface {
		ApplyRetention(ctx context.Context, retentionMs, retentionBytes, localBytes int64, now time.Time) (int64, error)
	}
	// tierRollDue reports that remote.log.upload.interval.ms asks for a roll.
	tierRollDue interface {
		RollDue(now time.Time) bool
	}
)

// maintenanceTimeout bounds the bucket work of one maintenance run.
const maintenanceTimeout = time.Minute

// runMaintenance rolls the active segment by segment.ms (or the tier's upload interval)
// and applies retention:
//   - without a tier, or with remote.storage.enable off: retention.ms/bytes on the local log;
//   - with a tier: total retention (retention.ms/bytes over remote + local) is applied to
//     the remote part by the tier (manifest first) and the local log start follows it; then
//     local segments go by local.retention.ms/bytes (-2 = the totals), and only those the
//     tier confirms uploaded, so nothing is deleted locally that is not safely remote.
//
// cleanup.policy without "delete" keeps everything. The partition lock is not held during
// bucket calls.
func (p *Partition) runMaintenance(now time.Time) { p.maintain(now, false) }

// maintain is runMaintenance; tierPending says the partition belongs to a tiered topic whose
// tier is not attached yet (bucket unreachable, or not loaded yet after start-up): it still
// rolls, but deletes nothing locally until the tier can confirm which segments are uploaded
// (local retention would otherwise run ungated, as for an untiered topic).
func (p *Partition) maintain(now time.Time, tierPending bool) {
	if p.closed.Load() {
		return
	}
	cfg := p.config()
	t := p.getTier()
	tiered := t != nil && cfg.RemoteStorageEnable

	p.mu.Lock()
	roll := cfg.SegmentMs > 0 && p.activeSize > 0 && now.Sub(p.activeCreated) >= time.Duration(cfg.SegmentMs)*time.Millisecond
	if rd, ok := t.(tierRollDue); ok && tiered && p.activeSize > 0 && rd.RollDue(now) {
		roll = true
	}
	if roll {
		if err := p.rollLocked(); err != nil {
			p.logger.Warn("cannot roll segment", "err", err)
		}
	}
	var notRemoteBytes int64
	if tiered {
		notRemoteBytes, _ = localBacklog(p.log, t) // backlog.go: not a scan of the history
	}
	p.mu.Unlock()

	if cfg.CleanupPolicy != "" && !strings.Contains(cfg.CleanupPolicy, "delete") {
		return
	}
	if tierPending && !tiered {
		return
	}

	if !tiered {
		p.applyLocalRetention(segment.RetentionPolicy{Ms: cfg.RetentionMs, Bytes: cfg.RetentionBytes}, now, nil)
		return
	}

	if tr, ok := t.(tierRetention); ok && (cfg.RetentionMs >= 0 || cfg.RetentionBytes >= 0) {
		ctx, cancel := context.WithTimeout(context.Background(), maintenanceTimeout)
		start, err := tr.ApplyRetention(ctx, cfg.RetentionMs, cfg.RetentionBytes, notRemoteBytes, now)
		cancel()
		if err != nil {
			p.logger.Warn("cannot apply remote retention", "err", err)
		} else {
			p.mu.Lock()
			if !p.closed.Load() && start > p.log.LogStartOffset() && start <= p.log.NextOffset() {
				if err := p.log.SetLogStartOffset(start); err != nil {
					p.logger.Warn("cannot raise local log start to the remote start", "offset", start, "err", err)
				}
				p.resyncActiveLocked()
			}
			p.mu.Unlock()
		}
	}
	p.applyLocalRetention(segment.RetentionPolicy{
		Ms:    localRetention(cfg.LocalRetentionMs, cfg.RetentionMs),
		Bytes: localRetention(cfg.LocalRetentionBytes, cfg.RetentionBytes),
	}, now, t.Uploaded)
}

// applyLocalRetention deletes expired sealed local segments that allow approves.
func (p *Partition) applyLocalRetention(policy segment.RetentionPolicy, now time.Time, allow func(segment.SegmentInfo) bool) {
	if policy.Ms < 0 && policy.Bytes < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	deleted, err := p.log.ApplyRetention(policy, now, allow)
	if err != nil {
		p.logger.Warn("cannot apply retention", "err", err)
	}
	if len(deleted) > 0 {
		p.logger.Info("local segments deleted", "segments", len(deleted),
			"first_base_offset", deleted[0].BaseOffset, "log_start_offset", p.log.LogStartOffset())
		p.resyncActiveLocked()
	}
}

// localRetention resolves local.retention.* against the total: -2 means the total, and a
// local value larger than a bounded total is capped by it (Kafka rejects such configs).
func localRetention(local, total int64) int64 {
	if local == -2 {
		return total
	}
	if total >= 0 && (local < 0 || local > total) {
		return total
	}
	return local
}

// close stops background remote reads and closes the local log (clean shutdown).
func (p *Partition) close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.stopRemote()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.log.Close(); err != nil && !errors.Is(err, segment.ErrClosed) {
		return fmt.Errorf("cannot close partition %s-%d: %w", p.topicName, p.index, err)
	}
	return nil
}

// delete closes the partition and removes its directory.
func (p *Partition) delete() error {
	p.closed.Store(true)
	p.stopRemote()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.log.Delete(); err != nil {
		return fmt.Errorf("cannot delete partition %s-%d: %w", p.topicName, p.index, err)
	}
	return nil
}

func (p *Partition) stopRemote() {
	p.remoteMu.Lock()
	for r := range p.remoteInflight {
		r.cancel()
	}
	p.remoteMu.Unlock()
	p.remoteWG.Wait()
}
