package tiering

// Watermarks: offsets a restore must not hand out again.
//
//	<prefix>/<topic>-<topicID>/<partition>/watermark.json   (mutable, small)
//	{"version": 1, "kind": "strata.partition.watermark", "topic", "topicId", "partition",
//	 "logEnd": 1234,        // the local log end (next offset) when written
//	 "reservedEnd": 1300,   // offsets below it may have been acknowledged; see below
//	 "writer": "<uuid>", "updated": "<RFC 3339>"}
//
// Records acknowledged but not yet uploaded are lost with the disk. Before watermarks, a
// restore onto an empty data dir restarted the log at the manifest's end, so new records got
// the lost records' offsets and a consumer that had read those offsets saw other data there.
// Now every Config.WatermarkInterval each partition whose log end moved writes watermark.json,
// and a brand-new local log (next offset 0) restarts at the largest of the manifest's end
// and the watermark's reservedEnd (OpenedWatermark; package partition applies it: the tier
// never writes the local log): new records start after a gap, never on a used offset.
//
// reservedEnd = logEnd + 2 x (logEnd - the logEnd written before): the broker may append that
// many records (twice the last interval's) before the next write, and the broker's append
// path calls NoteLogEnd, which writes at once (not waiting for the interval) when the log end
// passes the reserved end. So an offset can be reused only when the disk is lost within the
// moment between a burst passing the reservation and that write, or while the bucket is
// unreachable (appends are never held up by the bucket). The watermark is best effort in that
// sense; the gap it leaves costs nothing but offsets.
//
// At a clean stop the broker writes every partition's exact end without a reservation
// (Manager.WriteFinalWatermarks), so a restore after a clean stop leaves no gap.
//
// Only the partition's writer writes it (not when fenced); it is deleted with the topic's
// objects and is never an orphan.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// WatermarkName is the watermark object's name in a partition prefix.
const WatermarkName = "watermark.json"

// PartitionWatermark is watermark.json.
type PartitionWatermark struct {
	Version     int       `json:"version"`
	Kind        string    `json:"kind"`
	Topic       string    `json:"topic"`
	TopicID     string    `json:"topicId"`
	Partition   int32     `json:"partition"`
	LogEnd      int64     `json:"logEnd"`
	ReservedEnd int64     `json:"reservedEnd"`
	Writer      string    `json:"writer"`
	Updated     time.Time `json:"updated"`
}

// ReadWatermark returns a partition's watermark; a zero value (nil error) when there is none.
func ReadWatermark(ctx context.Context, store ObjectStore, partPrefix string) (PartitionWatermark, error) {
	key := partPrefix + WatermarkName
	b, err := readAll(ctx, store, key)
	if errors.Is(err, ErrNotExist) {
		return PartitionWatermark{}, nil
	}
	if err != nil {
		return PartitionWatermark{}, fmt.Errorf("cannot read watermark %q: %w", key, err)
	}
	var w PartitionWatermark
	if err := json.Unmarshal(b, &w); err != nil || w.Kind != "strata.partition.watermark" {
		return PartitionWatermark{}, fmt.Errorf("watermark %q: %w", key, ErrCorruptManifest)
	}
	if w.LogEnd < 0 || w.ReservedEnd < w.LogEnd {
		return PartitionWatermark{}, fmt.Errorf("watermark %q: logEnd %d, reservedEnd %d: %w", key, w.LogEnd, w.ReservedEnd, ErrCorruptManifest)
	}
	return w, nil
}

// watermarkState is a partition's watermark bookkeeping.
type watermarkState struct {
	mu       sync.Mutex // serialises writes; lock order: writeMu is never held with it
	written  int64      // logEnd of the last watermark written (or read at open)
	reserved int64      // reservedEnd of the last watermark written (or read at open); read by NoteLogEnd
}

// NoteLogEnd tells the partition its local log now ends at next (the broker calls it after
// appends). When next passes the reserved end of the last watermark, the manager's watermark
// loop writes a new one at once. It costs an atomic load otherwise.
func (p *RemotePartition) NoteLogEnd(next int64) {
	if p.m.cfg.WatermarkInterval <= 0 || next <= p.wmReserved.Load() {
		return
	}
	select {
	case p.m.wmWake <- struct{}{}:
	default:
	}
}

// WriteFinalWatermarks records, at a clean stop, every open partition's exact log end with
// no reservation (reservedEnd = logEnd): nothing more will be acknowledged, so a restore
// continues right after the last record instead of after a reserve. The caller must have
// stopped appends and Run. Failures are logged; a partition keeps its last watermark.
func (m *Manager) WriteFinalWatermarks(ctx context.Context) {
	if m.cfg.WatermarkInterval <= 0 {
		return
	}
	m.mu.Lock()
	parts := make([]*RemotePartition, 0, len(m.parts))
	for _, p := range m.parts {
		parts = append(parts, p)
	}
	m.mu.Unlock()
	var g errgroup.Group
	g.SetLimit(16)
	for _, p := range parts {
		g.Go(func() error {
			if err := p.writeWatermarkAt(ctx, true, true); err != nil {
				p.log.Warn("cannot write the final watermark", "err", err)
			}
			return nil
		})
	}
	g.Wait()
}

// writeWatermark writes watermark.json when the local log end moved since the last one
// (always, with force). It is a no-op for read-only and fenced partitions.
func (p *RemotePartition) writeWatermark(ctx context.Context, force bool) error {
	return p.writeWatermarkAt(ctx, force, false)
}

// writeWatermarkAt is writeWatermark; final writes the exact end without a reservation.
func (p *RemotePartition) writeWatermarkAt(ctx context.Context, force, final bool) error {
	if p.local == nil || p.fenced.Load() {
		return nil
	}
	p.wm.mu.Lock()
	defer p.wm.mu.Unlock()
	end := p.local.NextOffset()
	if end <= p.wm.written && !force {
		return nil
	}
	if final && (end < p.wm.written || end == p.wm.reserved) {
		return nil // the log went backwards (lost unflushed data): keep the reservation; or nothing to say
	}
	delta := max(end-p.wm.written, 0)
	reserved := max(end+2*delta, p.wm.reserved)
	if final {
		reserved = end
	}
	w := PartitionWatermark{
		Version: 1, Kind: "strata.partition.watermark", Topic: p.topic, TopicID: TopicIDString(p.topicID),
		Partition: p.partition, LogEnd: end, ReservedEnd: reserved, Writer: p.m.id,
		Updated: p.m.now().UTC(),
	}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	key := p.prefix + WatermarkName
	if err := p.m.store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		p.m.metrics.errors.WithLabelValues("watermark").Inc()
		return fmt.Errorf("cannot write watermark %q: %w", key, err)
	}
	p.wm.written, p.wm.reserved = w.LogEnd, w.ReservedEnd
	p.wmReserved.Store(w.ReservedEnd)
	return nil
}

// watermarkLoop writes the watermarks of all open partitions every WatermarkInterval, and
// at once for partitions whose log end passed their reservation (NoteLogEnd).
func (m *Manager) watermarkLoop(ctx context.Context) {
	tick := time.NewTicker(m.cfg.WatermarkInterval)
	defer tick.Stop()
	failing := false
	for {
		urgent := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-m.wmWake:
			urgent = true
		}
		m.mu.Lock()
		parts := make([]*RemotePartition, 0, len(m.parts))
		for _, p := range m.parts {
			if !urgent || (p.local != nil && p.local.NextOffset() > p.wmReserved.Load()) {
				parts = append(parts, p)
			}
		}
		m.mu.Unlock()
		var (
			errMu    sync.Mutex
			firstErr error
			g        errgroup.Group
		)
		g.SetLimit(16) // small PUTs: many partitions' in one round trip's time
		for _, p := range parts {
			g.Go(func() error {
				wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if err := p.writeWatermark(wctx, false); err != nil {
					errMu.Lock()
					firstErr = cmp.Or(firstErr, err)
					errMu.Unlock()
				}
				return nil
			})
		}
		g.Wait()
		if ctx.Err() != nil {
			return
		}
		switch {
		case firstErr != nil && !failing && ctx.Err() == nil:
			failing = true
			m.log.Warn("cannot write partition watermarks; retrying", "err", firstErr)
		case firstErr == nil && failing:
			failing = false
			m.log.Info("partition watermarks written again")
		}
	}
}
