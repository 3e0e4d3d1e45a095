package tiering

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SetLogStartOffset raises the remote log start to offset
// (DeleteRecords, retention). The manifest is written first; only then are the objects of
// segments wholly below offset (and spilled manifest chunks wholly below it) deleted.
// Failed deletes are left to the orphan sweep. Lowering the start is a no-op.
func (p *RemotePartition) SetLogStartOffset(ctx context.Context, offset int64) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	return p.setLogStartLocked(ctx, offset, "log-start")
}

// setLogStartLocked moves the remote log start; reason is recorded in the chain's
// deletion link ("retention" or "log-start").
func (p *RemotePartition) setLogStartLocked(ctx context.Context, offset int64, reason string) error {
	if offset <= p.state.Load().start {
		return nil
	}
	if p.fenced.Load() {
		return ErrFenced
	}
	next, dead, deadChunks, err := p.w.setLogStart(ctx, p.manifest, offset, reason)
	p.m.metrics.manifestBytes.Add(float64(p.w.lastUpdate))
	if err != nil {
		return p.manifestErr(ctx, err)
	}
	p.manifest = next
	p.publishLocked()
	if len(dead) > 0 {
		p.m.metrics.deletedSegments.WithLabelValues(p.topic).Add(float64(len(dead)))
		p.log.Info("remote segments deleted", "count", len(dead), "logStartOffset", offset)
	}
	if d := p.m.cfg.DeleteDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil // the manifest no longer names them: the orphan sweep finishes the job
		case <-t.C:
		}
	}
	var keys []string
	for i := range dead {
		for _, r := range dead[i].objects() {
			keys = append(keys, r.Key)
		}
	}
	for _, c := range deadChunks {
		keys = append(keys, c.Key)
		p.w.cache.remove(c.Key)
	}
	for _, k := range keys {
		if err := p.m.store.Delete(ctx, k); err != nil {
			p.m.metrics.errors.WithLabelValues("delete").Inc()
			if deleteRefused(err) {
				p.m.metrics.deleteRefused.Inc()
				p.log.Warn("remote object not deleted: the bucket refuses (object lock retention?); the manifest no longer names it, the orphan sweep retries", "key", k, "logStartOffset", offset, "err", err)
				continue
			}
			p.log.Warn("cannot delete remote object; the orphan sweep will retry", "key", k, "err", err)
		}
	}
	return nil
}

// ApplyRetention applies the topic's total retention to the remote part: remote segments
// whose max timestamp is older than now-retentionMs, and the oldest remote segments while
// the whole log (remote bytes + localBytes, the local bytes not yet remote) stays at or above
// retentionBytes without them, are dropped (Kafka's retention.ms / retention.bytes; -1 =
// unlimited). It returns the new remote log start offset; the broker raises the local log
// start to it as well.
func (p *RemotePartition) ApplyRetention(ctx context.Context, retentionMs, retentionBytes, localBytes int64, now time.Time) (int64, error) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	st := p.state.Load()
	cut := -1
	if retentionMs >= 0 {
		limit := now.UnixMilli() - retentionMs
		for i := range st.entries {
			if st.entries[i].MaxTimestamp >= limit {
				break
			}
			cut = i
		}
	}
	if retentionBytes >= 0 {
		total := st.bytes + localBytes
		for i := range st.entries {
			if total-st.entries[i].Size < retentionBytes {
				break
			}
			total -= st.entries[i].Size
			cut = max(cut, i)
		}
	}
	if cut < 0 {
		return st.start, nil
	}
	newStart := st.entries[cut].LastOffset + 1
	if err := p.setLogStartLocked(ctx, newStart, "retention"); err != nil {
		return st.start, err
	}
	return p.state.Load().start, nil
}

// SweepOrphans deletes objects under the partition's prefix that no manifest names and
// that are older than Config.OrphanGrace at now. The named set comes from a fresh read of
// the manifest in the bucket (not this broker's memory), so a newer writer's objects are
// never mistaken for orphans. It returns how many objects it deleted.
func (p *RemotePartition) SweepOrphans(ctx context.Context, now time.Time) (int, error) {
	pm, err := loadManifest(ctx, p.m.store, p.prefix, p.w.cache)
	if err != nil {
		p.m.metrics.errors.WithLabelValues("manifest").Inc()
		return 0, fmt.Errorf("cannot sweep orphans of %s-%d: %w", p.topic, p.partition, err)
	}
	// A manifest that fails its chain may have been rolled back or cut: the objects it
	// does not name are then evidence (and data), not orphans.
	if err := pm.chainErr(); err != nil {
		return 0, fmt.Errorf("not sweeping orphans of %s-%d: %w", p.topic, p.partition, err)
	}
	named := map[string]bool{p.prefix + headManifestName: true, p.prefix + WatermarkName: true}
	for _, c := range pm.chunks {
		named[c.Key] = true
	}
	for i := range pm.entries {
		for _, r := range pm.entries[i].objects() {
			named[r.Key] = true
		}
	}
	cutoff := now.Add(-p.m.cfg.OrphanGrace)
	var orphans []string
	err = p.m.store.List(ctx, p.prefix, func(oi ObjectInfo) error {
		if !named[oi.Key] && oi.LastModified.Before(cutoff) {
			orphans = append(orphans, oi.Key)
		}
		return nil
	})
	if err != nil {
		p.m.metrics.errors.WithLabelValues("list").Inc()
		return 0, fmt.Errorf("cannot list %q: %w", p.prefix, err)
	}
	n := 0
	var errs []error
	for _, k := range orphans {
		if err := p.m.store.Delete(ctx, k); err != nil {
			p.m.metrics.errors.WithLabelValues("delete").Inc()
			if deleteRefused(err) {
				p.m.metrics.deleteRefused.Inc()
			}
			errs = append(errs, fmt.Errorf("cannot delete orphan %q: %w", k, err))
			continue
		}
		n++
		p.m.metrics.orphansSwept.Inc()
	}
	if n > 0 {
		p.log.Info("remote orphans swept", "count", n)
	}
	return n, errors.Join(errs...)
}
