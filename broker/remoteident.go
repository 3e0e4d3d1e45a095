package broker

// Which remote store a data directory belongs to, and which broker a bucket prefix belongs to.
//
// <data-dir>/meta/remote-store.json  {"version":1,"store":"<Config.RemoteStoreID or none>","prefix":"..."}
//
// The data dir records where its remote data lives the first time it starts with a store.
// A later start with another store or prefix is refused (checkRemoteStoreRecord): the
// partitions' history below their local start lives only in the recorded store, so starting
// elsewhere would silently move every tiered partition's log start up to its local start
// (and back again when the old store returns). Config.RemoteStoreChangeAllowed (strata serve
// --accept-tier-store-change) records the new store instead: a deliberate migration after the
// objects were copied. A data dir that never had a store ("none") may gain one.
//
// <prefix>/_cluster/owner.json  {"version":1,"kind":"strata.owner","clusterId","directoryId",
//                                "incarnation","host","pid","dataDir","heartbeat","heartbeatIntervalMs","released"}
//
// A broker owns the bucket prefix it tiers to. At start it reads owner.json and
//   - claims the prefix when there is none (conditional create);
//   - refuses to start when it names another cluster (two clusters sharing a prefix), or
//     another data directory (directory.id in meta.properties) whose heartbeat is younger
//     than bucketOwnerStaleBeats heartbeats and not released: a second broker, typically on
//     an empty data dir that would restore the first one's topics and then write the same
//     partitions;
//   - takes it over otherwise (its own previous run, which the data dir lock proves dead; a
//     broker that stopped cleanly, which releases the prefix; one that stopped heartbeating:
//     the disk was lost).
// A fresh data dir (no topics.json) adopts the cluster id the prefix names, so a restore is
// the same cluster. While running, the owner rewrites owner.json every bucketOwnerHeartbeat
// with a conditional put on the ETag it wrote last; when that fails because another broker
// rewrote it, this broker fences its remote tier (tiering.Manager.Fence): it stops uploading,
// deleting and writing manifests, and logs an error. The partitions' manifests are fenced
// on their own too (conditional puts, see package tiering), so two writers never both
// extend one partition's history.
//
// Both checks run only when Config.RemoteStoreID is set (cmd/strata always sets it).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

const (
	remoteStoreFileName = "remote-store.json"
	bucketOwnerKey      = "_cluster/owner.json"
	// bucketOwnerStaleBeats heartbeats missed make an owner stale: another data dir may
	// take the prefix over.
	bucketOwnerStaleBeats = 3
)

// bucketOwnerHeartbeat is how often the owner rewrites owner.json (a variable for tests).
// One small PUT every 10 s costs about 8,640 requests a day per broker.
var bucketOwnerHeartbeat = 10 * time.Second

type remoteStoreRecord struct {
	Version int    `json:"version"`
	Store   string `json:"store"`
	Prefix  string `json:"prefix"`
}

func (r remoteStoreRecord) String() string {
	if r.Prefix == "" {
		return r.Store
	}
	return fmt.Sprintf("%s with prefix %q", r.Store, r.Prefix)
}

// currentRemoteStore describes the store this broker tiers to.
func (b *Broker) currentRemoteStore() remoteStoreRecord {
	if b.tier == nil {
		return remoteStoreRecord{Version: 1, Store: "none"}
	}
	return remoteStoreRecord{Version: 1, Store: b.cfg.RemoteStoreID, Prefix: b.cfg.RemotePrefix}
}

// checkRemoteStoreRecord compares the data dir's remote-store.json with the configured
// store; see the file comment.
func (b *Broker) checkRemoteStoreRecord() error {
	if b.cfg.RemoteStoreID == "" {
		return nil
	}
	path := filepath.Join(b.metaDir(), remoteStoreFileName)
	cur := b.currentRemoteStore()
	write := func() error {
		data, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		return b.writeMetaFile(path, append(data, '\n'))
	}
	data, err := segment.ReadFile(b.fs(), path)
	if errors.Is(err, fs.ErrNotExist) {
		return write()
	}
	if err != nil {
		return fmt.Errorf("cannot read %q: %w", path, err)
	}
	var rec remoteStoreRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Store == "" {
		return fmt.Errorf("cannot parse %q: %v", path, err)
	}
	switch {
	case rec.Store == cur.Store && rec.Prefix == cur.Prefix:
		return nil
	case rec.Store == "none":
		b.logger.Info("data dir now tiered", "store", cur.String())
		return write()
	case b.cfg.RemoteStoreChangeAllowed:
		b.logger.Warn("remote store of the data dir changed on request", "was", rec.String(), "now", cur.String())
		return write()
	}
	return fmt.Errorf("data dir %q keeps its remote data in %s, but this broker is configured with %s: "+
		"starting would hide the history of every tiered partition; start it with the recorded store "+
		"(strata.tier.*), or once with --accept-tier-store-change after copying the objects to the new store",
		b.cfg.DataDir, rec, cur)
}

// bucketOwner is owner.json.
type bucketOwner struct {
	Version     int       `json:"version"`
	Kind        string    `json:"kind"`
	ClusterID   string    `json:"clusterId"`
	DirectoryID string    `json:"directoryId"`
	Incarnation string    `json:"incarnation"`
	Host        string    `json:"host,omitempty"`
	PID         int       `json:"pid,omitempty"`
	DataDir     string    `json:"dataDir,omitempty"`
	Heartbeat   time.Time `json:"heartbeat"`
	IntervalMs  int64     `json:"heartbeatIntervalMs"`
	Released    bool      `json:"released,omitempty"`
}

func (o *bucketOwner) holder() string {
	return fmt.Sprintf("pid %d on host %s, data dir %s", o.PID, o.Host, o.DataDir)
}

// ownerState is this broker's claim on its prefix.
type ownerState struct {
	enabled     bool
	incarnation string
	etag        string // of the owner.json this broker wrote last; "" = not claimed yet
	lost        bool   // another broker took the prefix: the tier is fenced
}

func (b *Broker) bucketOwnerKey() string {
	p := strings.TrimSuffix(b.cfg.RemotePrefix, "/")
	if p == "" {
		return bucketOwnerKey
	}
	return p + "/" + bucketOwnerKey
}

// readBucketOwner returns owner.json and its ETag; nil when there is none.
func (b *Broker) readBucketOwner(ctx context.Context) (*bucketOwner, string, error) {
	key := b.bucketOwnerKey()
	for range 3 {
		st, err := b.cfg.RemoteStore.Stat(ctx, key)
		if errors.Is(err, tiering.ErrNotExist) {
			return nil, "", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("cannot read %q: %w", key, err)
		}
		rc, err := b.cfg.RemoteStore.GetRange(ctx, key, 0, -1)
		if errors.Is(err, tiering.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("cannot read %q: %w", key, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return nil, "", fmt.Errorf("cannot read %q: %w", key, err)
		}
		after, err := b.cfg.RemoteStore.Stat(ctx, key)
		if err != nil || after.ETag != st.ETag {
			continue // rewritten while read
		}
		var o bucketOwner
		if err := json.Unmarshal(data, &o); err != nil || o.Kind != "strata.owner" {
			return nil, "", fmt.Errorf("cannot parse %q: not a Strata owner record (%v)", key, err)
		}
		return &o, st.ETag, nil
	}
	return nil, "", fmt.Errorf("cannot read %q: it keeps changing", key)
}

// putBucketOwner writes owner.json if its ETag is still ifMatch ("" = must not exist).
func (b *Broker) putBucketOwner(ctx context.Context, released bool, ifMatch string) (string, error) {
	host, _ := os.Hostname()
	dir, _ := filepath.Abs(b.cfg.DataDir)
	o := bucketOwner{
		Version: 1, Kind: "strata.owner", ClusterID: b.clusterID, DirectoryID: b.directoryID,
		Incarnation: b.owner.incarnation, Host: host, PID: os.Getpid(), DataDir: dir,
		Heartbeat: time.Now().UTC(), IntervalMs: bucketOwnerHeartbeat.Milliseconds(), Released: released,
	}
	data, err := json.Marshal(o)
	if err != nil {
		return "", err
	}
	key := b.bucketOwnerKey()
	if cp, ok := b.cfg.RemoteStore.(tiering.ConditionalPutter); ok {
		return cp.PutIf(ctx, key, bytes.NewReader(data), int64(len(data)), ifMatch)
	}
	// Without conditional puts the claim is checked but not atomic.
	if err := b.cfg.RemoteStore.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return "", err
	}
	st, err := b.cfg.RemoteStore.Stat(ctx, key)
	return st.ETag, err
}

// errPrefixTaken: the prefix belongs to another broker (refuse to start, or fence).
var errPrefixTaken = errors.New("bucket prefix in use")

// judgeOwner decides whether this broker may take the prefix from o.
func (b *Broker) judgeOwner(o *bucketOwner, now time.Time) error {
	where := "the bucket"
	if b.cfg.RemotePrefix != "" {
		where = fmt.Sprintf("bucket prefix %q", b.cfg.RemotePrefix)
	}
	if o.ClusterID != b.clusterID {
		return fmt.Errorf("%w: %s belongs to cluster %s (%s), not to this data dir's cluster %s: "+
			"two brokers must not share a prefix; give this broker its own strata.tier.prefix",
			errPrefixTaken, where, o.ClusterID, o.holder(), b.clusterID)
	}
	if o.DirectoryID == b.directoryID || o.Incarnation == b.owner.incarnation || o.Released {
		return nil
	}
	beat := max(time.Duration(o.IntervalMs)*time.Millisecond, bucketOwnerHeartbeat)
	stale := o.Heartbeat.Add(bucketOwnerStaleBeats * beat)
	if now.Before(stale) {
		return fmt.Errorf("%w: %s is in use by another strata broker (%s; heartbeat %s ago): "+
			"two brokers must not write one prefix; stop that broker first (if it is gone, start this one again after %s) "+
			"or give this broker its own strata.tier.prefix",
			errPrefixTaken, where, o.holder(), now.Sub(o.Heartbeat).Round(time.Second), stale.UTC().Format(time.RFC3339))
	}
	b.logger.Warn("taking over a bucket prefix whose broker stopped heartbeating", "previous", o.holder(),
		"last_heartbeat", o.Heartbeat)
	return nil
}

// claimBucketOwner takes the prefix for this broker or returns an error wrapping
// errPrefixTaken. Other errors are the bucket's.
func (b *Broker) claimBucketOwner(ctx context.Context) error {
	for range 5 {
		o, etag, err := b.readBucketOwner(ctx)
		if err != nil {
			return err
		}
		if o != nil {
			if err := b.judgeOwner(o, time.Now()); err != nil {
				return err
			}
		}
		newTag, err := b.putBucketOwner(ctx, false, etag)
		if errors.Is(err, tiering.ErrPreconditionFailed) {
			continue // raced with another writer: judge again
		}
		if err != nil {
			return fmt.Errorf("cannot write %q: %w", b.bucketOwnerKey(), err)
		}
		b.owner.etag = newTag
		return nil
	}
	return fmt.Errorf("cannot claim %q: it keeps changing", b.bucketOwnerKey())
}

// startBucketOwner claims the prefix at start-up (after meta.properties is loaded). A bucket
// that cannot be reached does not stop an existing data dir from starting: the heartbeat
// loop claims the prefix once the bucket answers.
func (b *Broker) startBucketOwner() error {
	if b.tier == nil || b.cfg.RemoteStoreID == "" {
		return nil
	}
	b.owner = ownerState{enabled: true, incarnation: uuid.NewString()}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	err := b.claimBucketOwner(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errPrefixTaken):
		return err
	case b.freshDir:
		return fmt.Errorf("cannot check who owns the bucket prefix before restoring: %w", err)
	}
	b.logger.Warn("cannot claim the bucket prefix yet; retrying in the background", "err", err)
	return nil
}

// bucketOwnerLoop heartbeats owner.json until ctx is done; see the file comment.
func (b *Broker) bucketOwnerLoop(ctx context.Context) {
	tick := time.NewTicker(bucketOwnerHeartbeat)
	defer tick.Stop()
	failing := false
	for !b.owner.lost {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		octx, cancel := context.WithTimeout(ctx, tierOpTimeout)
		err := b.heartbeatBucketOwner(octx)
		cancel()
		switch {
		case err == nil:
			if failing {
				b.logger.Info("bucket owner heartbeat works again")
			}
			failing = false
		case errors.Is(err, errPrefixTaken):
			b.owner.lost = true
			b.tier.Fence(err.Error())
		case ctx.Err() == nil && !failing:
			failing = true
			b.logger.Warn("cannot write the bucket owner heartbeat; retrying", "err", err)
		}
	}
}

func (b *Broker) heartbeatBucketOwner(ctx context.Context) error {
	if b.owner.etag == "" {
		return b.claimBucketOwner(ctx)
	}
	tag, err := b.putBucketOwner(ctx, false, b.owner.etag)
	if err == nil {
		b.owner.etag = tag
		return nil
	}
	if !errors.Is(err, tiering.ErrPreconditionFailed) {
		return err
	}
	// Someone rewrote owner.json: our own write whose response was lost, or another broker.
	o, etag, rerr := b.readBucketOwner(ctx)
	if rerr != nil {
		return rerr
	}
	if o != nil && o.Incarnation == b.owner.incarnation {
		b.owner.etag = etag
		return nil
	}
	who := "nobody (deleted)"
	if o != nil {
		who = o.holder()
	}
	return fmt.Errorf("%w: another broker took over the bucket prefix (%s)", errPrefixTaken, who)
}

// releaseBucketOwner marks owner.json released at a clean stop, so that another data dir
// (a restore, a move) may take the prefix at once.
func (b *Broker) releaseBucketOwner() {
	if !b.owner.enabled || b.owner.lost || b.owner.etag == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	if _, err := b.putBucketOwner(ctx, true, b.owner.etag); err != nil {
		b.logger.Warn("cannot release the bucket prefix", "err", err)
	}
}

// bucketClusterID returns the cluster id owner.json names, for a fresh data dir (a restore)
// that has no meta.properties yet; "" otherwise.
func (b *Broker) bucketClusterID(fresh bool) (string, error) {
	if !fresh || b.tier == nil || b.cfg.RemoteStoreID == "" {
		return "", nil
	}
	if _, err := os.Stat(filepath.Join(b.metaDir(), metaPropsFileName)); err == nil {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	o, _, err := b.readBucketOwner(ctx)
	if err != nil {
		return "", fmt.Errorf("cannot check the bucket before restoring: %w", err)
	}
	if o == nil {
		return "", nil
	}
	return o.ClusterID, nil
}
