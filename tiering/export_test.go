package tiering

import (
	"bytes"
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Internals exposed to the external tests (package tiering_test), which need memstore,
// which imports this package.

// OpenPartitionLocal opens a partition over any local log implementation.
func (m *Manager) OpenPartitionLocal(ctx context.Context, topic string, id [16]byte, partition int32, log LocalLogForTest, pcfg PartitionConfig) (*RemotePartition, error) {
	return m.openPartition(ctx, topic, id, partition, log, pcfg)
}

type LocalLogForTest = localLog

func (m *Manager) CopySegmentsMetric(topic string) float64 {
	return testutil.ToFloat64(m.metrics.copySegments.WithLabelValues(topic))
}
func (m *Manager) FetchBytesMetric(topic string) float64 {
	return testutil.ToFloat64(m.metrics.fetchBytes.WithLabelValues(topic))
}
func (m *Manager) DeletedSegmentsMetric(topic string) float64 {
	return testutil.ToFloat64(m.metrics.deletedSegments.WithLabelValues(topic))
}
func (m *Manager) OrphansMetric() float64 { return testutil.ToFloat64(m.metrics.orphansSwept) }
func (m *Manager) ErrorsMetric(op string) float64 {
	return testutil.ToFloat64(m.metrics.errors.WithLabelValues(op))
}
func (m *Manager) LagSegmentsMetric(topic string, partition string) float64 {
	return testutil.ToFloat64(m.metrics.copyLagSegments.WithLabelValues(topic, partition))
}

const HeadManifestName = headManifestName

func SegmentObjectKey(prefix string, base int64, id, ext string) string {
	return segmentObjectKey(prefix, base, id, ext)
}

// ManifestAppendCosts appends entries one by one through a manifestWriter with the given
// spill size and returns the bytes each update wrote, and the entries a fresh load sees.
func ManifestAppendCosts(ctx context.Context, store ObjectStore, prefix string, chunkEntries int, entries []SegmentEntry) ([]int64, int, error) {
	w := &manifestWriter{store: store, partPrefix: prefix, chunkEntries: chunkEntries, writer: "test", now: time.Now}
	pm := &partitionManifest{head: PartitionHead{Topic: "t", TopicID: "x"}}
	var costs []int64
	for _, e := range entries {
		var err error
		if pm, err = w.appendEntry(ctx, pm, e); err != nil {
			return nil, 0, err
		}
		costs = append(costs, w.lastUpdate)
	}
	re, err := loadManifest(ctx, store, prefix, nil)
	if err != nil {
		return nil, 0, err
	}
	return costs, len(re.entries), nil
}

// ScanSegment runs the upload scan over b: the remote index and time index it builds.
func ScanSegment(b []byte, base int64, interval int) (index, timeIndex []byte, lastOffset int64, err error) {
	s, err := scanSegment(bytes.NewReader(b), int64(len(b)), base, interval)
	if err != nil {
		return nil, nil, 0, err
	}
	return s.index, s.timeIndex, s.lastOffset, nil
}

// ManifestAppendBatches appends the batches through one manifestWriter (one head write
// each) and returns the entries and chunk refs of the in-memory result and of a fresh load.
func ManifestAppendBatches(ctx context.Context, store ObjectStore, prefix string, chunkEntries int, batches [][]SegmentEntry) (mem, loaded []SegmentEntry, memChunks, loadedChunks []ChunkRef, err error) {
	w := &manifestWriter{store: store, partPrefix: prefix, chunkEntries: chunkEntries, writer: "test", now: time.Now}
	pm := &partitionManifest{head: PartitionHead{Topic: "t", TopicID: "x"}}
	for _, b := range batches {
		if pm, err = w.appendEntries(ctx, pm, b); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	re, err := loadManifest(ctx, store, prefix, nil)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return pm.entries, re.entries, pm.chunks, re.chunks, nil
}

// LoadManifestForTest loads a partition's manifest with the chunk copies (and chain
// record) of dir.
func LoadManifestForTest(ctx context.Context, store ObjectStore, prefix, dir string) ([]SegmentEntry, []ChunkRef, error) {
	pm, err := loadManifest(ctx, store, prefix, &chunkCache{dir: dir})
	if err != nil {
		return nil, nil, err
	}
	return pm.entries, pm.chunks, nil
}

// ChainRecordForTest returns the chain record in dir (nil if none or damaged).
func ChainRecordForTest(dir string) []ChunkRef { return (&chunkCache{dir: dir}).chain() }

// PutChainRecordForTest writes a (valid) chain record of refs into dir.
func PutChainRecordForTest(dir string, refs []ChunkRef) { (&chunkCache{dir: dir}).putChain(refs) }

// ProducerSnapshotListings is how many times uploads listed the partition directory to
// find producer snapshots.
func (p *RemotePartition) ProducerSnapshotListings() int64 { return p.snaps.listings.Load() }

// ReadAheadLease returns the bytes of read-ahead p holds a lease on (readahead.go).
func (p *RemotePartition) ReadAheadLease() int64 {
	p.m.ahead.mu.Lock()
	defer p.m.ahead.mu.Unlock()
	return p.m.ahead.leases[p].bytes
}
func (m *Manager) IntegrityMetric(kind string) float64 {
	return testutil.ToFloat64(m.metrics.integrity.WithLabelValues(kind))
}

func (m *Manager) DeleteRefusedMetric() float64 { return testutil.ToFloat64(m.metrics.deleteRefused) }
