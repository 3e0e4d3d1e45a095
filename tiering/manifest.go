package tiering

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/strata-io/strata/segment"
)

// ManifestVersion is the version written into every manifest. Readers accept versions
// <= ManifestVersion and ignore unknown fields; see doc.go for the migration rules.
const ManifestVersion = 1

// PartitionManifestVersion is the version of partition heads and chunks. Version 2 added
// the hash chain (chain.go): a broker of version 1 would rewrite a head without its chain
// and append entries without links, which the chain check then reports as tampering, so
// version-1 brokers must refuse these manifests rather than write them. Version-1
// manifests are read as before (their entries have no hashes; the chain starts at the
// first entry a version-2 broker uploads).
const PartitionManifestVersion = 2

// Manifest kinds (the "kind" field).
const (
	kindTopic     = "strata.topic"
	kindPartition = "strata.partition"
	kindChunk     = "strata.partition.chunk"
)

// ErrCorruptManifest marks a manifest that cannot be decoded or violates its invariants.
var ErrCorruptManifest = errors.New("tiering: corrupt manifest")

// ErrFenced is returned by a RemotePartition whose manifest was changed by another writer:
// it stops writing (uploads, retention) and must be reopened.
var ErrFenced = errors.New("tiering: manifest writer fenced")

// ObjectRef names one uploaded object and how to check it.
type ObjectRef struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	CRC32C uint32 `json:"crc32c"` // Castagnoli CRC of the whole object
	// SHA256 is the hex SHA-256 of the whole object; "" in entries of brokers before the
	// hash chain (those are checked by CRC-32C only).
	SHA256 string `json:"sha256,omitempty"`
}

// SegmentEntry describes one remote segment in a partition manifest.
type SegmentEntry struct {
	ID             string    `json:"id"` // UUID shared by the segment's objects
	BaseOffset     int64     `json:"baseOffset"`
	LastOffset     int64     `json:"lastOffset"`
	FirstTimestamp int64     `json:"firstTimestamp"` // first batch's firstTimestamp
	MaxTimestamp   int64     `json:"maxTimestamp"`   // largest batch maxTimestamp
	Size           int64     `json:"size"`           // bytes of the .log object
	Batches        int64     `json:"batches"`
	UploadTime     time.Time `json:"uploadTime"`
	Log            ObjectRef `json:"log"`
	Index          ObjectRef `json:"index"`
	TimeIndex      ObjectRef `json:"timeIndex"`
	// ProducerSnapshot is the broker's producer-state snapshot for the segment (KIP-405
	// uploads one per segment), when the partition directory held one (see prodsnap.go);
	// it is the state as of offset ProducerSnapshotOffset, normally LastOffset+1.
	ProducerSnapshot       *ObjectRef `json:"producerSnapshot,omitempty"`
	ProducerSnapshotOffset int64      `json:"producerSnapshotOffset,omitempty"`
	// LeaderEpochs is the range of the partitionLeaderEpoch fields of the segment's batches
	// (the producers' values, stored as received). The batch CRC does not cover the field,
	// so reads refuse a batch outside the range as corrupt. nil in entries uploaded before
	// the field existed: not checked.
	LeaderEpochs *EpochRange `json:"leaderEpochs,omitempty"`
	// Hashes is the .hashes object: the SHA-256 of every HashBlock bytes of the .log
	// (the last block may be shorter), 32 raw bytes each, so that a ranged read is checked
	// without the whole object. nil when the .log is one block (its SHA-256 is Log.SHA256)
	// and in entries of older brokers (HashBlock 0).
	Hashes    *ObjectRef `json:"hashes,omitempty"`
	HashBlock int64      `json:"hashBlock,omitempty"`
	// ChainSeq and ChainPrev place the entry in the partition's hash chain (chain.go):
	// its link number and the hex hash of the link before it. 0 and "" in entries of
	// older brokers.
	ChainSeq  int64  `json:"chainSeq,omitempty"`
	ChainPrev string `json:"chainPrev,omitempty"`
	// Deletions are the deletion links between the previous entry's link and this one's
	// (a pointer, so that entries stay comparable).
	Deletions *DeletionRecords `json:"deletions,omitempty"`
	// AbortedTxns are the aborted transactions whose ABORT marker is in the segment, by
	// marker offset (txnindex.go); read_committed reads of remote data list them. nil:
	// none (a pointer keeps SegmentEntry comparable).
	AbortedTxns *AbortedTxnList `json:"abortedTxns,omitempty"`
}

// EpochRange is an inclusive range of partition leader epochs.
type EpochRange struct {
	Min int32 `json:"min"`
	Max int32 `json:"max"`
}

// Objects returns the entry's objects: data, index, time index (and snapshot, if any).
func (e *SegmentEntry) Objects() []ObjectRef { return e.objects() }

func (e *SegmentEntry) objects() []ObjectRef {
	refs := []ObjectRef{e.Log, e.Index, e.TimeIndex}
	if e.ProducerSnapshot != nil {
		refs = append(refs, *e.ProducerSnapshot)
	}
	if e.Hashes != nil {
		refs = append(refs, *e.Hashes)
	}
	return refs
}

// ChunkRef points at an immutable spilled manifest chunk.
type ChunkRef struct {
	Key        string `json:"key"`
	FirstBase  int64  `json:"firstBase"`
	LastOffset int64  `json:"lastOffset"`
	Count      int    `json:"count"`
	Bytes      int64  `json:"bytes"` // sum of the chunk's segment sizes
}

// PartitionHead is the small, mutable manifest of one partition ("manifest.json").
type PartitionHead struct {
	Version        int            `json:"version"`
	Kind           string         `json:"kind"`
	Topic          string         `json:"topic"`
	TopicID        string         `json:"topicId"`
	Partition      int32          `json:"partition"`
	LogStartOffset int64          `json:"logStartOffset"`
	EndOffset      int64          `json:"endOffset"` // last offset + 1 of everything ever uploaded (may be < logStartOffset)
	Seq            int64          `json:"seq"`       // incremented by every write
	Writer         string         `json:"writer"`    // UUID of the writing Manager
	Updated        time.Time      `json:"updated"`
	Segments       []SegmentEntry `json:"segments"`            // newest entries, at most ManifestChunkEntries
	LastChunk      *ChunkRef      `json:"lastChunk,omitempty"` // newest spilled chunk
	// Chain is the newest link of the partition's hash chain (nil: no chain yet, a
	// manifest of older brokers); Deletions the deletion links since the newest entry.
	Chain     *ChainHead       `json:"chain,omitempty"`
	Deletions []DeletionRecord `json:"deletions,omitempty"`
}

// ManifestChunk is an immutable group of older entries spilled from the head.
type ManifestChunk struct {
	Version   int            `json:"version"`
	Kind      string         `json:"kind"`
	Topic     string         `json:"topic"`
	TopicID   string         `json:"topicId"`
	Partition int32          `json:"partition"`
	Segments  []SegmentEntry `json:"segments"`
	Prev      *ChunkRef      `json:"prev,omitempty"`
}

// TopicManifest is "topic.json": what a broker needs to recreate the topic.
type TopicManifest struct {
	Topic      string
	TopicID    [16]byte
	Partitions int32
	Configs    map[string]string
	Updated    time.Time
	// LocalOnly marks a topic without remote storage (remote.storage.enable=false): the
	// bucket holds no manifests or segments for it, only this file, so that a restore
	// recreates it, empty, with its configs.
	LocalOnly bool
}

type topicManifestJSON struct {
	Version    int               `json:"version"`
	Kind       string            `json:"kind"`
	Topic      string            `json:"topic"`
	TopicID    string            `json:"topicId"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs"`
	Updated    time.Time         `json:"updated"`
	LocalOnly  bool              `json:"localOnly,omitempty"`
}

func encodeTopicManifest(t TopicManifest) ([]byte, error) {
	return json.MarshalIndent(topicManifestJSON{
		Version: ManifestVersion, Kind: kindTopic, Topic: t.Topic, TopicID: TopicIDString(t.TopicID),
		Partitions: t.Partitions, Configs: t.Configs, Updated: t.Updated.UTC(), LocalOnly: t.LocalOnly,
	}, "", " ")
}

// DecodeTopicManifest parses topic.json.
func DecodeTopicManifest(b []byte) (TopicManifest, error) {
	var j topicManifestJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return TopicManifest{}, fmt.Errorf("%w: topic manifest: %v", ErrCorruptManifest, err)
	}
	if j.Kind != kindTopic || j.Version < 1 || j.Version > ManifestVersion {
		return TopicManifest{}, fmt.Errorf("%w: topic manifest kind %q version %d", ErrCorruptManifest, j.Kind, j.Version)
	}
	id, err := ParseTopicID(j.TopicID)
	if err != nil || j.Topic == "" || j.Partitions <= 0 {
		return TopicManifest{}, fmt.Errorf("%w: topic manifest %q: id %q partitions %d", ErrCorruptManifest, j.Topic, j.TopicID, j.Partitions)
	}
	return TopicManifest{Topic: j.Topic, TopicID: id, Partitions: j.Partitions, Configs: j.Configs, Updated: j.Updated, LocalOnly: j.LocalOnly}, nil
}

// DecodePartitionHead parses and checks a partition head manifest.
func DecodePartitionHead(b []byte) (*PartitionHead, error) {
	var h PartitionHead
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: partition head: %v", ErrCorruptManifest, err)
	}
	if h.Kind != kindPartition || h.Version < 1 || h.Version > PartitionManifestVersion {
		return nil, fmt.Errorf("%w: partition head kind %q version %d", ErrCorruptManifest, h.Kind, h.Version)
	}
	if err := checkEntries(h.Segments); err != nil {
		return nil, err
	}
	return &h, nil
}

// DecodeManifestChunk parses and checks a spilled chunk.
func DecodeManifestChunk(b []byte) (*ManifestChunk, error) {
	var c ManifestChunk
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: manifest chunk: %v", ErrCorruptManifest, err)
	}
	if c.Kind != kindChunk || c.Version < 1 || c.Version > PartitionManifestVersion {
		return nil, fmt.Errorf("%w: manifest chunk kind %q version %d", ErrCorruptManifest, c.Kind, c.Version)
	}
	if err := checkEntries(c.Segments); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkEntries enforces: each entry non-empty, sorted by base offset, not overlapping.
func checkEntries(es []SegmentEntry) error {
	for i := range es {
		e := &es[i]
		if e.LastOffset < e.BaseOffset || e.Size <= 0 || e.Log.Key == "" || e.Index.Key == "" || e.TimeIndex.Key == "" {
			return fmt.Errorf("%w: entry %d: base %d last %d size %d", ErrCorruptManifest, i, e.BaseOffset, e.LastOffset, e.Size)
		}
		if i > 0 && e.BaseOffset <= es[i-1].LastOffset {
			return fmt.Errorf("%w: entry %d (base %d) overlaps previous (last %d)", ErrCorruptManifest, i, e.BaseOffset, es[i-1].LastOffset)
		}
	}
	return nil
}

// partitionManifest is the loaded manifest of one partition: the head as stored, the
// chain of live chunk refs (oldest first) and all live entries (oldest first).
type partitionManifest struct {
	head    PartitionHead
	etag    string     // of head as stored; "" = head does not exist yet
	chunks  []ChunkRef // live spilled chunks, oldest first
	entries []SegmentEntry
	// What the hash chain check found at load (chain.go): breaks, and a rollback of the
	// manifest below the head this broker last wrote. Reads refuse what they affect.
	breaks   []*ChainBreak
	rollback error
	loaded   []SegmentEntry // set by loadManifest only: every entry loaded, dead ones in live chunks too
}

func readAll(ctx context.Context, store ObjectStore, key string) ([]byte, error) {
	rc, err := store.GetRange(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// loadManifest reads the head of the partition under partPrefix and the live chunks it
// reaches. A missing head is an empty manifest. The head's ETag is read before and after
// the body so that a concurrent rewrite is noticed (and the read retried).
//
// Chunks are read from the partition's local copies first (cache, may be nil; see
// chunkcache.go); the ones fetched from the bucket are copied there.
func loadManifest(ctx context.Context, store ObjectStore, partPrefix string, cache *chunkCache) (*partitionManifest, error) {
	key := partPrefix + headManifestName
	var (
		h    *PartitionHead
		etag string
	)
	for attempt := 0; ; attempt++ {
		before, err := store.Stat(ctx, key)
		if errors.Is(err, ErrNotExist) {
			return &partitionManifest{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cannot stat manifest %q: %w", key, err)
		}
		b, err := readAll(ctx, store, key)
		if err != nil {
			return nil, fmt.Errorf("cannot read manifest %q: %w", key, err)
		}
		after, err := store.Stat(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("cannot stat manifest %q: %w", key, err)
		}
		if before.ETag != after.ETag && attempt < 5 {
			continue
		}
		if h, err = DecodePartitionHead(b); err != nil {
			return nil, fmt.Errorf("manifest %q: %w", key, err)
		}
		etag = after.ETag
		break
	}
	pm := &partitionManifest{head: *h, etag: etag}
	var pre map[string]*ManifestChunk
	newest := (*ManifestChunk)(nil)
	if h.LastChunk != nil && h.LastChunk.LastOffset >= h.LogStartOffset {
		// Without a local copy of the newest chunk (a fresh data dir, a restore), fetch
		// them all at once rather than one after the other along the chain.
		if newest = cache.get(h.LastChunk); newest == nil {
			pre = prefetchChunks(ctx, store, partPrefix)
		}
	}
	get := func(ref *ChunkRef) (*ManifestChunk, error) {
		if ref == h.LastChunk && newest != nil {
			return newest, nil
		}
		if c := pre[ref.Key]; c != nil {
			cache.put(ref.Key, c)
			return c, nil
		}
		if c := cache.get(ref); c != nil {
			return c, nil
		}
		b, err := readAll(ctx, store, ref.Key)
		if err != nil {
			return nil, fmt.Errorf("cannot read manifest chunk %q: %w", ref.Key, err)
		}
		c, err := DecodeManifestChunk(b)
		if err != nil {
			return nil, fmt.Errorf("manifest chunk %q: %w", ref.Key, err)
		}
		cache.put(ref.Key, c)
		return c, nil
	}
	recorded := cache.chain()
	refs, loaded, err := walkChunks(h, recorded, get)
	if recorded != nil && (err != nil || !chainLinked(h, refs, loaded)) {
		// The record disagrees with the chunks it names (or one of them cannot be read):
		// walk the chain itself.
		recorded = nil
		refs, loaded, err = walkChunks(h, nil, get)
	}
	if err != nil {
		return nil, err
	}
	if n := len(refs); n > 0 && (len(recorded) != n || recorded[len(recorded)-1] != refs[0] || recorded[0] != refs[n-1]) {
		// A record that linked up and has the same ends names the same chain.
		rec := slices.Clone(refs)
		slices.Reverse(rec)
		cache.putChain(rec)
	}
	pm.chunks = refs
	chunks := make([][]SegmentEntry, len(loaded))
	for i, c := range loaded {
		chunks[i] = c.Segments
	}
	slices.Reverse(pm.chunks)
	slices.Reverse(chunks)
	n := len(h.Segments)
	for _, es := range chunks {
		n += len(es)
	}
	pm.entries = make([]SegmentEntry, 0, n) // 100,000 entries: no growing copies
	for _, es := range chunks {
		pm.entries = append(pm.entries, es...)
	}
	pm.entries = append(pm.entries, h.Segments...)
	if err := checkEntries(pm.entries); err != nil {
		return nil, fmt.Errorf("manifest under %q: %w", partPrefix, err)
	}
	// The chain is checked over every loaded entry, dead ones in live chunks included.
	links := ChainLinks(h.TopicID, h.Partition, pm.entries, h.Deletions)
	pm.breaks = checkChain(pm.entries, links, h.Chain)
	pm.rollback = checkRollback(cache.chainHead(h.TopicID, h.Partition), h.Chain, links)
	pm.loaded = pm.entries
	// Entries wholly below the log start are deleted (their objects may linger until swept).
	i := 0
	for i < len(pm.entries) && pm.entries[i].LastOffset < h.LogStartOffset {
		i++
	}
	pm.entries = pm.entries[i:]
	return pm, nil
}

// walkChunks returns the live chunk refs of head h, newest first, and their chunks (from
// get). It follows the prev refs from h.LastChunk; when it reaches the newest ref of
// recorded (the local chain record, oldest first; see chunkcache.go) it takes the rest of
// the refs from the record and gets their chunks concurrently, on all cores but one
// (chainLinked then checks that they link up).
func walkChunks(h *PartitionHead, recorded []ChunkRef, get func(*ChunkRef) (*ManifestChunk, error)) ([]ChunkRef, []*ManifestChunk, error) {
	var (
		refs   []ChunkRef
		loaded []*ManifestChunk
	)
	for ref := h.LastChunk; ref != nil && ref.LastOffset >= h.LogStartOffset; {
		if n := len(recorded); n > 0 && *ref == recorded[n-1] {
			from := len(refs)
			for i := n - 1; i >= 0 && recorded[i].LastOffset >= h.LogStartOffset; i-- {
				refs = append(refs, recorded[i])
			}
			loaded = append(loaded, make([]*ManifestChunk, len(refs)-from)...)
			// One core is left to the rest of the broker: this runs while it serves
			// (tiers are attached after start-up, see broker/tier.go).
			var g errgroup.Group
			g.SetLimit(max(1, min(4, runtime.GOMAXPROCS(0)-1)))
			for i := from; i < len(refs); i++ {
				g.Go(func() error {
					c, err := get(&refs[i])
					loaded[i] = c
					return err
				})
			}
			if err := g.Wait(); err != nil {
				return nil, nil, err
			}
			break
		}
		c, err := get(ref)
		if err != nil {
			return nil, nil, err
		}
		refs = append(refs, *ref)
		loaded = append(loaded, c)
		ref = c.Prev
	}
	return refs, loaded, nil
}

// chainLinked reports whether refs (newest first) and their chunks form h's chain: each
// chunk's prev ref is the next ref, and the oldest one's is nil or below the log start.
func chainLinked(h *PartitionHead, refs []ChunkRef, loaded []*ManifestChunk) bool {
	if len(refs) > 0 && (h.LastChunk == nil || refs[0] != *h.LastChunk) {
		return false
	}
	for i, c := range loaded {
		if c == nil || len(c.Segments) == 0 || c.Segments[0].BaseOffset != refs[i].FirstBase {
			return false
		}
		if i+1 < len(refs) {
			if c.Prev == nil || *c.Prev != refs[i+1] {
				return false
			}
		} else if c.Prev != nil && c.Prev.LastOffset >= h.LogStartOffset {
			return false
		}
	}
	return true
}

// prefetchChunks fetches, concurrently, the spilled chunks listed under partPrefix, so that
// loading a long history costs one List plus parallel GETs instead of a sequential walk of
// the prev chain. It is an optimisation only: failures are ignored (the walk fetches what
// is missing), and the walk decides which chunks are live.
func prefetchChunks(ctx context.Context, store ObjectStore, partPrefix string) map[string]*ManifestChunk {
	var keys []string
	err := store.List(ctx, partPrefix+"manifest-", func(oi ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	})
	if err != nil || len(keys) < 2 {
		return nil
	}
	var (
		mu  sync.Mutex
		out = make(map[string]*ManifestChunk, len(keys))
		g   errgroup.Group
	)
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error {
			b, err := readAll(ctx, store, k)
			if err != nil {
				return nil
			}
			c, err := DecodeManifestChunk(b)
			if err != nil {
				return nil
			}
			mu.Lock()
			out[k] = c
			mu.Unlock()
			return nil
		})
	}
	g.Wait()
	return out
}

// manifestWriter writes the manifest of one partition. Not safe for concurrent use: the
// owning RemotePartition serialises writes with its writeMu.
type manifestWriter struct {
	store        ObjectStore
	partPrefix   string
	chunkEntries int
	writer       string // Manager UUID
	now          func() time.Time
	cache        *chunkCache // local copies of spilled chunks (may be nil)
	bytesWritten int64       // total manifest bytes put (for tests and metrics)
	lastUpdate   int64       // bytes put by the last update
}

// putHead stores h under the head key, conditionally when the store can: ifMatch is the
// ETag of the head this writer last read or wrote. It returns the new ETag.
func (w *manifestWriter) putHead(ctx context.Context, h *PartitionHead, ifMatch string) (string, error) {
	h.Version, h.Kind = PartitionManifestVersion, kindPartition
	h.Writer = w.writer
	h.Updated = w.now().UTC()
	b, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	key := w.partPrefix + headManifestName
	w.lastUpdate += int64(len(b))
	w.bytesWritten += int64(len(b))
	if cp, ok := w.store.(ConditionalPutter); ok {
		etag, err := cp.PutIf(ctx, key, bytes.NewReader(b), int64(len(b)), ifMatch)
		if errors.Is(err, ErrPreconditionFailed) {
			own, rerr := w.ownWrite(ctx, key)
			if rerr != nil {
				// Whose write it is cannot be told now: a transient failure, retried
				// later. Fencing on a failed read would stop the partition's uploads for
				// good after a lost response plus one failed GET.
				return "", fmt.Errorf("put manifest %q: precondition failed and the head cannot be read back: %w", key, rerr)
			}
			if own {
				return "", fmt.Errorf("put manifest %q: %w", key, errOwnWrite)
			}
			return "", fmt.Errorf("put manifest %q: %w: %w", key, ErrFenced, err)
		}
		if err != nil {
			return "", fmt.Errorf("cannot put manifest %q: %w", key, err)
		}
		w.cache.putChainHead(h)
		return etag, nil
	}
	if err := w.store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return "", fmt.Errorf("cannot put manifest %q: %w", key, err)
	}
	w.cache.putChainHead(h)
	return "", nil
}

// errOwnWrite: a conditional head write failed because an earlier write of this same
// writer landed although it was reported as failed (a lost response). The caller reloads
// the manifest from the bucket and carries on; it is not fenced.
var errOwnWrite = errors.New("tiering: manifest holds an earlier write of this writer; reload")

// ownWrite reports whether the head at key was last written by this writer. An error
// means the head could not be read (the caller must not conclude either way); a head that
// is missing or does not decode is not this writer's.
func (w *manifestWriter) ownWrite(ctx context.Context, key string) (bool, error) {
	b, err := readAll(ctx, w.store, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	h, err := DecodePartitionHead(b)
	return err == nil && h.Writer == w.writer, nil
}

// appendEntry returns the manifest with e appended (spilling the head's entries into a new
// immutable chunk first when the head is full) after storing it. pm is not modified, so a
// failed write leaves the caller's view intact.
func (w *manifestWriter) appendEntry(ctx context.Context, pm *partitionManifest, e SegmentEntry) (*partitionManifest, error) {
	return w.appendEntries(ctx, pm, []SegmentEntry{e})
}

// appendEntries is appendEntry for several entries (in offset order) with one head write:
// the uploader names the segments whose objects arrived together at once. A full head
// spills into a chunk as many times as needed on the way (each chunk is put before the
// head that reaches it).
func (w *manifestWriter) appendEntries(ctx context.Context, pm *partitionManifest, es []SegmentEntry) (*partitionManifest, error) {
	w.lastUpdate = 0
	next := &partitionManifest{head: pm.head, chunks: slices.Clip(pm.chunks), breaks: pm.breaks, rollback: pm.rollback}
	next.head.Segments = slices.Clone(pm.head.Segments)
	for i := range es {
		// The entry's chain link, after the deletion links pending in the head, which it
		// carries from now on.
		if i == 0 && len(next.head.Deletions) > 0 {
			ds := DeletionRecords(next.head.Deletions)
			es[i].Deletions = &ds
			next.head.Deletions = nil
		} else {
			es[i].Deletions = nil
		}
		next.head.Chain = appendLink(pm.head.TopicID, pm.head.Partition, next.head.Chain, &es[i])
		e := es[i]
		if len(next.head.Segments) >= w.chunkEntries {
			spill := next.head.Segments
			c := ManifestChunk{
				Version: PartitionManifestVersion, Kind: kindChunk, Topic: pm.head.Topic, TopicID: pm.head.TopicID,
				Partition: pm.head.Partition, Segments: spill, Prev: next.head.LastChunk,
			}
			b, err := json.Marshal(&c)
			if err != nil {
				return nil, err
			}
			ref := ChunkRef{
				Key:        chunkManifestKey(w.partPrefix, spill[0].BaseOffset, uuid.NewString()),
				FirstBase:  spill[0].BaseOffset,
				LastOffset: spill[len(spill)-1].LastOffset,
				Count:      len(spill),
			}
			for i := range spill {
				ref.Bytes += spill[i].Size
			}
			w.lastUpdate += int64(len(b))
			w.bytesWritten += int64(len(b))
			if err := w.store.Put(ctx, ref.Key, bytes.NewReader(b), int64(len(b))); err != nil {
				return nil, fmt.Errorf("cannot put manifest chunk %q: %w", ref.Key, err)
			}
			w.cache.put(ref.Key, &c)
			next.head.LastChunk = &ref
			next.chunks = append(next.chunks, ref)
			next.head.Segments = nil
		}
		next.head.Segments = append(next.head.Segments, e)
		if e.LastOffset+1 > next.head.EndOffset {
			next.head.EndOffset = e.LastOffset + 1
		}
	}
	next.head.Seq++
	etag, err := w.putHead(ctx, &next.head, pm.etag)
	if err != nil {
		return nil, err
	}
	next.etag = etag
	// Appending in place (amortised) rather than copying every entry, so that an upload
	// costs O(1), not O(history). It is safe because published snapshots (remoteState.entries) never read
	// past their own length, and only the manifest derived from p.manifest under writeMu
	// is ever extended; a failed write leaves pm's elements untouched (a later append
	// overwrites the unpublished slots).
	next.entries = append(pm.entries, es...)
	return next, nil
}

// setLogStart stores a manifest whose log start is offset. It returns the new manifest,
// the entries that fell wholly below it and the chunks that did; their objects may be
// deleted once this returns.
//
// The move is recorded as a deletion link of the chain (reason: "retention" or
// "log-start"), pending in the head until the next entry carries it.
func (w *manifestWriter) setLogStart(ctx context.Context, pm *partitionManifest, offset int64, reason string) (*partitionManifest, []SegmentEntry, []ChunkRef, error) {
	w.lastUpdate = 0
	next := &partitionManifest{head: pm.head, breaks: pm.breaks, rollback: pm.rollback}
	from := pm.head.LogStartOffset
	if len(pm.entries) > 0 {
		from = max(from, pm.entries[0].BaseOffset)
	}
	d := DeletionRecord{Time: nowMs(w.now), Reason: reason, FromOffset: from, LogStartOffset: offset}
	for i := range pm.entries {
		if e := &pm.entries[i]; e.LastOffset < offset {
			d.Segments++
			d.Bytes += e.Size
			if e.ChainSeq > 0 {
				d.LastDroppedSeq, d.LastDroppedHash = e.ChainSeq, linkHash(e.ChainSeq, e.ChainPrev, entryBody(pm.head.TopicID, pm.head.Partition, e))
			}
		}
	}
	next.head.Chain = appendDeletion(pm.head.TopicID, pm.head.Partition, pm.head.Chain, &d)
	next.head.Deletions = append(slices.Clip(pm.head.Deletions), d)
	next.head.LogStartOffset = offset
	next.head.Segments = nil
	for _, e := range pm.head.Segments {
		if e.LastOffset >= offset {
			next.head.Segments = append(next.head.Segments, e)
		}
	}
	var deadChunks []ChunkRef
	for _, c := range pm.chunks {
		if c.LastOffset < offset {
			deadChunks = append(deadChunks, c)
		} else {
			next.chunks = append(next.chunks, c)
		}
	}
	if next.head.LastChunk != nil && next.head.LastChunk.LastOffset < offset {
		next.head.LastChunk = nil
	}
	var dead []SegmentEntry
	for _, e := range pm.entries {
		if e.LastOffset < offset {
			dead = append(dead, e)
		} else {
			next.entries = append(next.entries, e)
		}
	}
	next.head.Seq++
	etag, err := w.putHead(ctx, &next.head, pm.etag)
	if err != nil {
		return nil, nil, nil, err
	}
	next.etag = etag
	return next, dead, deadChunks, nil
}

// ReadPartitionManifest loads the manifest of one partition from the bucket (for tools such
// as `strata tier ls/verify`): the head as stored and every live entry, oldest first. A
// partition without a manifest returns a zero head and no entries.
func ReadPartitionManifest(ctx context.Context, store ObjectStore, prefix, topic string, id [16]byte, partition int32) (PartitionHead, []SegmentEntry, error) {
	pm, err := loadManifest(ctx, store, PartitionPrefix(prefix, topic, id, partition), nil)
	if err != nil {
		return PartitionHead{}, nil, err
	}
	return pm.head, pm.entries, nil
}

// ReadPartitionChain is ReadPartitionManifest for auditors (`strata tier verify --deep`,
// `strata tier proof`): it returns every entry the manifest still holds, those wholly below
// the log start in live chunks too (the chain covers them), and what the check of the hash
// chain found (nil: it holds). A partition without a manifest has no entries and no breaks.
func ReadPartitionChain(ctx context.Context, store ObjectStore, prefix, topic string, id [16]byte, partition int32) (PartitionHead, []SegmentEntry, []*ChainBreak, error) {
	pm, err := loadManifest(ctx, store, PartitionPrefix(prefix, topic, id, partition), nil)
	if err != nil {
		return PartitionHead{}, nil, nil, err
	}
	return pm.head, pm.loaded, pm.breaks, nil
}

// VerifyEntry reads every object of e whole and checks its size, CRC-32C and SHA-256 (when
// recorded) against the manifest, the data object's block hashes against its hash list,
// and that the data object frames into batches covering [BaseOffset, LastOffset].
// Mismatches are segment.ErrCorrupt-class errors; store errors are returned as they are.
func VerifyEntry(ctx context.Context, store ObjectStore, e SegmentEntry) error {
	var data, list []byte
	for _, r := range e.objects() {
		b, err := readAll(ctx, store, r.Key)
		if err != nil {
			return fmt.Errorf("cannot read %q: %w", r.Key, err)
		}
		if err := checkObject(&r, b); err != nil {
			return err
		}
		switch r.Key {
		case e.Log.Key:
			data = b
		case hashesKey(&e):
			list = b
		}
		if r.Key == e.Log.Key {
			scan, err := scanSegment(bytes.NewReader(b), int64(len(b)), e.BaseOffset, defaultIndexPeriod)
			if err != nil {
				return fmt.Errorf("%q: %w", r.Key, err)
			}
			if scan.firstBase < e.BaseOffset || scan.lastOffset != e.LastOffset {
				return fmt.Errorf("%w: %q holds offsets [%d, %d], manifest says [%d, %d]", segment.ErrCorrupt, r.Key, scan.firstBase, scan.lastOffset, e.BaseOffset, e.LastOffset)
			}
			if er := e.LeaderEpochs; er != nil && (scan.epochs.Min < er.Min || scan.epochs.Max > er.Max) {
				return fmt.Errorf("%w: %q holds leader epochs [%d, %d], manifest says [%d, %d]", segment.ErrCorrupt, r.Key, scan.epochs.Min, scan.epochs.Max, er.Min, er.Max)
			}
		}
	}
	if e.HashBlock > 0 && e.Log.SHA256 != "" {
		h := newBlockHasher(e.HashBlock)
		h.Write(data)
		_, sums := h.finish()
		switch {
		case len(sums) > sha256Size && !bytes.Equal(sums, list):
			return fmt.Errorf("%w: %q: its blocks do not match the hash list %q", segment.ErrCorrupt, e.Log.Key, hashesKey(&e))
		case len(sums) <= sha256Size && e.Hashes != nil:
			return fmt.Errorf("%w: %q is one hash block but the manifest names a hash list", segment.ErrCorrupt, e.Log.Key)
		}
	}
	return nil
}

func hashesKey(e *SegmentEntry) string {
	if e.Hashes == nil {
		return ""
	}
	return e.Hashes.Key
}
