package partition

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

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
)

// Errors of a partition. The broker maps them to Kafka codes (broker/errors.go); each is
// wrapped with the cause.
var (
	// ErrClosed: the partition was closed or deleted (NOT_LEADER_OR_FOLLOWER: retriable).
	ErrClosed = errors.New("partition: closed")
	// ErrStorage: the local log failed (a write, an fsync, a read of a segment file);
	// KAFKA_STORAGE_ERROR.
	ErrStorage = errors.New("partition: storage error")
	// ErrRemote: the remote tier failed a read, a timestamp lookup or a DeleteRecords.
	// Kafka answers UNKNOWN_SERVER_ERROR when its RemoteStorageManager fails; the broker
	// answers KAFKA_STORAGE_ERROR instead, which every client retries (Java:
	// KafkaStorageException is a RetriableException; franz-go refetches; librdkafka
	// refreshes metadata and retries) without closing the connection.
	ErrRemote = errors.New("partition: remote tier error")
	// ErrInvalidRecord: the log refused a batch's structure (INVALID_RECORD).
	ErrInvalidRecord = errors.New("partition: invalid record")
	// ErrTimeout: a durability wait ran out of time (REQUEST_TIMED_OUT).
	ErrTimeout = errors.New("partition: timed out")
)

// Config is the topic configuration a partition applies (the broker resolves topic
// overrides against its defaults). Negative sizes and durations mean unlimited.
type Config struct {
	SegmentBytes        int64  // segment.bytes: roll before an append would exceed it
	SegmentMs           int64  // segment.ms: roll once the active segment's first append is this old
	RetentionMs         int64  // retention.ms (local + remote); -1 unlimited
	RetentionBytes      int64  // retention.bytes (local + remote); -1 unlimited
	LocalRetentionMs    int64  // local.retention.ms; -2 = RetentionMs
	LocalRetentionBytes int64  // local.retention.bytes; -2 = RetentionBytes
	CleanupPolicy       string // cleanup.policy: retention deletes only with "delete" in it
	LogAppendTime       bool   // message.timestamp.type=LogAppendTime
	RemoteStorageEnable bool   // remote.storage.enable
	IndexIntervalBytes  int32  // index.interval.bytes (at open)
	FlushMessages       int64  // flush.messages (at open); Long.MAX = never
	FlushMs             int64  // flush.ms (at open); Long.MAX = never

	// Compaction (cleaner.go), with cleanup.policy containing "compact".
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms; <= 0 or Long.MAX = none
	DeleteRetentionMs      int64   // delete.retention.ms
}

// Options are what Open needs besides the topic configuration: identity, the broker-wide
// resources partitions share, and seams for tests.
type Options struct {
	Topic   string
	TopicID [16]byte
	Index   int32
	Dir     string // the partition directory (<data dir>/<topic>-<index>)
	Config  Config
	Logger  *slog.Logger // nil: discard

	FS      segment.FS          // nil: the operating system; power-loss tests use segmenttest.MemFS
	Files   *segment.FileCache  // one cap on sealed segment files for all partitions; nil: the log's own
	OnFsync func(time.Duration) // called after every durability fsync (metrics)

	// ProducerIDExpiration is producer.id.expiration.ms (0: the producer package default).
	ProducerIDExpiration time.Duration

	// FreeReserve releases the broker's disk reserve (broker/fulldisk.go) so that a
	// DeleteRecords that met a full disk can write its checkpoint; nil: none.
	FreeReserve func(why string) bool
}

// Partition is one partition of a topic: a local segment.Log, optionally composed with a
// remote tier that serves offsets below the local log start, and the idempotent-producer
// state of the partition. See doc.go.
//
// Locking: mu serialises every writer operation on the log (append, roll, retention,
// log start changes, producer snapshots) and guards the fields marked below. Readers
// (reads, offsets, ListOffset) never take mu: segment.Log supports reads concurrent with
// its writer, and the tier is safe for concurrent use. Lock order: Partition.mu, then
// remoteMu.
type Partition struct {
	topicName string
	topicID   [16]byte
	index     int32
	dir       string
	fs        segment.FS // the local log's filesystem; producer snapshots are written on it
	logger    *slog.Logger

	log    *segment.Log
	cfg    atomic.Pointer[Config]
	tier   atomic.Pointer[tierRef]
	notify appendNotifier
	closed atomic.Bool
	idExp  time.Duration // producer.id.expiration.ms

	mu            sync.Mutex
	activeSize    int64         // guarded by mu: bytes in the active segment
	activeCreated time.Time     // guarded by mu: first append into the active segment (zero if empty)
	producers     producerState // guarded by mu; nil = no idempotence checks
	// prod is the state Open rebuilt or loadRemoteProducerState installed, with its
	// snapshot bookkeeping (guarded by mu; prodsnap.go).
	prod *prodState
	// rollSnaps are the offsets of the roll snapshots saved since the last prune of
	// producer snapshots (guarded by mu; prodsnap.go).
	rollSnaps []int64

	remoteMu       sync.Mutex
	remotePending  *remoteRead              // guarded by remoteMu: the latest background remote read
	remoteInflight map[*remoteRead]struct{} // guarded by remoteMu: every read's goroutine still running (close cancels them)
	remoteWG       sync.WaitGroup
	remoteFails    atomic.Int32 // consecutive failed remote reads (the error hold doubles with them)

	clean cleanState // the cleaner's state (cleaner.go)

	freeReserve func(why string) bool // Options.FreeReserve
	warns       warnLimiter           // full-disk warnings, at most one a minute each (warn.go)

	txn txnIndex // the aborted-transaction index and the LSO's producer state (txn.go)
}

type tierRef struct{ t Tier }

// producerState is the idempotent-producer check run under the partition's write lock:
// Check before the append (a duplicate answers the original offsets and writes nothing),
// Update after it. *producer.State implements it; tests substitute hooks.
type producerState interface {
	Check(pid int64, epoch int16, baseSeq, lastSeq int32) (*producer.BatchMeta, error)
	Update(b producer.BatchMeta, now time.Time)
	// TruncateBefore is called (under the write lock) after the log start offset rose
	// (DeleteRecords, retention), so that state for deleted batches is dropped.
	TruncateBefore(logStartOffset int64)
}

var _ producerState = (*producer.State)(nil)

// Open opens (recovering if needed) the local log in o.Dir and rebuilds the partition's
// producer state from its snapshots and log (prodsnap.go). The remote tier is attached
// later (AttachTier).
func Open(o Options) (*Partition, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("topic", o.Topic, "partition", o.Index)
	p := &Partition{topicName: o.Topic, topicID: o.TopicID, index: o.Index, dir: o.Dir, logger: logger,
		idExp: o.ProducerIDExpiration, freeReserve: o.FreeReserve}
	cfg := o.Config
	p.cfg.Store(&cfg)
	p.fs = o.FS
	if p.fs == nil {
		p.fs = segment.OSFS{}
	}

	scfg := segmentConfig(cfg, logger)
	scfg.OnFsync = o.OnFsync
	scfg.FS = o.FS
	scfg.Files = o.Files
	log, rep, err := segment.Open(o.Dir, scfg)
	if err != nil {
		return nil, fmt.Errorf("cannot open partition %s-%d in %q: %w", o.Topic, o.Index, o.Dir, err)
	}
	if rep.TruncatedBytes > 0 || !rep.CleanShutdown {
		logger.Info("partition recovered", "clean", rep.CleanShutdown, "segments", rep.Segments,
			"truncated_bytes", rep.TruncatedBytes, "truncated_at", rep.TruncatedAt, "rebuilt_indexes", rep.RebuiltIndexes)
	}
	p.log = log
	active := log.ActiveSegment()
	p.activeSize = active.Size
	if active.Size > 0 {
		p.activeCreated = active.Created
	}
	p.openTxnIndex(o.FS) // txn.go
	// The files segment.Open found beside the log: no second listing of the directory.
	p.openProducerState(rep.OtherFiles)
	return p, nil
}

// segmentConfig maps topic configs to the local log's. Rolls by size and time are done by
// the Partition itself (so that configuration changes apply at once and every roll can
// hint the uploader), so the log is opened with rolling effectively disabled.
func segmentConfig(cfg Config, logger *slog.Logger) segment.Config {
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

// Topic and Index name the partition; Dir is its directory.
func (p *Partition) Topic() string { return p.topicName }
func (p *Partition) Index() int32  { return p.index }
func (p *Partition) Dir() string   { return p.dir }

func (p *Partition) config() Config { return *p.cfg.Load() }

// Config returns the partition's current configuration.
func (p *Partition) Config() Config { return p.config() }

// SetConfig installs the topic's new effective config. segment.bytes, segment.ms,
// retention and message.timestamp.type apply from the next append or maintenance run;
// flush.messages/flush.ms and index.interval.bytes apply when the partition is reopened.
func (p *Partition) SetConfig(cfg Config) { p.cfg.Store(&cfg) }

// Closed reports whether the partition was closed or deleted.
func (p *Partition) Closed() bool { return p.closed.Load() }

// HighWatermark is the offset after the last record visible to consumers. A single node
// is its own ISR, so a record is committed once it is in the leader's log: the high
// watermark equals the log end offset (acks=-1 additionally waits for fsync before
// answering the producer, but does not hold back visibility).
func (p *Partition) HighWatermark() int64 { return p.log.NextOffset() }

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

// AppendResult is the outcome of one batch append.
type AppendResult struct {
	Info      segment.BatchInfo
	Duplicate bool // an idempotent retry: nothing was written, Info holds the original offsets
}

// Append writes one validated v2 batch whose header is h (the broker checks what is its
// to decide first: one batch, magic, size, timestamps). It runs the idempotence check,
// rolls the active segment by segment.bytes / segment.ms, appends, and wakes waiting
// fetches unless wake is false: an acks=-1 produce wakes them (WakeFetches) once the batch
// is durable. now zero means time.Now(). Errors wrap producer's errors for sequence and
// epoch checks, segment's for refused batches (ErrInvalidRecord for structure errors),
// ErrStorage for failed writes and ErrClosed.
func (p *Partition) Append(batch []byte, h segment.BatchHeader, now time.Time, wake bool) (AppendResult, error) {
	return p.AppendChecked(batch, h, now, wake, nil)
}

// AppendChecked is Append with check (if not nil) run under the partition's write lock
// before anything else: its error refuses the batch. The broker verifies a transactional
// batch with its transaction coordinator there (txn.go), so that no transaction marker can
// be written between the verification and the append.
func (p *Partition) AppendChecked(batch []byte, h segment.BatchHeader, now time.Time, wake bool, check func() error) (AppendResult, error) {
	if p.closed.Load() {
		return AppendResult{}, ErrClosed
	}
	cfg := p.config()
	if now.IsZero() {
		now = time.Now()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if check != nil {
		if err := check(); err != nil {
			return AppendResult{}, err
		}
	}

	if p.producers != nil && h.ProducerID >= 0 {
		dup, err := p.producers.Check(h.ProducerID, h.ProducerEpoch, h.BaseSequence, producer.LastSeq(h.BaseSequence, h.NumRecords))
		if err != nil {
			return AppendResult{}, err
		}
		if dup != nil {
			return AppendResult{Duplicate: true, Info: segment.BatchInfo{
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
				return AppendResult{}, err
			}
		}
	}

	undoTxn := p.beginTxnLocked(h, p.log.NextOffset()) // txn.go: the LSO holds before the batch is visible
	info, err := p.log.Append(batch, segment.AppendOptions{Now: now, LogAppendTime: cfg.LogAppendTime})
	if err != nil {
		undoTxn()
		return AppendResult{}, classifyLogError(err)
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
			Transactional: h.Transactional(),
		}, now)
	}
	if t := p.getTier(); t != nil {
		t.NoteLogEnd(info.LastOffset + 1) // the bucket's watermark (tiering/watermark.go)
	}
	if wake {
		p.notify.broadcast()
	}
	return AppendResult{Info: info}, nil
}

// WakeFetches wakes the fetches waiting for records of p (see Append).
func (p *Partition) WakeFetches() { p.notify.broadcast() }

// Subscribe makes ch readable (a non-blocking send) after every later append; a long-
// polling fetch subscribes, reads again, then waits on ch. Unsubscribe removes it (safe
// for a channel that is not subscribed).
func (p *Partition) Subscribe(ch chan struct{})   { p.notify.subscribe(ch) }
func (p *Partition) Unsubscribe(ch chan struct{}) { p.notify.unsubscribe(ch) }

// classifyLogError sorts the local log's errors: the batch refusals (CRC mismatch,
// unsupported magic, structure: ErrInvalidRecord) are returned for the broker to map, and
// everything else (failed writes, a fenced log) is ErrStorage.
func classifyLogError(err error) error {
	switch {
	case errors.Is(err, ErrStorage), errors.Is(err, ErrInvalidRecord), errors.Is(err, ErrClosed):
		return err
	case errors.Is(err, segment.ErrCorruptBatchCRC), errors.Is(err, segment.ErrUnsupportedMagic):
		return err
	case errors.Is(err, segment.ErrInvalidBatch):
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	default:
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
}

// WaitDurable returns once every record below offset is fsynced. A ctx that ends first
// is ErrTimeout.
func (p *Partition) WaitDurable(ctx context.Context, offset int64) error {
	if err := p.log.WaitDurable(ctx, offset); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return classifyLogError(err)
	}
	return nil
}

// rollLocked snapshots the producer state (tiered partitions), seals the active segment
// and hints the uploader.
func (p *Partition) rollLocked() error {
	p.snapshotProducersAtRollLocked() // prodsnap.go
	if err := p.log.Roll(); err != nil {
		return fmt.Errorf("%w: roll: %w", ErrStorage, err)
	}
	p.logger.Info("segment rolled", "size", p.activeSize, "next_offset", p.log.NextOffset())
	p.activeSize = 0
	p.activeCreated = time.Time{}
	if t := p.getTier(); t != nil {
		t.OnSealed()
	}
	return nil
}

// Unfence lifts a full-disk fence of the local log (segment.Log.Unfence: the active segment
// is cut to its committed end and re-verified) and resynchronises the partition's view of
// its active segment; the broker calls it once the disk has room again. It reports whether
// the log is writable again.
func (p *Partition) Unfence() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return false, nil
	}
	ok, err := p.log.Unfence()
	if !ok {
		return false, err
	}
	p.resyncActiveLocked()
	if t := p.getTier(); t != nil {
		t.OnSealed() // a roll that failed half-way may have sealed a segment
	}
	p.logger.Info("partition writable again after a full disk", "next_offset", p.log.NextOffset())
	return true, nil
}

// LogFenced returns the error that fenced the local log (a failed write or fsync: it
// refuses appends), or nil.
func (p *Partition) LogFenced() error { return p.log.Fenced() }

// CloseRetired closes at once the files of deleted segments kept open for readers (their
// space returns only then): the broker calls it when the disk is full.
func (p *Partition) CloseRetired() { p.log.CloseRetired() }

// Roll seals the active segment now (maintenance rolls by segment.ms and the upload
// interval, Append by segment.bytes; tools and tests roll on demand). A tiered partition
// snapshots its producer state at the roll; the uploader is hinted.
func (p *Partition) Roll() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return ErrClosed
	}
	return p.rollLocked()
}

// DeleteRecords raises the log start offset to offset (DeleteRecords) and returns the new
// log start. The remote part is moved first (its manifest is the truth for remote data),
// then the local log.
func (p *Partition) DeleteRecords(ctx context.Context, offset int64) (int64, error) {
	if p.closed.Load() {
		return -1, ErrClosed
	}
	if offset <= p.LogStartOffset() {
		return p.LogStartOffset(), nil
	}
	if t := p.getTier(); t != nil {
		if start, _, ok := t.Bounds(); ok && start < offset {
			if err := t.SetLogStartOffset(ctx, offset); err != nil {
				return -1, fmt.Errorf("%w: delete remote records of %s-%d below %d: %w", ErrRemote, p.topicName, p.index, offset, err)
			}
		}
	}
	p.mu.Lock()
	if offset > p.log.LogStartOffset() {
		err := p.log.SetLogStartOffset(offset)
		if err != nil && segment.NoSpace(err) {
			// A full disk fenced the log or failed the checkpoint write: release the
			// broker's reserve, lift the fence and try once more (broker/fulldisk.go).
			if p.freeReserve != nil {
				p.freeReserve("DeleteRecords")
			}
			if _, uerr := p.log.Unfence(); uerr == nil {
				err = p.log.SetLogStartOffset(offset)
			}
		}
		if err != nil {
			p.mu.Unlock()
			return -1, classifyLogError(err)
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
	p.trimTxnIndexLocked() // txn.go
	active := p.log.ActiveSegment()
	if active.Size != p.activeSize {
		p.activeSize = active.Size
		p.activeCreated = time.Time{}
		if active.Size > 0 {
			p.activeCreated = active.Created
		}
	}
}

// maintenanceTimeout bounds the bucket work of one maintenance run.
const maintenanceTimeout = time.Minute

// Maintain rolls the active segment by segment.ms (or the tier's upload interval),
// applies retention and snapshots the producer state:
//   - without a tier, or with remote.storage.enable off: retention.ms/bytes on the local log;
//   - with a tier: total retention (retention.ms/bytes over remote + local) is applied to
//     the remote part by the tier (manifest first) and the local log start follows it; then
//     local segments go by local.retention.ms/bytes (-2 = the totals), and only those the
//     tier confirms uploaded, so nothing is deleted locally that is not safely remote.
//
// tierPending says the partition belongs to a tiered topic whose tier is not attached yet
// (bucket unreachable, or not loaded yet after start-up): it still rolls, but deletes
// nothing locally until the tier can confirm which segments are uploaded (local retention
// would otherwise run ungated, as for an untiered topic).
//
// cleanup.policy without "delete" keeps everything. The partition lock is not held during
// bucket calls.
func (p *Partition) Maintain(now time.Time, tierPending bool) {
	p.maintain(now, tierPending)
	p.SaveProducerState()
}

func (p *Partition) maintain(now time.Time, tierPending bool) {
	if p.closed.Load() {
		return
	}
	cfg := p.config()
	t := p.getTier()
	tiered := t != nil && cfg.RemoteStorageEnable

	p.mu.Lock()
	roll := cfg.SegmentMs > 0 && p.activeSize > 0 && now.Sub(p.activeCreated) >= time.Duration(cfg.SegmentMs)*time.Millisecond
	if tiered && p.activeSize > 0 && t.RollDue(now) {
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

	if cfg.RetentionMs >= 0 || cfg.RetentionBytes >= 0 {
		ctx, cancel := context.WithTimeout(context.Background(), maintenanceTimeout)
		start, err := t.ApplyRetention(ctx, cfg.RetentionMs, cfg.RetentionBytes, notRemoteBytes, now)
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
	}, now, p.localDeletable(t)) // cleaner.go: t.Uploaded, or a cleaned segment of uploaded offsets
}

// ShedUploaded relieves disk pressure in a tiered partition: it rolls an active segment
// of at least rollMin bytes (so that the uploader can take it) and deletes every sealed
// local segment the tier confirms uploaded, regardless of local.retention.*. Nothing that
// is not safely remote is deleted; without a tier it does nothing.
func (p *Partition) ShedUploaded(now time.Time, rollMin int64) {
	tier := p.getTier()
	if tier == nil || !p.config().RemoteStorageEnable || p.closed.Load() {
		return
	}
	p.mu.Lock()
	if !p.closed.Load() && p.activeSize >= rollMin {
		if err := p.rollLocked(); err != nil {
			p.logger.Warn("cannot roll segment under disk pressure", "err", err)
		}
	}
	p.mu.Unlock()
	p.applyLocalRetention(segment.RetentionPolicy{Ms: -1, Bytes: 0}, now, tier.Uploaded)
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

// Close snapshots the producer state, stops background remote reads and closes the local
// log (clean shutdown). The tier is the broker's to close (tiering.Manager).
func (p *Partition) Close() error {
	p.SaveProducerState()
	return p.close()
}

func (p *Partition) close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.stopRemote()
	p.waitClean() // cleaner.go
	p.mu.Lock()
	defer p.mu.Unlock()
	p.txn.close()
	if err := p.log.Close(); err != nil && !errors.Is(err, segment.ErrClosed) {
		return fmt.Errorf("cannot close partition %s-%d: %w", p.topicName, p.index, err)
	}
	return nil
}

// Delete closes the partition and removes its directory.
func (p *Partition) Delete() error {
	p.closed.Store(true)
	p.stopRemote()
	p.waitClean() // cleaner.go
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.log.Delete(); err != nil {
		return fmt.Errorf("cannot delete partition %s-%d: %w", p.topicName, p.index, err)
	}
	return nil
}
