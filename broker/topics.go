package broker

// The topic registry and its persistence.
//
// <data-dir>/.lock                 flock held while a broker runs (datadirlock.go)
// <data-dir>/meta/meta.properties  version=1, cluster.id, node.id, directory.id (as Kafka writes it)
// <data-dir>/meta/remote-store.json  the remote store and prefix of the data (remoteident.go)
// <data-dir>/meta/topics.json      {"version":1,"topics":[{"name","id","partitions","configs"}]}
//
// Both files are replaced atomically: written to <file>.tmp, fsynced, renamed over the old
// file, and the directory fsynced. topics.json holds only topic config overrides; defaults
// come from the broker config at start. A partition directory <topic>-<n> that topics.json
// does not name is left alone and logged.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

const (
	maxTopicNameLen       = 249
	maxPartitionsPerTopic = 100000
	metaDirName           = "meta"
	topicsFileName        = "topics.json"
	metaPropsFileName     = "meta.properties"
)

// Topic is one topic of the registry. Name and ID never change.
type Topic struct {
	Name string
	ID   [16]byte
	// Partitions is guarded by mu: CreatePartitions appends to it. Code running
	// concurrently with admin requests reads it through partitions() or partition(i).
	Partitions []*partition.Partition

	b         *Broker
	mu        sync.RWMutex
	overrides map[string]string // guarded by mu; topic config overrides (DYNAMIC_TOPIC_CONFIG)
	cfg       atomic.Pointer[TopicConfig]
	// presented > 0: an internal topic presented with this many partitions and no log
	// (internaltopics.go); Partitions is empty.
	presented int32
}

// Config is the effective configuration: overrides on top of the broker defaults.
func (t *Topic) Config() TopicConfig { return *t.cfg.Load() }

// partitions returns a snapshot of the partitions slice.
func (t *Topic) partitions() []*partition.Partition {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.Partitions
}

// partition returns partition i, or nil when out of range.
func (t *Topic) partition(i int32) *partition.Partition {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if i < 0 || int(i) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[i]
}

// numPartitions is len(partitions()).
func (t *Topic) numPartitions() int32 {
	if t.presented > 0 {
		return t.presented
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return int32(len(t.Partitions))
}

// configOverrides returns a copy of the topic's overrides.
func (t *Topic) configOverrides() map[string]string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return cloneConfigs(t.overrides)
}

// validateTopicName applies Kafka's rules: [a-zA-Z0-9._-]{1,249}, not "." or "..".
func validateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", errInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be %q", errInvalidTopic, name)
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("%w: topic name is longer than %d characters", errInvalidTopic, maxTopicNameLen)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", errInvalidTopic, name)
		}
	}
	return nil
}

// lookupTopic returns the topic or nil.
func (b *Broker) lookupTopic(name string) *Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topics[name]
}

// lookupTopicID returns the topic or nil.
func (b *Broker) lookupTopicID(id [16]byte) *Topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.topicIDs[id]
}

// allTopics returns every topic, sorted by name.
func (b *Broker) allTopics() []*Topic {
	b.mu.RLock()
	ts := make([]*Topic, 0, len(b.topics))
	for _, t := range b.topics {
		ts = append(ts, t)
	}
	b.mu.RUnlock()
	slices.SortFunc(ts, func(a, c *Topic) int { return strings.Compare(a.Name, c.Name) })
	return ts
}

// maybeAutoCreate returns the named topic, creating it with num.partitions partitions when
// auto.create.topics.enable is set. Unknown topic without auto-create: UNKNOWN_TOPIC_OR_PARTITION.
func (b *Broker) maybeAutoCreate(ctx context.Context, name string) (*Topic, error) {
	if t := b.lookupTopic(name); t != nil {
		return t, nil
	}
	if err := b.clusterElsewhere(name); err != nil { // clusterview.go
		return nil, err
	}
	if !b.cfg.AutoCreateTopics || !b.canCreateTopic(ctx, name) { // authorizer.go
		return nil, errUnknownTopic
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c := b.cluster(); c != nil {
		return nil, b.clusterAutoCreate(ctx, c, name) // clusterview.go
	}
	t, err := b.createTopic(name, b.cfg.NumPartitions, nil, false)
	if errors.Is(err, errTopicExists) {
		if t := b.lookupTopic(name); t != nil {
			return t, nil
		}
	}
	return t, err
}

func newTopicID() [16]byte {
	for {
		id := uuid.New()
		// Kafka never hands out IDs whose base64 form starts with '-' (they read as flags).
		if base64.RawURLEncoding.EncodeToString(id[:])[0] != '-' {
			return id
		}
	}
}

func (b *Broker) partitionDir(topic string, i int32) string {
	return filepath.Join(b.cfg.DataDir, topic+"-"+strconv.Itoa(int(i)))
}

// topicCollision finds an existing topic whose name equals name once '.' and '_' are
// treated as the same character (their metric names would collide, so Kafka refuses).
func (b *Broker) topicCollisionLocked(name string) string {
	norm := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	n := norm(name)
	for other := range b.topics {
		if other != name && norm(other) == n {
			return other
		}
	}
	return ""
}

// createTopic validates and creates a topic with partitions partitions and the given config
// overrides, opens its partitions and persists the registry. validateOnly does every check
// but changes nothing (and returns a nil topic).
func (b *Broker) createTopic(name string, partitions int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	return b.createTopicID(name, [16]byte{}, partitions, configs, validateOnly)
}

// createTopicWithID creates a topic under the cluster's topic id (clusterview.go).
func (b *Broker) createTopicWithID(name string, id [16]byte, partitions int32, configs map[string]string) (*Topic, error) {
	return b.createTopicID(name, id, partitions, configs, false)
}

// createTopicID is createTopic with a given id (zero: a new random one).
func (b *Broker) createTopicID(name string, id [16]byte, partitions int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if partitions < 1 || partitions > maxPartitionsPerTopic {
		return nil, fmt.Errorf("%w: number of partitions must be in [1, %d], got %d", errInvalidPartitions, maxPartitionsPerTopic, partitions)
	}
	overrides := make(map[string]string, len(configs))
	for k, v := range configs {
		overrides[k] = normalizeTopicConfig(v)
	}
	if err := validateTopicConfigs(&b.cfg, nil, overrides); err != nil {
		return nil, err
	}

	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	b.mu.RLock()
	_, exists := b.topics[name]
	collides := b.topicCollisionLocked(name)
	b.mu.RUnlock()
	if exists || isInternalTopic(name) { // internaltopics.go
		return nil, fmt.Errorf("%w: Topic '%s' already exists.", errTopicExists, name)
	}
	if collides != "" {
		return nil, fmt.Errorf("%w: topic %q collides with existing topic %q", errInvalidTopic, name, collides)
	}
	if validateOnly {
		return nil, nil
	}
	if id == ([16]byte{}) {
		id = newTopicID()
	}
	t := &Topic{Name: name, ID: id, b: b, overrides: overrides}
	tc := effectiveTopicConfig(&b.cfg, overrides)
	t.cfg.Store(&tc)
	if err := b.openPartitions(t, 0, partitions); err != nil {
		b.dropPartitions(t, t.Partitions)
		return nil, err
	}
	b.mu.Lock()
	b.topics[name] = t
	b.topicIDs[t.ID] = t
	b.mu.Unlock()
	if err := b.saveTopicsLocked(); err != nil {
		b.mu.Lock()
		delete(b.topics, name)
		delete(b.topicIDs, t.ID)
		b.mu.Unlock()
		b.dropPartitions(t, t.Partitions)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	b.attachTier(ctx, t)
	b.writeTopicManifest(ctx, t)
	b.logger.Info("topic created", "topic", name, "topic_id", uuid.UUID(t.ID).String(), "partitions", partitions)
	return t, nil
}

// openPartitions opens partitions [from, to) of t and appends them to t.Partitions.
func (b *Broker) openPartitions(t *Topic, from, to int32) error {
	for i := from; i < to; i++ {
		p, err := b.openPartition(t, i)
		if err != nil {
			return fmt.Errorf("cannot open partition %s-%d: %w", t.Name, i, err)
		}
		t.mu.Lock()
		t.Partitions = append(t.Partitions, p)
		t.mu.Unlock()
	}
	return nil
}

// dropPartitions deletes partitions that were opened for an operation that failed.
func (b *Broker) dropPartitions(t *Topic, ps []*partition.Partition) {
	for _, p := range ps {
		if err := p.Delete(); err != nil {
			b.logger.Error("cannot delete partition", "topic", t.Name, "err", err)
		}
	}
}

// deleteTopic removes t from the registry, persists, then deletes its partitions.
func (b *Broker) deleteTopic(t *Topic) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	b.mu.Lock()
	if b.topics[t.Name] != t {
		b.mu.Unlock()
		return errUnknownTopic
	}
	delete(b.topics, t.Name)
	delete(b.topicIDs, t.ID)
	b.mu.Unlock()
	dataGone := false
	err := b.saveTopicsLocked()
	if err != nil && noSpace(err) {
		// A full disk, and the reserve is spent (fulldisk.go): delete the data first, then
		// write topics.json in the space it gave back. A crash in between brings the topic
		// back empty (its DeleteTopics was not answered; a retry deletes it again).
		b.logger.Warn("disk full: deleting the topic's partitions before saving topics.json", "topic", t.Name)
		for _, p := range t.partitions() {
			if derr := p.Delete(); derr != nil {
				b.logger.Error("cannot delete partition", "topic", t.Name, "err", derr)
			}
		}
		dataGone = true
		err = b.saveTopicsLocked()
	}
	if err != nil && !dataGone {
		b.mu.Lock()
		b.topics[t.Name] = t
		b.topicIDs[t.ID] = t
		b.mu.Unlock()
		return err
	}
	if err != nil {
		// The data is gone: the topic stays deleted here; the next write of topics.json
		// (any topic change) persists it.
		b.logger.Error("topic deleted, but topics.json could not be saved: it comes back empty after a restart unless another topic change is saved first", "topic", t.Name, "err", err)
	}
	if b.tier != nil && t.Config().RemoteStorageEnable {
		ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
		b.detachTier(ctx, t, true)
		cancel()
	} else {
		b.deleteTopicManifest(t) // topicbucket.go
	}
	var errs []error
	for i, p := range t.partitions() {
		if dataGone {
			break
		}
		if err := p.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("cannot delete partition %s-%d: %w", t.Name, i, err))
		}
	}
	if b.groups != nil {
		b.groups.TopicDeleted(t.Name)
	}
	if b.shares != nil {
		b.shares.TopicDeleted(t.ID) // shares.go
	}
	b.logger.Info("topic deleted", "topic", t.Name, "topic_id", uuid.UUID(t.ID).String())
	if err := errors.Join(errs...); err != nil {
		// The topic is gone from the registry; leftover files are logged, not fatal.
		b.logger.Error("cannot delete topic data", "topic", t.Name, "err", err)
	}
	return nil
}

// createPartitions grows t to count partitions.
func (b *Broker) createPartitions(t *Topic, count int32, validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.lookupTopic(t.Name) != t {
		return errUnknownTopic
	}
	cur := t.numPartitions()
	switch {
	case count < cur:
		return fmt.Errorf("%w: The topic %s currently has %d partition(s); %d would not be an increase.", errInvalidPartitions, t.Name, cur, count)
	case count == cur:
		return fmt.Errorf("%w: Topic already has %d partition(s).", errInvalidPartitions, cur)
	case count > maxPartitionsPerTopic:
		return fmt.Errorf("%w: at most %d partitions per topic", errInvalidPartitions, maxPartitionsPerTopic)
	}
	if validateOnly {
		return nil
	}
	if err := b.openPartitions(t, cur, count); err != nil {
		t.mu.Lock()
		added := t.Partitions[cur:]
		t.Partitions = slices.Clip(t.Partitions[:cur])
		t.mu.Unlock()
		b.dropPartitions(t, added)
		return err
	}
	if err := b.saveTopicsLocked(); err != nil {
		t.mu.Lock()
		added := t.Partitions[cur:]
		t.Partitions = slices.Clip(t.Partitions[:cur])
		t.mu.Unlock()
		b.dropPartitions(t, added)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	b.attachTier(ctx, t)
	b.writeTopicManifest(ctx, t)
	b.logger.Info("partitions created", "topic", t.Name, "from", cur, "to", count)
	return nil
}

// setTopicConfigs replaces t's overrides with overrides (validated against the old ones),
// persists and pushes the effective config to the partitions. validateOnly checks only.
func (b *Broker) setTopicConfigs(t *Topic, overrides map[string]string, validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.lookupTopic(t.Name) != t {
		return errUnknownTopic
	}
	old := t.configOverrides()
	if err := validateTopicConfigs(&b.cfg, old, overrides); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	tc := effectiveTopicConfig(&b.cfg, overrides)
	t.mu.Lock()
	t.overrides = overrides
	t.mu.Unlock()
	if err := b.saveTopicsLocked(); err != nil {
		t.mu.Lock()
		t.overrides = old
		t.mu.Unlock()
		return err
	}
	was := t.Config()
	t.cfg.Store(&tc)
	for _, p := range t.partitions() {
		p.SetConfig(partitionConfig(tc))
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	b.updateTier(ctx, t, was, tc)
	b.logger.Info("topic configs changed", "topic", t.Name)
	return nil
}

type topicsFile struct {
	Version int          `json:"version"`
	Topics  []topicEntry `json:"topics"`
}

type topicEntry struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

func (b *Broker) metaDir() string { return filepath.Join(b.cfg.DataDir, metaDirName) }

// saveTopicsLocked writes topics.json; adminMu must be held.
func (b *Broker) saveTopicsLocked() error {
	f := topicsFile{Version: 1, Topics: []topicEntry{}}
	for _, t := range b.allTopics() {
		f.Topics = append(f.Topics, topicEntry{
			Name:       t.Name,
			ID:         uuid.UUID(t.ID).String(),
			Partitions: t.numPartitions(),
			Configs:    t.configOverrides(),
		})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	// On a full disk the reserve makes room: deleting a topic or its records is how space
	// comes back (fulldisk.go).
	return b.withReserve(topicsFileName, func() error {
		return b.writeMetaFile(filepath.Join(b.metaDir(), topicsFileName), append(data, '\n'))
	})
}

// readTopicsFile reads and parses topics.json; a missing file is an error wrapping
// fs.ErrNotExist.
func readTopicsFile(fsys segment.FS, path string) (topicsFile, error) {
	var f topicsFile
	data, err := segment.ReadFile(fsys, path)
	if err != nil {
		return f, fmt.Errorf("cannot read %q: %w", path, err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("cannot parse %q: %w", path, err)
	}
	if f.Version != 1 {
		return f, fmt.Errorf("cannot read %q: unsupported version %d", path, f.Version)
	}
	return f, nil
}

// loadMeta reads (or initialises) meta.properties and topics.json and opens every partition.
func (b *Broker) loadMeta() error {
	dir := b.metaDir()
	if err := b.fs().MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create meta dir %q: %w", dir, err)
	}
	path := filepath.Join(dir, topicsFileName)
	f, readErr := readTopicsFile(b.fs(), path)
	fresh := errors.Is(readErr, fs.ErrNotExist)
	b.freshDir = fresh
	if err := b.checkRemoteStoreRecord(); err != nil { // remoteident.go
		return err
	}
	adopt, err := b.bucketClusterID(fresh)
	if err != nil {
		return err
	}
	if err := b.loadMetaProperties(adopt); err != nil {
		return err
	}
	if err := b.startBucketOwner(); err != nil {
		return err
	}
	if fresh {
		if err := b.restoreFromBucket(); err != nil {
			return err
		}
		b.attachTierAll()
		b.adminMu.Lock()
		defer b.adminMu.Unlock()
		return b.saveTopicsLocked()
	}
	if readErr != nil {
		return readErr
	}
	for _, e := range f.Topics {
		id, err := uuid.Parse(e.ID)
		if err != nil {
			return fmt.Errorf("cannot parse %q: topic %q: bad id: %w", path, e.Name, err)
		}
		if err := validateTopicName(e.Name); err != nil {
			return fmt.Errorf("cannot parse %q: %w", path, err)
		}
		overrides := cloneConfigs(e.Configs)
		if err := validateTopicConfigs(&b.cfg, nil, overrides); err != nil {
			// A config valid when written may no longer be (e.g. remote storage disabled
			// on this broker). Keep it and say so rather than refusing to start.
			b.logger.Warn("topic config no longer valid", "topic", e.Name, "err", err)
		}
		t := &Topic{Name: e.Name, ID: id, b: b, overrides: overrides}
		tc := effectiveTopicConfig(&b.cfg, overrides)
		t.cfg.Store(&tc)
		if err := b.openPartitions(t, 0, e.Partitions); err != nil {
			b.topics[t.Name] = t // so that closePartitions closes what was opened
			return err
		}
		b.topics[t.Name] = t
		b.topicIDs[t.ID] = t
	}
	b.warnStrayDirs()
	b.attachTierAtStart() // tier.go: partitions with local data are attached by Run
	return nil
}

// attachTierAll attaches the remote tier to every tiered topic (at start).
func (b *Broker) attachTierAll() {
	if b.tier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	for _, t := range b.topics {
		b.attachTier(ctx, t)
	}
}

func (b *Broker) warnStrayDirs() {
	ents, err := os.ReadDir(b.cfg.DataDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == metaDirName {
			continue
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i <= 0 {
			continue
		}
		n, err := strconv.Atoi(e.Name()[i+1:])
		if err != nil {
			continue
		}
		if t := b.topics[e.Name()[:i]]; t == nil || n >= len(t.Partitions) {
			b.logger.Warn("partition directory not in topic registry; left alone", "dir", e.Name())
		}
	}
}

// loadMetaProperties reads (or writes) meta.properties. A new file takes cluster.id from
// the config, else adopt (the cluster a restored bucket prefix belongs to), else a new id.
// directory.id (as in Kafka's meta.properties) identifies this data dir to the bucket
// (remoteident.go); files written before it existed get one.
func (b *Broker) loadMetaProperties(adopt string) error {
	path := filepath.Join(b.metaDir(), metaPropsFileName)
	data, err := segment.ReadFile(b.fs(), path)
	write := func() error {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "#Written by Strata; do not edit.\nversion=1\ncluster.id=%s\nnode.id=%d\ndirectory.id=%s\n",
			b.clusterID, b.cfg.NodeID, b.directoryID)
		return b.writeMetaFile(path, buf.Bytes())
	}
	if errors.Is(err, fs.ErrNotExist) {
		b.clusterID = b.cfg.ClusterID
		if b.clusterID == "" {
			b.clusterID = adopt
		}
		if b.clusterID == "" {
			id := newTopicID()
			b.clusterID = base64.RawURLEncoding.EncodeToString(id[:])
		}
		b.directoryID = uuid.NewString()
		return write()
	}
	if err != nil {
		return fmt.Errorf("cannot read %q: %w", path, err)
	}
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	b.clusterID = props["cluster.id"]
	if b.clusterID == "" {
		return fmt.Errorf("cannot read %q: no cluster.id", path)
	}
	if b.cfg.ClusterID != "" && b.cfg.ClusterID != b.clusterID {
		return fmt.Errorf("configured cluster.id %q does not match %q in %q", b.cfg.ClusterID, b.clusterID, path)
	}
	if n, ok := props["node.id"]; ok && n != strconv.Itoa(int(b.cfg.NodeID)) {
		return fmt.Errorf("configured node.id %d does not match %s in %q", b.cfg.NodeID, n, path)
	}
	if b.directoryID = props["directory.id"]; b.directoryID == "" {
		b.directoryID = uuid.NewString()
		return write()
	}
	return nil
}

// writeMetaFile replaces path, a file of the meta directory, with data through
// segment.WriteFileAtomic on the broker's filesystem seam.
func (b *Broker) writeMetaFile(path string, data []byte) error {
	return segment.WriteFileAtomic(b.fs(), path, data, 0o644)
}

// TopicConfigForTest returns the effective config of a topic (zero value if unknown).
// For black-box tests that need to see what the partitions were given.
func (b *Broker) TopicConfigForTest(name string) TopicConfig {
	if t := b.lookupTopic(name); t != nil {
		return t.Config()
	}
	return TopicConfig{}
}

// openPartition opens partition i of t in its directory.
func (b *Broker) openPartition(t *Topic, i int32) (*partition.Partition, error) {
	return partition.Open(partition.Options{
		Topic: t.Name, TopicID: t.ID, Index: i, Dir: b.partitionDir(t.Name, i),
		Config:      partitionConfig(t.Config()),
		Logger:      b.logger,
		FS:          b.segmentFS,      // nil: the OS; tests use segmenttest.MemFS
		Files:       b.segFiles,       // one cap on sealed segment files for all partitions (segfiles.go)
		OnFsync:     b.observeFsync,   // opsmetrics.go
		FreeReserve: b.releaseReserve, // fulldisk.go

		ProducerIDExpiration: time.Duration(b.cfg.ProducerIDExpirationMs) * time.Millisecond,
	})
}

// partitionConfig is what a partition applies of a topic's effective config.
func partitionConfig(tc TopicConfig) partition.Config {
	return partition.Config{
		SegmentBytes: tc.SegmentBytes, SegmentMs: tc.SegmentMs,
		RetentionMs: tc.RetentionMs, RetentionBytes: tc.RetentionBytes,
		LocalRetentionMs: tc.LocalRetentionMs, LocalRetentionBytes: tc.LocalRetentionBytes,
		CleanupPolicy:       tc.CleanupPolicy,
		LogAppendTime:       tc.MessageTimestampType == "LogAppendTime",
		RemoteStorageEnable: tc.RemoteStorageEnable,
		IndexIntervalBytes:  tc.IndexIntervalBytes,
		FlushMessages:       tc.FlushMessages,
		FlushMs:             tc.FlushMs,

		MinCleanableDirtyRatio: tc.MinCleanableDirtyRatio, MinCompactionLagMs: tc.MinCompactionLagMs,
		MaxCompactionLagMs: tc.MaxCompactionLagMs, DeleteRetentionMs: tc.DeleteRetentionMs,
	}
}
