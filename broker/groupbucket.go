package broker

// Consumer-group offsets in the bucket's self-description.
//
// With a remote tier, the group coordinator's state (committed offsets and group
// metadata, <data-dir>/meta/groups) is copied to <remote.log.prefix>/_groups/groups.snapshot
// (tiering.GroupsSnapshotKey) as one whole snapshot: at most once per
// strata.remote.groups.upload.interval.ms (default 5 s) while it changed, and once more on
// a clean stop. A broker that starts on an empty data dir installs that snapshot before it
// opens the coordinator, so every group resumes at the offsets it had committed.
//
// The bound, stated: an offset commit is acknowledged once it is fsynced locally, not once
// it is in the bucket. If the disk is lost, commits acknowledged within the last upload
// interval (plus the time an upload takes; longer while the bucket is unreachable, see
// strata_groups_bucket_upload_lag_seconds) may be lost; the restored group then resumes
// at an earlier committed offset and re-reads records (at-least-once), never skips any.
//
// Crash safety: the snapshot is written with a single Put of the whole object, which the
// ObjectStore contract makes atomic (a failed or cut upload leaves the previous object),
// and uploads are made one at a time by one goroutine in the order of the store's sequence
// numbers. So the object in the bucket is always a complete snapshot, never older than a
// previously completed upload. A snapshot that fails its checks (CRC of every record, the
// record count) stops the restore with an error instead of starting with no offsets.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/broker/group"
	"github.com/strata-io/strata/tiering"
)

// groupsBucket is the upload state of the groups snapshot.
type groupsBucket struct {
	upload   sync.Mutex // one upload at a time; guards uploaded
	uploaded uint64     // sequence number of the last snapshot in the bucket

	mu    sync.Mutex // guards dirty; never held during I/O
	dirty time.Time  // when the state first differed from the bucket's copy; zero = same

	uploads *prometheus.CounterVec // result: ok, error
	lag     prometheus.GaugeFunc
}

func (b *Broker) groupsBucketEnabled() bool {
	return b.tier != nil && b.cfg.RemoteGroupsUploadInterval > 0
}

func (b *Broker) newGroupsBucketMetrics() {
	gb := &b.groupsBkt
	gb.uploads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_groups_bucket_uploads_total",
		Help: "Uploads of the consumer-group snapshot (committed offsets) to the bucket, by result (ok, error).",
	}, []string{"result"})
	gb.lag = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "strata_groups_bucket_upload_lag_seconds",
		Help: "How long the consumer-group state has differed from its copy in the bucket (0: the same): the commits a lost disk would lose.",
	}, func() float64 {
		gb.mu.Lock()
		defer gb.mu.Unlock()
		if gb.dirty.IsZero() {
			return 0
		}
		return time.Since(gb.dirty).Seconds()
	})
	if r := b.cfg.Registerer; r != nil && b.groupsBucketEnabled() {
		// A broker restarted in the same process (tests) keeps counting into the same
		// series; the lag gauge is this broker's.
		gb.uploads = registerOrExisting(r, gb.uploads)
		if err := r.Register(gb.lag); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				r.Unregister(are.ExistingCollector)
				r.Register(gb.lag)
			}
		}
	}
}

// restoreGroups installs the bucket's groups snapshot into dir when the data dir is fresh
// and dir holds no store. It runs before the group store is opened.
func (b *Broker) restoreGroups(dir string) error {
	if b.tier == nil || !b.freshDir {
		return nil
	}
	for _, name := range []string{"groups.snapshot", "groups.log"} {
		if _, err := b.fs().Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	key := tiering.GroupsSnapshotKey(b.cfg.RemotePrefix)
	data, ok, err := b.readRestoreObject(key)
	if err != nil || !ok {
		return err
	}
	n, err := group.InstallSnapshot(b.fs(), dir, data)
	if err != nil {
		return fmt.Errorf("cannot restore consumer groups from %q: %w", key, err)
	}
	b.logger.Info("consumer groups restored from bucket", "key", key, "records", n)
	return nil
}

// readRestoreObject reads key for a restore onto an empty data dir. A missing object is
// ok=false; any other error stops the start (the restore would be incomplete).
func (b *Broker) readRestoreObject(key string) (data []byte, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	rc, err := b.cfg.RemoteStore.GetRange(ctx, key, 0, -1)
	if errors.Is(err, tiering.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read %q from the bucket: %w", key, err)
	}
	defer rc.Close()
	data, err = io.ReadAll(io.LimitReader(rc, 1<<30))
	if err != nil {
		return nil, false, fmt.Errorf("cannot read %q from the bucket: %w", key, err)
	}
	return data, true, nil
}

// uploadGroups puts the groups snapshot when the state changed since the last upload.
func (b *Broker) uploadGroups(ctx context.Context) error {
	gb := &b.groupsBkt
	gb.upload.Lock()
	defer gb.upload.Unlock()
	setDirty := func(clean bool) {
		gb.mu.Lock()
		defer gb.mu.Unlock()
		switch {
		case clean:
			gb.dirty = time.Time{}
		case gb.dirty.IsZero():
			gb.dirty = time.Now()
		}
	}
	if b.groupStore.DurableSeq() == gb.uploaded {
		setDirty(true)
		return nil
	}
	setDirty(false)
	data, seq := b.groupStore.Snapshot()
	key := tiering.GroupsSnapshotKey(b.cfg.RemotePrefix)
	if err := b.cfg.RemoteStore.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		gb.uploads.WithLabelValues("error").Inc()
		return fmt.Errorf("cannot put %q: %w", key, err)
	}
	gb.uploads.WithLabelValues("ok").Inc()
	gb.uploaded = seq
	if b.groupStore.DurableSeq() == seq {
		setDirty(true)
	}
	return nil
}

// bucketMetaLoop writes missing topic manifests once, then uploads the groups snapshot
// every strata.remote.groups.upload.interval.ms while it changes, and writes or deletes
// the queued topic manifests of topics that are not tiered when queued (or at the same
// interval while that fails).
func (b *Broker) bucketMetaLoop(ctx context.Context) {
	b.syncTopicManifests(ctx) // topicbucket.go
	interval := b.cfg.RemoteGroupsUploadInterval
	if interval <= 0 {
		interval = time.Minute // topic manifests' retries only
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		b.flushTopicManifests(ctx) // topicbucket.go
		if b.groupsBucketEnabled() {
			octx, cancel := context.WithTimeout(ctx, tierOpTimeout)
			err := b.uploadGroups(octx)
			cancel()
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				b.logger.Warn("cannot upload consumer groups to the bucket; retrying", "err", err)
				failing = true
			case err == nil && failing:
				b.logger.Info("consumer groups uploaded to the bucket again")
				failing = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-b.topicQ.wake:
		}
	}
}

// finalGroupsUpload uploads the groups state on a clean stop, after the coordinator
// stopped and before its store closes.
func (b *Broker) finalGroupsUpload() {
	if !b.groupsBucketEnabled() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	if err := b.uploadGroups(ctx); err != nil {
		b.logger.Warn("cannot upload consumer groups to the bucket at stop", "err", err)
	}
}
