package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/strata-io/strata/segment"
)

// remoteState is an immutable snapshot of what the manifest names; readers load it
// without locks.
type remoteState struct {
	entries  []SegmentEntry // live, oldest first, every LastOffset >= start
	start    int64          // remote log start offset
	end      int64          // max(uploaded, start): where remote offsets end
	uploaded int64          // last offset + 1 of everything ever uploaded
	bytes    int64          // sum of entries' sizes
}

// RemotePartition is the remote tier of one partition. Reads (Read, FindTimestamp,
// Bounds, Uploaded) run concurrently on a snapshot; manifest writes (uploads, retention)
// are serialised by writeMu.
type RemotePartition struct {
	m         *Manager
	topic     string
	topicID   [16]byte
	partition int32
	prefix    string
	local     localLog // nil = read-only
	pcfg      atomic.Pointer[PartitionConfig]
	log       *slog.Logger
	wake      chan struct{}
	state     atomic.Pointer[remoteState]
	fenced    atomic.Bool

	// Set by Manager.Run under Manager.mu.
	stop context.CancelFunc
	done chan struct{}

	writeMu  sync.Mutex // lock order: writeMu, then nothing
	w        *manifestWriter
	manifest *partitionManifest // guarded by writeMu

	lastSweep  time.Time                   // owned by the run goroutine
	ahead      aheadState                  // the sequential reader's read-ahead (readahead.go)
	readErrLog logLimiter                  // failed remote reads (readerror.go)
	tamper     atomic.Pointer[tamperState] // what the chain check at load found (hashcheck.go)

	timeMu sync.Mutex // lock order: timeMu, then nothing
	times  timeSearch // guarded by timeMu (read.go)

	snaps producerSnapshotSet // the producer snapshot files of the local directory (prodsnap.go)

	wm         watermarkState     // watermark.go
	wmReserved atomic.Int64       // wm.reserved, for NoteLogEnd without the lock
	openedWM   PartitionWatermark // the watermark OpenPartition read (OpenedWatermark)
}

// publishLocked installs a new snapshot from p.manifest. Callers hold writeMu (or own p
// exclusively, as in openPartition).
func (p *RemotePartition) publishLocked() {
	pm := p.manifest
	st := &remoteState{entries: pm.entries, start: pm.head.LogStartOffset, uploaded: pm.head.EndOffset}
	if n := len(pm.entries); n > 0 {
		st.start = max(st.start, pm.entries[0].BaseOffset)
		st.uploaded = max(st.uploaded, pm.entries[n-1].LastOffset+1)
	}
	st.end = max(st.uploaded, st.start)
	for i := range pm.entries {
		st.bytes += pm.entries[i].Size
	}
	p.tamper.Store(newTamperState(pm))
	p.state.Store(st)
}

// publishAppendedLocked is publishLocked after appendEntries added es to p.manifest, in
// time proportional to es (publishLocked sums every entry).
func (p *RemotePartition) publishAppendedLocked(es []SegmentEntry) {
	old := p.state.Load()
	pm := p.manifest
	last := es[len(es)-1]
	st := &remoteState{entries: pm.entries, start: old.start, uploaded: max(pm.head.EndOffset, last.LastOffset+1), bytes: old.bytes}
	for i := range es {
		st.bytes += es[i].Size
	}
	if len(pm.entries) == len(es) { // the first entries
		st.start = max(pm.head.LogStartOffset, pm.entries[0].BaseOffset)
	}
	st.end = max(st.uploaded, st.start)
	p.state.Store(st)
}

// UpdateConfig applies changed topic configs (remote.log.copy.disable, upload interval)
// from the next upload round on.
func (p *RemotePartition) UpdateConfig(pcfg PartitionConfig) {
	p.pcfg.Store(&pcfg)
	p.OnSealed()
}

// Config returns the partition's current PartitionConfig.
func (p *RemotePartition) Config() PartitionConfig { return *p.pcfg.Load() }

// Topic, Partition and TopicID identify the partition.
func (p *RemotePartition) Topic() string     { return p.topic }
func (p *RemotePartition) Partition() int32  { return p.partition }
func (p *RemotePartition) TopicID() [16]byte { return p.topicID }

// Bounds returns the remote offset range [start, end) the manifest names. ok is false while nothing was ever uploaded; after
// retention removed every remote segment, start == end (an empty remote range) and ok is true.
func (p *RemotePartition) Bounds() (start, end int64, ok bool) {
	st := p.state.Load()
	return st.start, st.end, st.end > 0 || len(st.entries) > 0
}

// OpenedWatermark returns the partition's watermark as OpenPartition read it (zero: none).
// A brand-new local log restarts at or after its ReservedEnd, so that offsets acknowledged
// before the disk was lost but never uploaded are not handed out again (watermark.go);
// the partition applies it, the tier never writes the local log.
func (p *RemotePartition) OpenedWatermark() PartitionWatermark { return p.openedWM }

// Entries returns the live manifest entries, oldest first (callers must not modify them).
func (p *RemotePartition) Entries() []SegmentEntry { return p.state.Load().entries }

// RemoteBytes returns the bytes of live remote segments.
func (p *RemotePartition) RemoteBytes() int64 { return p.state.Load().bytes }

// Fenced reports whether another writer took over the manifest; the partition no longer writes.
func (p *RemotePartition) Fenced() bool { return p.fenced.Load() }

// Uploaded reports whether seg's local copy may go (subject to local retention): true when the manifest names exactly seg's offset
// range, when seg is empty and not beyond the remote end, or when seg lies wholly below
// the remote log start (retention already removed those offsets).
func (p *RemotePartition) Uploaded(seg segment.SegmentInfo) bool {
	st := p.state.Load()
	if seg.NextOffset <= seg.BaseOffset {
		return st.end > 0 && seg.BaseOffset <= st.end
	}
	if st.start > 0 && seg.NextOffset <= st.start {
		return true
	}
	i := sort.Search(len(st.entries), func(i int) bool { return st.entries[i].BaseOffset >= seg.BaseOffset })
	return i < len(st.entries) && st.entries[i].BaseOffset == seg.BaseOffset && st.entries[i].LastOffset == seg.NextOffset-1
}

// OnSealed wakes the uploader: the local log sealed a segment.
func (p *RemotePartition) OnSealed() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// RollDue reports whether the active local segment holds data older than
// PartitionConfig.UploadInterval (remote.log.upload.interval.ms). The partition's
// maintenance (the single writer of the local log) calls it, and on true rolls the log and
// calls OnSealed, so that quiet partitions reach the bucket within the interval.
func (p *RemotePartition) RollDue(now time.Time) bool {
	pcfg := p.pcfg.Load()
	if pcfg.UploadInterval <= 0 || p.local == nil || pcfg.CopyDisabled {
		return false
	}
	segs := p.localSegmentsFrom(p.local.NextOffset())
	if len(segs) == 0 {
		return false
	}
	active := segs[len(segs)-1]
	return active.NextOffset > active.BaseOffset && !active.Created.IsZero() && now.Sub(active.Created) >= pcfg.UploadInterval
}

// localSegmentsFrom returns the local segments holding offsets at or above offset (and the
// active one).
func (p *RemotePartition) localSegmentsFrom(offset int64) []segment.SegmentInfo {
	return p.local.SegmentsFrom(offset)
}

// pendingSegments returns the sealed local segments not yet uploaded, oldest first.
func (p *RemotePartition) pendingSegments() []segment.SegmentInfo {
	if p.local == nil {
		return nil
	}
	st := p.state.Load()
	segs := p.localSegmentsFrom(st.uploaded)
	var out []segment.SegmentInfo
	for i, s := range segs {
		// Already uploaded, or wholly below the log start (deleted). A segment straddling
		// the start (DeleteRecords into not-yet-uploaded data) is uploaded whole; reads skip
		// its batches below the start.
		if i == len(segs)-1 || !s.Sealed || s.NextOffset <= s.BaseOffset || s.BaseOffset < st.uploaded || s.NextOffset <= st.start {
			continue
		}
		out = append(out, s)
	}
	return out
}

func (p *RemotePartition) updateLag() {
	var bytes, n int64
	for _, s := range p.pendingSegments() {
		bytes += s.Size
		n++
	}
	pl := []string{p.topic, fmt.Sprint(p.partition)}
	p.m.metrics.copyLagBytes.WithLabelValues(pl...).Set(float64(bytes))
	p.m.metrics.copyLagSegments.WithLabelValues(pl...).Set(float64(n))
}

// run is the partition's upload loop (owned by Manager.Run).
func (p *RemotePartition) run(ctx context.Context) {
	backoff := time.Duration(0)
	ticker := time.NewTicker(p.m.cfg.CheckInterval)
	defer ticker.Stop()
	p.lastSweep = p.m.now()
	for {
		uploaded, err := p.uploadPending(ctx)
		p.updateLag()
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, ErrFenced) {
			p.m.metrics.errors.WithLabelValues("copy").Inc()
			if uploaded > 0 {
				// The pass made progress before failing: the bucket works, this was one
				// failed request. Backing off further would let a flaky bucket (a few
				// percent of errors) stall uploads at RetryMaxBackoff while the backlog
				// grows (test/reliability, faulty store).
				backoff = 0
			}
			backoff = min(max(2*backoff, p.m.cfg.RetryBackoff), p.m.cfg.RetryMaxBackoff)
			if errors.Is(err, ErrNoBucket) || errors.Is(err, ErrAccessDenied) {
				// A misconfigured bucket: the broker's bucket probe logs it once, at ERROR,
				// with the fix; a line per partition and retry would bury it.
				p.log.Debug("remote upload failed; retrying", "err", err, "backoff", backoff)
			} else {
				p.log.Warn("remote upload failed; retrying", "err", err, "backoff", backoff)
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		if iv := p.m.cfg.OrphanSweepInterval; iv > 0 && p.m.now().Sub(p.lastSweep) >= iv {
			p.lastSweep = p.m.now()
			if _, err := p.SweepOrphans(ctx, p.m.now()); err != nil && ctx.Err() == nil {
				p.log.Warn("orphan sweep failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-ticker.C:
		}
	}
}

// uploadPending uploads every pending segment in offset order, stopping at the first error.
// It returns how many segments it uploaded (or found gone).
//
// The objects of up to Config.UploadConcurrency segments go up at once (each holding an
// upload slot), so that a backlog is not uploaded one round trip at a time; the manifest
// names them strictly in offset order, and nothing after a failed segment is named (the
// objects of later ones become orphans, swept later, and are uploaded again).
func (p *RemotePartition) uploadPending(ctx context.Context) (int, error) {
	if p.pcfg.Load().CopyDisabled || p.fenced.Load() {
		return 0, nil
	}
	pending := p.pendingSegments()
	if len(pending) == 0 {
		return 0, nil
	}
	type result struct {
		e   SegmentEntry
		err error
	}
	uctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	results := make([]chan result, len(pending))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	launch := func(i int) {
		wg.Go(func() {
			e, err := p.uploadSegmentObjects(uctx, pending[i])
			results[i] <- result{e, err}
		})
	}
	// The first segment of a pass goes alone: while the bucket is down, a pass costs one
	// attempt, not a window of them. Once it is named, the window opens.
	window, launched := 1, 0
	topUp := func(consumed int) {
		for launched < len(pending) && launched < consumed+window {
			launch(launched)
			launched++
		}
	}
	topUp(0)
	n := 0
	for i := 0; i < len(pending); {
		r := <-results[i]
		if r.err != nil {
			if errors.Is(r.err, os.ErrNotExist) && !p.stillLocal(pending[i]) {
				n++
				i++
				topUp(i)
				continue // deleted locally meanwhile (retention); nothing to upload
			}
			return n, r.err
		}
		// Name every segment whose objects are already up with one manifest write.
		batch := []SegmentEntry{r.e}
		j := i + 1
	drain:
		for j < launched {
			select {
			case r2 := <-results[j]:
				if r2.err != nil {
					results[j] <- r2 // handled by the next round of the loop
					break drain
				}
				batch = append(batch, r2.e)
				j++
			default:
				break drain
			}
		}
		if err := p.commitEntries(ctx, batch); err != nil {
			return n, err
		}
		n += len(batch)
		i = j
		window = max(1, p.m.cfg.UploadConcurrency)
		topUp(i)
	}
	return n, nil
}

// UploadPending uploads the partition's pending segments now, in the caller's goroutine
// (tools and tests; the broker relies on Run).
func (p *RemotePartition) UploadPending(ctx context.Context) error {
	_, err := p.uploadPending(ctx)
	p.updateLag()
	return err
}

// uploadSegmentObjects puts seg's objects while holding an upload slot.
func (p *RemotePartition) uploadSegmentObjects(ctx context.Context, seg segment.SegmentInfo) (SegmentEntry, error) {
	select {
	case p.m.sem <- struct{}{}:
	case <-ctx.Done():
		return SegmentEntry{}, ctx.Err()
	}
	defer func() { <-p.m.sem }()
	if p.fenced.Load() {
		return SegmentEntry{}, ErrFenced
	}
	return p.uploadObjects(ctx, seg)
}

// commitEntries appends es (in offset order), whose objects are in the bucket, to the
// manifest with one write.
func (p *RemotePartition) commitEntries(ctx context.Context, es []SegmentEntry) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if p.fenced.Load() {
		return ErrFenced
	}
	// Uploaded meanwhile (a reload), or deleted by SetLogStartOffset: their objects become
	// orphans.
	st := p.state.Load()
	keep := es[:0]
	for _, e := range es {
		if e.BaseOffset >= st.uploaded && e.LastOffset >= st.start {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	next, err := p.w.appendEntries(ctx, p.manifest, keep)
	p.m.metrics.manifestBytes.Add(float64(p.w.lastUpdate))
	if err != nil {
		return p.manifestErr(ctx, err)
	}
	p.manifest = next
	p.publishAppendedLocked(keep)
	for _, e := range keep {
		p.m.metrics.copyBytes.WithLabelValues(p.topic).Add(float64(e.Size))
		p.m.metrics.copySegments.WithLabelValues(p.topic).Inc()
		p.log.Info("segment uploaded", "base", e.BaseOffset, "last", e.LastOffset, "bytes", e.Size)
	}
	return nil
}

// manifestErr classifies a failed manifest write. Callers hold writeMu.
func (p *RemotePartition) manifestErr(ctx context.Context, err error) error {
	if errors.Is(err, errOwnWrite) {
		pm, lerr := loadManifest(ctx, p.m.store, p.prefix, p.w.cache)
		if lerr != nil {
			return fmt.Errorf("%w (reload failed: %w)", err, lerr)
		}
		p.manifest = pm
		p.publishLocked()
		p.log.Warn("manifest reloaded after a write whose response was lost", "seq", pm.head.Seq)
		return err
	}
	if errors.Is(err, ErrFenced) {
		if !p.fenced.Swap(true) {
			p.m.metrics.fenced.Inc()
			p.log.Error("manifest changed by another writer; this broker stops writing the partition", "err", err)
		}
		return err
	}
	p.m.metrics.errors.WithLabelValues("manifest").Inc()
	return err
}

func (p *RemotePartition) stillLocal(seg segment.SegmentInfo) bool {
	for _, s := range p.local.Segments() {
		if s.BaseOffset == seg.BaseOffset {
			return true
		}
	}
	return false
}

// uploadObjects scans the segment (framing, CRC-32C, remote indexes) and puts its data,
// index and time index objects under fresh keys. It does not touch the manifest.
func (p *RemotePartition) uploadObjects(ctx context.Context, seg segment.SegmentInfo) (SegmentEntry, error) {
	f, closeFile, err := p.openSegment(seg)
	if err != nil {
		return SegmentEntry{}, err
	}
	defer closeFile()
	// The SHA-256 of the whole .log and of every ChunkBytes block of it (the unit remote
	// reads fetch and check) are computed in the same pass.
	hasher := newBlockHasher(hashBlockFor(p.m.cfg.ChunkBytes))
	scan, err := scanSegment(io.TeeReader(io.NewSectionReader(f, 0, seg.Size), hasher), seg.Size, seg.BaseOffset, p.m.cfg.IndexIntervalBytes)
	if err != nil {
		return SegmentEntry{}, fmt.Errorf("cannot scan segment %q: %w", seg.LogPath, err)
	}
	if scan.batches == 0 || scan.lastOffset != seg.NextOffset-1 {
		return SegmentEntry{}, fmt.Errorf("%w: segment %q: batches end at offset %d, log says %d", segment.ErrCorrupt, seg.LogPath, scan.lastOffset, seg.NextOffset-1)
	}
	id := uuid.NewString()
	e := SegmentEntry{
		ID: id, BaseOffset: seg.BaseOffset, LastOffset: scan.lastOffset,
		FirstTimestamp: scan.firstTs, MaxTimestamp: scan.maxTs, Size: seg.Size, Batches: scan.batches,
		Log:       ObjectRef{Key: segmentObjectKey(p.prefix, seg.BaseOffset, id, ".log"), Size: seg.Size, CRC32C: scan.crc},
		Index:     ObjectRef{Key: segmentObjectKey(p.prefix, seg.BaseOffset, id, ".index"), Size: int64(len(scan.index))},
		TimeIndex: ObjectRef{Key: segmentObjectKey(p.prefix, seg.BaseOffset, id, ".timeindex"), Size: int64(len(scan.timeIndex))},
	}
	e.LeaderEpochs = &scan.epochs
	e.Index.CRC32C, e.Index.SHA256 = crc32c(scan.index), sha256Hex(scan.index)
	e.TimeIndex.CRC32C, e.TimeIndex.SHA256 = crc32c(scan.timeIndex), sha256Hex(scan.timeIndex)
	var blockSums []byte
	e.Log.SHA256, blockSums = hasher.finish()
	e.HashBlock = hasher.block
	if len(blockSums) > sha256Size {
		e.Hashes = &ObjectRef{Key: segmentObjectKey(p.prefix, seg.BaseOffset, id, ".hashes"), Size: int64(len(blockSums)),
			CRC32C: crc32c(blockSums), SHA256: sha256Hex(blockSums)}
	}
	// The objects go up concurrently: the small ones (indexes, producer snapshot) cost a
	// round trip each, which used to be added to every segment's upload time. Only the
	// manifest, written by the caller after all of them returned, names them.
	logKey, idxKey, tidxKey := e.Log.Key, e.Index.Key, e.TimeIndex.Key
	var snap SegmentEntry // the snapshot's ref and offset, copied into e after Wait
	lock := p.objectLock(scan.maxTs, p.m.now())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var body io.Reader = io.NewSectionReader(f, 0, seg.Size)
		if p.m.limiter != nil {
			body = &limitedReader{ctx: gctx, r: body.(io.ReadSeeker), lim: p.m.limiter}
		}
		if err := p.put(gctx, logKey, body, seg.Size, lock); err != nil {
			return fmt.Errorf("cannot put %q: %w", logKey, err)
		}
		return nil
	})
	g.Go(func() error {
		if err := p.put(gctx, idxKey, bytes.NewReader(scan.index), int64(len(scan.index)), lock); err != nil {
			return fmt.Errorf("cannot put %q: %w", idxKey, err)
		}
		return nil
	})
	g.Go(func() error {
		if err := p.put(gctx, tidxKey, bytes.NewReader(scan.timeIndex), int64(len(scan.timeIndex)), lock); err != nil {
			return fmt.Errorf("cannot put %q: %w", tidxKey, err)
		}
		return nil
	})
	if e.Hashes != nil {
		hkey := e.Hashes.Key
		g.Go(func() error {
			if err := p.put(gctx, hkey, bytes.NewReader(blockSums), int64(len(blockSums)), lock); err != nil {
				return fmt.Errorf("cannot put %q: %w", hkey, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		snap.ID, snap.BaseOffset = id, seg.BaseOffset
		return p.uploadProducerSnapshot(gctx, seg, &snap, lock)
	})
	if err := g.Wait(); err != nil {
		return SegmentEntry{}, err
	}
	e.ProducerSnapshot, e.ProducerSnapshotOffset = snap.ProducerSnapshot, snap.ProducerSnapshotOffset
	if e.AbortedTxns, err = segmentAbortedTxns(seg); err != nil { // txnindex.go
		return SegmentEntry{}, err
	}
	e.UploadTime = p.m.now().UTC()
	return e, nil
}

// openSegment returns a reader of seg's .log: the log's own open file when the log can
// serve the whole segment (this works on any segment.FS), else the file at seg.LogPath.
func (p *RemotePartition) openSegment(seg segment.SegmentInfo) (io.ReaderAt, func(), error) {
	if rr, err := p.local.Read(seg.BaseOffset, int(min(seg.Size, math.MaxInt32)), true); err == nil && rr.Position == 0 && rr.File != nil {
		return rr.File, func() {}, nil
	}
	f, err := os.Open(seg.LogPath)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open segment %q: %w", seg.LogPath, err)
	}
	return f, func() { f.Close() }, nil
}

// limitedReader charges every read against the upload bandwidth limiter. It keeps Seek
// so that stores which rewind a body (retries, payload signing) still can.
type limitedReader struct {
	ctx context.Context
	r   io.ReadSeeker
	lim *rate.Limiter
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if burst := l.lim.Burst(); len(b) > burst {
		b = b[:burst]
	}
	n, err := l.r.Read(b)
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (l *limitedReader) Seek(off int64, whence int) (int64, error) { return l.r.Seek(off, whence) }
