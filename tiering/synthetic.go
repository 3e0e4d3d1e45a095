package tiering

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// Building remote histories without a broker: cmd/strata-bench's "flat with history"
// phase names 100,000 sealed segments in a partition's manifest in minutes. These helpers
// produce exactly what the uploader and the manifest writer produce (entry fields,
// remote indexes, hashes, hash chain, spilled chunks), so that the broker loading the
// result cannot tell it from a history it uploaded itself.

// SegmentObjects is one sealed segment described as the uploader describes it: its
// manifest entry and the bodies of its objects, keyed by object key.
type SegmentObjects struct {
	Entry   SegmentEntry
	Objects map[string][]byte // .log, .index, .timeindex (and .hashes when the log spans several hash blocks)
}

// DescribeSegment scans the batches of a sealed segment (log, whose first batch has base
// offset base) as the uploader does before putting it under partPrefix: framing and CRC
// checks, remote indexes, CRC-32C and SHA-256 of every object. cfg supplies ChunkBytes and
// IndexIntervalBytes (zero: the defaults). Nothing is stored.
func DescribeSegment(partPrefix string, base int64, log []byte, cfg Config) (SegmentObjects, error) {
	cfg = cfg.withDefaults()
	hasher := newBlockHasher(hashBlockFor(cfg.ChunkBytes))
	size := int64(len(log))
	scan, err := scanSegment(io.TeeReader(bytes.NewReader(log), hasher), size, base, cfg.IndexIntervalBytes)
	if err != nil {
		return SegmentObjects{}, fmt.Errorf("cannot scan segment at %d: %w", base, err)
	}
	id := uuid.NewString()
	e := SegmentEntry{
		ID: id, BaseOffset: base, LastOffset: scan.lastOffset,
		FirstTimestamp: scan.firstTs, MaxTimestamp: scan.maxTs, Size: size, Batches: scan.batches,
		Log:       ObjectRef{Key: segmentObjectKey(partPrefix, base, id, ".log"), Size: size, CRC32C: scan.crc},
		Index:     ObjectRef{Key: segmentObjectKey(partPrefix, base, id, ".index"), Size: int64(len(scan.index))},
		TimeIndex: ObjectRef{Key: segmentObjectKey(partPrefix, base, id, ".timeindex"), Size: int64(len(scan.timeIndex))},
	}
	e.LeaderEpochs = &scan.epochs
	e.Index.CRC32C, e.Index.SHA256 = crc32c(scan.index), sha256Hex(scan.index)
	e.TimeIndex.CRC32C, e.TimeIndex.SHA256 = crc32c(scan.timeIndex), sha256Hex(scan.timeIndex)
	var blockSums []byte
	e.Log.SHA256, blockSums = hasher.finish()
	e.HashBlock = hasher.block
	objs := map[string][]byte{e.Log.Key: log, e.Index.Key: scan.index, e.TimeIndex.Key: scan.timeIndex}
	if len(blockSums) > sha256Size {
		e.Hashes = &ObjectRef{Key: segmentObjectKey(partPrefix, base, id, ".hashes"), Size: int64(len(blockSums)),
			CRC32C: crc32c(blockSums), SHA256: sha256Hex(blockSums)}
		objs[e.Hashes.Key] = blockSums
	}
	return SegmentObjects{Entry: e, Objects: objs}, nil
}

// WriteManifest stores, under partPrefix, the manifest of a partition (topic, topicID,
// partition) that holds entries (in offset order, from DescribeSegment) and nothing else,
// with the manifest writer the uploader uses: the hash chain links every entry, full heads
// spill into immutable chunks of cfg.ManifestChunkEntries (zero: the default) and one head
// write names them all. The head must not exist yet. It returns the head as stored.
func WriteManifest(ctx context.Context, store ObjectStore, partPrefix, topic string, topicID [16]byte, partition int32, entries []SegmentEntry, cfg Config) (PartitionHead, error) {
	cfg = cfg.withDefaults()
	w := &manifestWriter{store: store, partPrefix: partPrefix, chunkEntries: cfg.ManifestChunkEntries,
		writer: uuid.NewString(), now: time.Now}
	pm := &partitionManifest{head: PartitionHead{Topic: topic, TopicID: TopicIDString(topicID), Partition: partition}}
	next, err := w.appendEntries(ctx, pm, entries)
	if err != nil {
		return PartitionHead{}, err
	}
	return next.head, nil
}
