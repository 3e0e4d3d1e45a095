package partition

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/segment"
)

// Log compaction (cleanup.policy=compact), with Kafka's semantics (LogCleaner): keep, for
// every key, at least its latest record. See doc.go ("Compaction") for the rules; this
// file is one cleaning of one partition (Clean), cleanerpool.go runs them.

// cleanerCheckpointFile is the partition's cleaner checkpoint (format: writeCheckpoint).
const cleanerCheckpointFile = "cleaner-checkpoint"

// maxHorizons bounds the tombstone horizons a partition remembers.
const maxHorizons = 256

// horizon says that the clean that ended at time ms covered the offsets below off: a
// tombstone below off (and above the previous horizon's off) was first cleaned then, and is
// kept delete.retention.ms after it.
type horizon struct{ off, ms int64 }

// cleanState is a partition's cleaner state, guarded by its mu (held for a whole clean,
// so that one partition is never cleaned twice at once).
type cleanState struct {
	mu         sync.Mutex
	loaded     bool
	firstDirty int64     // offsets below were cleaned (Kafka's cleaner-offset-checkpoint)
	horizons   []horizon // ascending off
	// tombstoneDue is the earliest time (unix ms) a tombstone kept by the last clean may
	// go; math.MaxInt64: none.
	tombstoneDue int64
	through      atomic.Int64  // firstDirty, readable without mu (localDeletable)
	ratio        atomic.Uint64 // math.Float64bits of the last computed dirty ratio + 1 (0: none); for View
	lastClean    atomic.Int64  // unix nanos at the end of the last clean that replaced segments (0: none since open); read without mu
	runs         int64
}

// CleanStats describe one Clean.
type CleanStats struct {
	Cleaned      bool    // segments were replaced
	Passes       int     // key-map passes (more than one when the keys exceed the map)
	BytesRead    int64   // bytes of segments read (map building and copying)
	BytesWritten int64   // bytes of cleaned segments written
	Removed      int64   // records removed
	Tombstones   int64   // tombstones removed (delete.retention.ms passed)
	Markers      int64   // transaction markers removed (their data gone, delete horizon passed)
	DirtyRatio   float64 // the dirty ratio before the clean
	Segments     int     // segments replaced
}

// Cleanable describes the compaction backlog of a partition (for metrics and the admin
// view): bytes already cleaned and dirty bytes in [log start, first uncleanable offset).
type Cleanable struct {
	Compact          bool
	CleanBytes       int64
	DirtyBytes       int64
	FirstDirty       int64
	FirstUncleanable int64
	LastClean        time.Time
}

// Ratio is dirty / (clean + dirty), 0 for an empty log.
func (c Cleanable) Ratio() float64 {
	if c.CleanBytes+c.DirtyBytes == 0 {
		return 0
	}
	return float64(c.DirtyBytes) / float64(c.CleanBytes+c.DirtyBytes)
}

// compacted reports whether cleanup.policy includes compact.
func compacted(policy string) bool {
	for p := range strings.SplitSeq(policy, ",") {
		if strings.TrimSpace(p) == "compact" {
			return true
		}
	}
	return false
}

// LastClean is when the cleaner last replaced segments of the partition (zero: not since
// it was opened).
func (p *Partition) LastClean() time.Time {
	if n := p.clean.lastClean.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Compacted reports whether the partition's cleanup.policy includes compact.
func (p *Partition) Compacted() bool { return compacted(p.config().CleanupPolicy) }

// loadCleanStateLocked reads the checkpoint once. A missing or damaged one starts from the
// log start (everything dirty: cleaning again is always safe).
func (p *Partition) loadCleanStateLocked() {
	cs := &p.clean
	if cs.loaded {
		return
	}
	cs.loaded = true
	cs.tombstoneDue = math.MaxInt64
	b, err := p.log.ReadAuxFile(cleanerCheckpointFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			p.logger.Warn("cannot read cleaner checkpoint; cleaning from the log start", "err", err)
		}
		return
	}
	fd, due, hs, err := decodeCleanCheckpoint(b)
	if err != nil {
		p.logger.Warn("ignoring damaged cleaner checkpoint", "err", err)
		return
	}
	cs.firstDirty, cs.tombstoneDue, cs.horizons = fd, due, hs
	cs.through.Store(fd)
}

// encodeCleanCheckpoint: "0\n", firstDirty, tombstoneDue, then one "off ms" line per
// horizon, each line ending in "\n".
func encodeCleanCheckpoint(firstDirty, due int64, hs []horizon) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n%d\n", firstDirty, due)
	for _, h := range hs {
		fmt.Fprintf(&b, "%d %d\n", h.off, h.ms)
	}
	return []byte(b.String())
}

func decodeCleanCheckpoint(b []byte) (firstDirty, due int64, hs []horizon, err error) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 3 || lines[0] != "0" {
		return 0, 0, nil, errors.New("partition: cleaner checkpoint: bad header")
	}
	if firstDirty, err = strconv.ParseInt(lines[1], 10, 64); err != nil {
		return 0, 0, nil, fmt.Errorf("partition: cleaner checkpoint: %w", err)
	}
	if due, err = strconv.ParseInt(lines[2], 10, 64); err != nil {
		return 0, 0, nil, fmt.Errorf("partition: cleaner checkpoint: %w", err)
	}
	for _, l := range lines[3:] {
		var h horizon
		if _, err := fmt.Sscanf(l, "%d %d", &h.off, &h.ms); err != nil {
			return 0, 0, nil, fmt.Errorf("partition: cleaner checkpoint: horizon %q: %w", l, err)
		}
		hs = append(hs, h)
	}
	return firstDirty, due, hs, nil
}

// horizonMs returns the time of the clean that first covered off, or -1 if none did.
func horizonMs(hs []horizon, off int64) int64 {
	for _, h := range hs { // short, bounded list
		if h.off > off {
			return h.ms
		}
	}
	return -1
}

// addHorizon appends (off, ms) and prunes: an entry whose successor has expired can go
// (the tombstones it covers fall to the successor, expired too), and beyond maxHorizons
// the two oldest merge into the later time (tombstones are kept longer, never shorter).
func addHorizon(hs []horizon, off, ms, retentionMs int64) []horizon {
	if n := len(hs); n > 0 && hs[n-1].off >= off {
		return hs
	}
	hs = append(hs, horizon{off, ms})
	out := hs[:0]
	for i, h := range hs {
		if i+1 < len(hs) && ms-hs[i+1].ms > retentionMs {
			continue
		}
		out = append(out, h)
	}
	for len(out) > maxHorizons {
		out[1].off = max(out[1].off, out[0].off)
		out = out[1:]
	}
	return out
}

// producerEntries is what the cleaner asks of the idempotent-producer state.
type producerEntries interface {
	Entry(pid int64) (producer.Entry, bool)
}

// cleanSeg is a sealed segment with the facts the cleaner decides on.
type cleanSeg = segment.SegmentInfo

// cleanableLocked returns the sealed segments in [log start, first uncleanable) and the
// cleanable figures; cs.mu held.
func (p *Partition) cleanableLocked(now time.Time) ([]cleanSeg, Cleanable) {
	cfg := p.config()
	cs := &p.clean
	info := Cleanable{Compact: compacted(cfg.CleanupPolicy), FirstDirty: cs.firstDirty, LastClean: p.LastClean()}
	start := p.log.LogStartOffset()
	all := p.log.Segments()
	limit := p.LastStableOffset()
	if cfg.RemoteStorageEnable {
		// Only segments the bucket holds are cleaned, so that it keeps the full history.
		t := p.getTier()
		if t == nil {
			limit = start
		} else if _, end, ok := t.Bounds(); ok {
			limit = min(limit, end)
		} else {
			limit = start
		}
	}
	lagMs := max(cfg.MinCompactionLagMs, 0)
	var segs []cleanSeg
	first := start
	for _, s := range all[:len(all)-1] { // never the active segment
		if s.NextOffset <= start {
			continue
		}
		if s.NextOffset > limit || (lagMs > 0 && s.MaxTimestamp > now.UnixMilli()-lagMs) {
			break
		}
		segs = append(segs, s)
	}
	if len(segs) > 0 {
		first = segs[len(segs)-1].NextOffset
	}
	info.FirstUncleanable = first
	if info.FirstDirty < start || info.FirstDirty > p.log.NextOffset() {
		info.FirstDirty = start
	}
	for _, s := range segs {
		if s.NextOffset <= info.FirstDirty {
			info.CleanBytes += s.Size
		} else {
			info.DirtyBytes += s.Size
		}
	}
	cs.ratio.Store(math.Float64bits(info.Ratio() + 1))
	return segs, info
}

// CleanableInfo returns the partition's compaction backlog.
func (p *Partition) CleanableInfo(now time.Time) Cleanable {
	p.clean.mu.Lock()
	defer p.clean.mu.Unlock()
	p.loadCleanStateLocked()
	_, info := p.cleanableLocked(now)
	return info
}

// cleanIO is what a clean needs besides the partition: a key map and an I/O throttle.
type cleanIO struct {
	m        *offsetMap
	aborted  abortedSet                               // the aborted transactions (Clean sets it)
	dec      *recordDecoder                           // nil: allocate
	throttle func(ctx context.Context, n int64) error // nil: none
}

// errCleanStopped: the partition closed or the context ended during a clean.
var errCleanStopped = errors.New("partition: clean stopped")

// Clean compacts the partition once if it is due (cleanup.policy has compact, and the
// dirty ratio reaches min.cleanable.dirty.ratio, or the oldest dirty record is older than
// max.compaction.lag.ms, or a kept tombstone's delete.retention.ms has passed): as many
// key-map passes as the dirty keys need, each rewriting the sealed segments from the log
// start through what its map covers.
func (p *Partition) Clean(ctx context.Context, now time.Time, io cleanIO) (CleanStats, error) {
	var st CleanStats
	cfg := p.config()
	if !compacted(cfg.CleanupPolicy) || p.closed.Load() {
		return st, nil
	}
	cs := &p.clean
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p.loadCleanStateLocked()
	if cfg.MaxCompactionLagMs > 0 && cfg.MaxCompactionLagMs < math.MaxInt64/2 {
		p.rollForCompactionLag(now, cfg.MaxCompactionLagMs)
	}
	segs, info := p.cleanableLocked(now)
	st.DirtyRatio = info.Ratio()
	if len(segs) == 0 {
		return st, nil
	}
	due := info.DirtyBytes > 0 && info.Ratio() >= cfg.MinCleanableDirtyRatio
	if !due && info.DirtyBytes > 0 && cfg.MaxCompactionLagMs > 0 && cfg.MaxCompactionLagMs < math.MaxInt64/2 {
		if ts, ok := p.firstTimestampFrom(info.FirstDirty); ok && now.UnixMilli()-ts > cfg.MaxCompactionLagMs {
			due = true
		}
	}
	if !due && cs.tombstoneDue != math.MaxInt64 && now.UnixMilli() >= cs.tombstoneDue {
		due = true
	}
	if !due {
		return st, nil
	}
	firstDirty := info.FirstDirty
	end := info.FirstUncleanable
	var ps producerEntries
	p.mu.Lock()
	if e, ok := p.producers.(producerEntries); ok {
		ps = e
	}
	p.mu.Unlock()
	io.aborted = p.abortedTxnSet()
	for {
		st.Passes++
		io.m.reset()
		mapEnd, read, err := p.buildOffsetMap(ctx, io, firstDirty, end)
		st.BytesRead += read
		if err != nil {
			return st, err
		}
		if mapEnd <= firstDirty && firstDirty < end {
			return st, fmt.Errorf("%w: clean: no progress from offset %d", ErrStorage, firstDirty)
		}
		if err := p.cleanSegments(ctx, io, now, mapEnd, firstDirty, ps, &st); err != nil {
			return st, err
		}
		if mapEnd > firstDirty {
			cs.horizons = addHorizon(cs.horizons, mapEnd, now.UnixMilli(), cfg.DeleteRetentionMs)
		}
		firstDirty = max(firstDirty, mapEnd)
		cs.firstDirty = firstDirty
		cs.through.Store(firstDirty)
		if err := p.log.WriteAuxFile(cleanerCheckpointFile, encodeCleanCheckpoint(cs.firstDirty, cs.tombstoneDue, cs.horizons)); err != nil {
			p.logger.Warn("cannot write cleaner checkpoint", "err", err)
		}
		if firstDirty >= end {
			break
		}
	}
	cs.runs++
	if st.Cleaned {
		cs.lastClean.Store(time.Now().UnixNano())
		// Roll snapshots at the bases of segments merged away are no longer kept: the next
		// prune lists the directory again (prodsnap.go prunes only from the oldest).
		p.mu.Lock()
		if p.prod != nil {
			p.prod.files.listed = false
		}
		p.mu.Unlock()
	}
	return st, nil
}

// rollForCompactionLag rolls an active segment whose first record is older than
// max.compaction.lag.ms, so that the cleaner can take it (Kafka does the same).
func (p *Partition) rollForCompactionLag(now time.Time, lagMs int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() || p.activeSize == 0 || p.activeCreated.IsZero() {
		return
	}
	if now.Sub(p.activeCreated) > time.Duration(lagMs)*time.Millisecond {
		if err := p.rollLocked(); err != nil {
			p.logger.Warn("cannot roll for max.compaction.lag.ms", "err", err)
		}
	}
}

// firstTimestampFrom returns the first timestamp of the batch holding offset.
func (p *Partition) firstTimestampFrom(offset int64) (int64, bool) {
	b, ok, err := p.readLocal(offset, segment.BatchHeaderSize, true)
	if err != nil || !ok || len(b) < segment.BatchHeaderSize {
		return 0, false
	}
	h, err := segment.DecodeBatchHeader(b)
	if err != nil {
		return 0, false
	}
	return h.FirstTimestamp, true
}

// cleanReadBytes is how much a clean reads at once.
const cleanReadBytes = 1 << 20

// forEachBatch calls fn for every batch in [from, to) of the local log, in order.
func (p *Partition) forEachBatch(ctx context.Context, io cleanIO, from, to int64, fn func(h segment.BatchHeader, b []byte) (bool, error)) (int64, error) {
	var read int64
	var buf []byte
	for off := from; off < to; {
		if p.closed.Load() || ctx.Err() != nil {
			return read, errCleanStopped
		}
		rr, err := p.log.Read(off, cleanReadBytes, true)
		if err != nil {
			return read, fmt.Errorf("%w: clean: read at %d: %w", ErrStorage, off, err)
		}
		if rr.Size == 0 {
			return read, nil
		}
		if int64(cap(buf)) < rr.Size {
			buf = make([]byte, rr.Size)
		}
		buf = buf[:rr.Size]
		if _, err := rr.File.ReadAt(buf, rr.Position); err != nil {
			return read, fmt.Errorf("%w: clean: read at %d: %w", ErrStorage, off, err)
		}
		read += rr.Size
		if io.throttle != nil {
			if err := io.throttle(ctx, rr.Size); err != nil {
				return read, errCleanStopped
			}
		}
		next := off
		stop := false
		err = SplitBatches(buf, func(h segment.BatchHeader, b []byte) (bool, error) {
			if h.BaseOffset >= to {
				stop = true
				return false, nil
			}
			next = h.LastOffset() + 1
			if h.LastOffset() < off {
				return true, nil
			}
			more, err := fn(h, b)
			if !more {
				stop = true
			}
			return more, err
		})
		if err != nil || stop {
			return read, err
		}
		if next <= off {
			return read, fmt.Errorf("%w: clean: no progress at offset %d", ErrStorage, off)
		}
		off = next
	}
	return read, nil
}

// buildOffsetMap puts the keys of [from, to) into the map, up to a batch boundary where it
// fills. It returns the end of what the map covers.
func (p *Partition) buildOffsetMap(ctx context.Context, io cleanIO, from, to int64) (int64, int64, error) {
	end := from
	var recs []cleanRecord
	read, err := p.forEachBatch(ctx, io, from, to, func(h segment.BatchHeader, b []byte) (bool, error) {
		if h.Control() || h.NumRecords == 0 || io.aborted.aborted(h) {
			end = h.LastOffset() + 1 // markers and aborted data are not put in the map (cleantxn.go)
			return true, nil
		}
		if io.m.full(int(h.NumRecords)) {
			if end == from {
				return false, fmt.Errorf("partition: clean: log.cleaner.dedupe.buffer.size holds %d keys, too few for the batch of %d records at %d", io.m.maxEntries, h.NumRecords, h.BaseOffset)
			}
			return false, nil
		}
		var err error
		recs, err = io.dec.records(h, b, recs[:0])
		if err != nil {
			return false, fmt.Errorf("%w: clean: batch at %d: %w", ErrStorage, h.BaseOffset, err)
		}
		for _, r := range recs {
			if r.key != nil && r.offset >= from {
				io.m.put(r.key, r.offset)
			}
		}
		end = h.LastOffset() + 1
		return true, nil
	})
	return min(end, to), read, err
}

// cleanSegments rewrites the sealed segments from the log start through the one holding
// mapEnd-1, grouped so that each group's output fits segment.bytes.
func (p *Partition) cleanSegments(ctx context.Context, io cleanIO, now time.Time, mapEnd, prevDirty int64, ps producerEntries, st *CleanStats) error {
	cfg := p.config()
	cs := &p.clean
	start := p.log.LogStartOffset()
	var segs []segment.SegmentInfo
	all := p.log.Segments()
	for _, s := range all[:len(all)-1] {
		if s.NextOffset <= start || s.BaseOffset >= mapEnd {
			continue
		}
		segs = append(segs, s)
	}
	maxSize := cfg.SegmentBytes
	if maxSize <= 0 || maxSize > math.MaxInt32 {
		maxSize = math.MaxInt32
	}
	due := int64(math.MaxInt64)
	var recs, keep []cleanRecord
	txs := newTxnCleanState(io.aborted, p.snapshotOffset(), start)
	defer func() { st.Markers += txs.markers }()
	for i := 0; i < len(segs); {
		// A group: consecutive segments whose total size fits segment.bytes (they are
		// cleaned into one), at least one.
		j, size := i+1, segs[i].Size
		for j < len(segs) && size+segs[j].Size <= maxSize && segs[j].NextOffset-segs[i].BaseOffset <= math.MaxInt32 {
			size += segs[j].Size
			j++
		}
		group := segs[i:j]
		i = j
		w, err := p.log.CreateCleaned(group[0].BaseOffset)
		if err != nil {
			return fmt.Errorf("%w: clean: %w", ErrStorage, err)
		}
		var mod time.Time
		for _, s := range group {
			if s.LastModified.After(mod) {
				mod = s.LastModified
			}
		}
		w.SetModified(mod)
		groupEnd := group[len(group)-1].NextOffset
		read, err := p.forEachBatch(ctx, io, max(group[0].BaseOffset, start), groupEnd, func(h segment.BatchHeader, b []byte) (bool, error) {
			out := b
			txs.dataBatch(h)
			switch {
			case h.Control():
				act, at := txs.controlBatch(h, b, now, cfg.DeleteRetentionMs)
				switch act {
				case markerDiscard:
					st.Removed++
					return true, nil
				case markerStamp:
					out = stampMarker(h, b, at)
				}
				if at >= 0 {
					due = min(due, at+1)
				}
			case txs.aborted.aborted(h):
				st.Removed += int64(h.NumRecords)
				if !lastOfProducer(ps, h) {
					return true, nil
				}
				if h.NumRecords > 0 {
					var err error
					if out, err = rebuildBatch(h, b, nil); err != nil {
						return false, fmt.Errorf("partition: clean: rebuild batch at %d: %w", h.BaseOffset, err)
					}
				}
			case h.NumRecords == 0:
				if !lastOfProducer(ps, h) {
					return true, nil // left empty by an earlier clean for a producer that wrote since
				}
			}
			if !h.Control() && !txs.aborted.aborted(h) && h.NumRecords > 0 {
				var err error
				recs, err = io.dec.records(h, b, recs[:0])
				if err != nil {
					return false, fmt.Errorf("%w: clean: batch at %d: %w", ErrStorage, h.BaseOffset, err)
				}
				keep = keep[:0]
				for _, r := range recs {
					switch {
					case r.key == nil:
						keep = append(keep, r) // keyless (written before compact was set): kept
					case io.m.get(r.key) > r.offset:
						st.Removed++ // a later record of the key
					case r.tombstone && r.offset < prevDirty && tombstoneExpired(cs.horizons, r.offset, now, cfg.DeleteRetentionMs):
						st.Removed++
						st.Tombstones++
					default:
						if r.tombstone {
							if hm := horizonMs(cs.horizons, r.offset); hm >= 0 {
								due = min(due, hm+cfg.DeleteRetentionMs+1)
							} else {
								due = min(due, now.UnixMilli()+cfg.DeleteRetentionMs+1)
							}
						}
						keep = append(keep, r)
					}
				}
				switch {
				case len(keep) == len(recs):
				case len(keep) == 0 && !lastOfProducer(ps, h):
					return true, nil
				default:
					if out, err = rebuildBatch(h, b, keep); err != nil {
						return false, fmt.Errorf("partition: clean: rebuild batch at %d: %w", h.BaseOffset, err)
					}
				}
			}
			if err := w.Append(out); err != nil {
				return false, fmt.Errorf("%w: clean: %w", ErrStorage, err)
			}
			txs.dataKept(h)
			st.BytesWritten += int64(len(out))
			if io.throttle != nil {
				if err := io.throttle(ctx, int64(len(out))); err != nil {
					return false, errCleanStopped
				}
			}
			return true, nil
		})
		st.BytesRead += read
		if err == nil {
			err = w.Finish()
		}
		if err != nil {
			w.Abort()
			return err
		}
		if err := p.dropTxnEntries(txs.drop); err != nil {
			w.Abort()
			return fmt.Errorf("%w: clean: aborted transaction index: %w", ErrStorage, err)
		}
		bases := make([]int64, len(group))
		for k, s := range group {
			bases[k] = s.BaseOffset
		}
		if err := p.log.ReplaceSegments(bases, []*segment.CleanedWriter{w}); err != nil {
			return fmt.Errorf("%w: clean: swap segments %v: %w", ErrStorage, bases, err)
		}
		st.Cleaned = true
		st.Segments += len(group)
	}
	cs.tombstoneDue = due
	return nil
}

// tombstoneExpired reports whether a tombstone at off, first cleaned at its horizon, has
// been kept delete.retention.ms.
func tombstoneExpired(hs []horizon, off int64, now time.Time, retentionMs int64) bool {
	hm := horizonMs(hs, off)
	return hm >= 0 && now.UnixMilli()-hm > retentionMs
}

// lastOfProducer reports whether h is the last batch its idempotent producer wrote, which
// the cleaner keeps (empty if need be) so that the producer's sequence state survives a
// restart that rebuilds it from the log.
func lastOfProducer(ps producerEntries, h segment.BatchHeader) bool {
	if ps == nil || h.ProducerID < 0 {
		return false
	}
	e, ok := ps.Entry(h.ProducerID)
	if !ok {
		return false
	}
	last := e.LastOffset()
	return last >= h.BaseOffset && last <= h.LastOffset()
}

// waitClean waits for a running clean of the closed partition to stop (it checks closed
// at every read), so that Close and Delete do not race its files.
func (p *Partition) waitClean() {
	p.clean.mu.Lock()
	p.clean.mu.Unlock() //nolint:staticcheck // an empty critical section: a barrier
}

// localDeletable is what local retention may delete of a tiered partition: the segments
// the tier reports uploaded, and in a compacted partition also the cleaned segments whose
// offsets the bucket holds (a cleaned segment replaces several uploaded ones, so the
// manifest names none of them exactly; the cleaner only cleans uploaded offsets).
func (p *Partition) localDeletable(t Tier) func(segment.SegmentInfo) bool {
	if !p.Compacted() {
		return t.Uploaded
	}
	return func(s segment.SegmentInfo) bool {
		if t.Uploaded(s) {
			return true
		}
		start, end, ok := t.Bounds()
		return ok && s.Sealed && s.BaseOffset >= start && s.NextOffset <= end && s.NextOffset <= p.cleanedThrough()
	}
}

// cleanedThrough is the first dirty offset of the last clean (0 before any).
func (p *Partition) cleanedThrough() int64 { return p.clean.through.Load() }

// cleanableRatio is the dirty ratio last computed for a compacted partition, -1 if none.
func (p *Partition) cleanableRatio() float64 {
	r := p.clean.ratio.Load()
	if r == 0 || !p.Compacted() {
		return -1
	}
	return math.Float64frombits(r) - 1
}
