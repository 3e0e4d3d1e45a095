package broker

// Read-only introspection for operators: the admin listener's console, /readyz and
// `strata tier status` read the broker through Snapshot and Health. Nothing here takes a
// partition's write lock: offsets and sizes come from the segment list snapshot and the
// tier's published manifest state, so a snapshot is cheap but not atomic across
// partitions.

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Range kinds of a partition's offset bar.
const (
	RangeRemoteOnly     = "remote"       // only in the bucket
	RangeLocalAndRemote = "local+remote" // on local disk and already uploaded
	RangeLocalOnly      = "local"        // on local disk, not (yet) uploaded
)

// ClusterSnapshot is what the console shows: every topic and partition, the consumer
// groups with their lag, and the broker's health facts.
type ClusterSnapshot struct {
	ClusterID string          `json:"clusterId"`
	NodeID    int32           `json:"nodeId"`
	Addr      string          `json:"addr"`
	Time      time.Time       `json:"time"`
	Topics    []TopicSnapshot `json:"topics"`
	Groups    []GroupSnapshot `json:"groups"`
	Health    Health          `json:"health"`
}

// TopicSnapshot is one topic.
type TopicSnapshot struct {
	Name          string              `json:"name"`
	ID            string              `json:"id"`
	RemoteStorage bool                `json:"remoteStorage"` // remote.storage.enable
	Partitions    []PartitionSnapshot `json:"partitions"`
}

// PartitionSnapshot is one partition's offsets and sizes. RemoteEndOffset is -1 when
// nothing was uploaded.
type PartitionSnapshot struct {
	Partition         int32         `json:"partition"`
	LogStartOffset    int64         `json:"logStartOffset"`
	LocalStartOffset  int64         `json:"localStartOffset"`
	RemoteStartOffset int64         `json:"remoteStartOffset"`
	RemoteEndOffset   int64         `json:"remoteEndOffset"`
	HighWatermark     int64         `json:"highWatermark"`
	LocalBytes        int64         `json:"localBytes"`
	RemoteBytes       int64         `json:"remoteBytes"`
	LocalSegments     int           `json:"localSegments"`
	RemoteSegments    int           `json:"remoteSegments"`
	UploadLagBytes    int64         `json:"uploadLagBytes"` // sealed local segments not yet uploaded
	Ranges            []OffsetRange `json:"ranges"`
}

// OffsetRange is one stretch of a partition's offsets [Start, End) by where it lives.
// OldestTimestamp is the first record's timestamp (Unix ms) of the range, -1 if unknown.
type OffsetRange struct {
	Kind            string `json:"kind"`
	Start           int64  `json:"start"`
	End             int64  `json:"end"`
	Bytes           int64  `json:"bytes"`
	OldestTimestamp int64  `json:"oldestTimestamp"`
}

// GroupSnapshot is one consumer group with its committed offsets and lag.
type GroupSnapshot struct {
	Group      string           `json:"group"`
	State      string           `json:"state"`
	Members    int              `json:"members"`
	TotalLag   int64            `json:"totalLag"`
	Partitions []GroupPartition `json:"partitions"`
}

// GroupPartition is a group's position in one partition. Lag is HighWatermark -
// Committed (never negative); -1 when the partition no longer exists.
type GroupPartition struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	Committed     int64  `json:"committed"`
	HighWatermark int64  `json:"highWatermark"`
	Lag           int64  `json:"lag"`
}

// Health are the facts readiness is decided on; the policy (thresholds) is the caller's.
type Health struct {
	Recovered          bool   `json:"recovered"` // data dir open and every partition recovered
	DataDir            string `json:"dataDir"`
	DataDirError       string `json:"dataDirError,omitempty"` // the data dir cannot be stat'ed
	DiskFreeBytes      int64  `json:"diskFreeBytes"`          // -1 unknown
	DiskTotalBytes     int64  `json:"diskTotalBytes"`         // -1 unknown
	TieringEnabled     bool   `json:"tieringEnabled"`
	BucketError        string `json:"bucketError,omitempty"` // last probe of the bucket failed
	UploadBacklogBytes int64  `json:"uploadBacklogBytes"`    // sealed local bytes not yet uploaded, all partitions
	FencedPartitions   int    `json:"fencedPartitions"`
	DiskPressure       string `json:"diskPressure,omitempty"` // the disk budget is used up (DiskPressure); produce is refused
	DiskFull           string `json:"diskFull,omitempty"`     // the data dir's disk is full (DiskFull): partitions fenced by ENOSPC, or almost no space
	// StorageFencedPartitions counts local logs fenced by a failed write or fsync other than
	// a full disk (those are in DiskFull): they refuse produce until a restart recovers them.
	StorageFencedPartitions int `json:"storageFencedPartitions,omitempty"`
	Connections             int `json:"connections"`
}

// Snapshot returns the current state of every topic, partition and group, and Health.
func (b *Broker) Snapshot(ctx context.Context) ClusterSnapshot {
	s := ClusterSnapshot{ClusterID: b.clusterID, NodeID: b.cfg.NodeID, Addr: b.Addr().String(), Time: time.Now()}
	hw := map[string][]int64{}
	for _, t := range b.allTopics() {
		ts := TopicSnapshot{Name: t.Name, ID: uuid.UUID(t.ID).String(), RemoteStorage: t.Config().RemoteStorageEnable}
		for _, p := range t.partitions() {
			ps := b.partitionSnapshot(p)
			ts.Partitions = append(ts.Partitions, ps)
			hw[t.Name] = append(hw[t.Name], ps.HighWatermark)
		}
		s.Topics = append(s.Topics, ts)
	}
	s.Groups = b.groupSnapshots(hw)
	s.Health = b.Health(ctx)
	return s
}

// remotePartition returns p's remote tier as the concrete type (for entries and bytes).
func (b *Broker) remotePartition(p *Partition) *tiering.RemotePartition {
	if rp, ok := p.getTier().(*tiering.RemotePartition); ok {
		return rp
	}
	return nil
}

func (b *Broker) partitionSnapshot(p *Partition) PartitionSnapshot {
	segs := p.log.Segments()
	ps := PartitionSnapshot{
		Partition:         p.index,
		HighWatermark:     p.HighWatermark(),
		LocalStartOffset:  p.LocalLogStartOffset(),
		LogStartOffset:    p.LogStartOffset(),
		RemoteStartOffset: -1,
		RemoteEndOffset:   -1,
		LocalSegments:     len(segs),
	}
	var entries []tiering.SegmentEntry
	rp := b.remotePartition(p)
	if rp != nil {
		entries = rp.Entries()
		ps.RemoteBytes = rp.RemoteBytes()
		ps.RemoteSegments = len(entries)
		if start, end, ok := rp.Bounds(); ok {
			ps.RemoteStartOffset, ps.RemoteEndOffset = start, end
		}
	}
	for _, sg := range segs {
		ps.LocalBytes += sg.Size
	}
	if rp != nil {
		_, ps.UploadLagBytes = localBacklog(p.log, rp) // as strata_partition_upload_lag_bytes
	}
	ps.Ranges = offsetRanges(ps, segs, entries)
	return ps
}

// offsetRanges splits [LogStartOffset, HighWatermark) into remote-only, local-and-remote
// and local-only ranges. Bytes are whole segments' sizes, attributed to the range holding
// the segment's first offset (an approximation at the edges: segments do not split).
func offsetRanges(ps PartitionSnapshot, segs []segment.SegmentInfo, entries []tiering.SegmentEntry) []OffsetRange {
	localStart := ps.LocalStartOffset
	remoteEnd := ps.RemoteEndOffset
	if remoteEnd < 0 {
		remoteEnd = ps.LogStartOffset // nothing remote
	}
	out := make([]OffsetRange, 0, 3) // add returns pointers into out: no reallocation
	add := func(kind string, start, end int64) *OffsetRange {
		if end <= start {
			return nil
		}
		out = append(out, OffsetRange{Kind: kind, Start: start, End: end, OldestTimestamp: -1})
		return &out[len(out)-1]
	}
	split := min(max(remoteEnd, localStart), ps.HighWatermark)
	ro := add(RangeRemoteOnly, ps.LogStartOffset, min(localStart, ps.HighWatermark))
	lr := add(RangeLocalAndRemote, max(localStart, ps.LogStartOffset), min(remoteEnd, ps.HighWatermark))
	lo := add(RangeLocalOnly, max(split, ps.LogStartOffset), ps.HighWatermark)
	oldest := func(r *OffsetRange, ts int64) {
		if r != nil && r.OldestTimestamp < 0 && ts >= 0 {
			r.OldestTimestamp = ts
		}
	}
	for _, e := range entries {
		if ro != nil && e.LastOffset >= ro.Start && e.BaseOffset < ro.End {
			ro.Bytes += e.Size
			oldest(ro, e.FirstTimestamp)
		}
	}
	for _, sg := range segs {
		if sg.Size == 0 {
			continue
		}
		ts := sg.MaxTimestamp // the local log keeps max timestamps only
		if !sg.Created.IsZero() && (ts < 0 || sg.Created.UnixMilli() < ts) {
			ts = sg.Created.UnixMilli()
		}
		switch {
		case lr != nil && sg.BaseOffset < lr.End && sg.NextOffset > lr.Start:
			lr.Bytes += sg.Size
			oldest(lr, ts)
		case lo != nil && sg.NextOffset > lo.Start:
			lo.Bytes += sg.Size
			oldest(lo, ts)
		}
	}
	return out
}

func (b *Broker) groupSnapshots(hw map[string][]int64) []GroupSnapshot {
	if b.groups == nil {
		return nil
	}
	var out []GroupSnapshot
	for _, name := range b.groups.Groups() {
		d, ok := b.groups.Describe(name)
		if !ok {
			continue
		}
		g := GroupSnapshot{Group: name, State: d.State.String(), Members: len(d.Members)}
		for topic, parts := range d.Offsets {
			for part, v := range parts {
				gp := GroupPartition{Topic: topic, Partition: part, Committed: v.Offset, HighWatermark: -1, Lag: -1}
				if hws := hw[topic]; int(part) < len(hws) && part >= 0 {
					gp.HighWatermark = hws[part]
					gp.Lag = max(0, gp.HighWatermark-gp.Committed)
					g.TotalLag += gp.Lag
				}
				g.Partitions = append(g.Partitions, gp)
			}
		}
		slices.SortFunc(g.Partitions, func(a, c GroupPartition) int {
			if n := strings.Compare(a.Topic, c.Topic); n != 0 {
				return n
			}
			return int(a.Partition - c.Partition)
		})
		out = append(out, g)
	}
	return out
}

// Health gathers the facts /readyz decides on. It never waits for the bucket: the bucket's
// state is the last background probe's (bucketprobe.go), refreshed when it is stale.
func (b *Broker) Health(ctx context.Context) Health {
	h := Health{Recovered: true, DataDir: b.cfg.DataDir, DiskFreeBytes: -1, DiskTotalBytes: -1,
		TieringEnabled: b.tier != nil}
	var st syscall.Statfs_t
	if err := syscall.Statfs(b.cfg.DataDir, &st); err == nil {
		h.DiskFreeBytes = int64(st.Bavail) * int64(st.Bsize)
		h.DiskTotalBytes = int64(st.Blocks) * int64(st.Bsize)
	} else {
		h.DataDirError = err.Error()
	}
	b.connMu.Lock()
	h.Connections = len(b.conns)
	b.connMu.Unlock()
	if ok, why := b.DiskPressure(); ok { // diskbudget.go
		h.DiskPressure = why
	}
	if ok, why := b.DiskFull(); ok { // fulldisk.go
		h.DiskFull = why
	}
	for _, t := range b.allTopics() {
		for _, p := range t.partitions() {
			if err := p.log.Fenced(); err != nil && !p.closed.Load() && !noSpace(err) {
				h.StorageFencedPartitions++
			}
		}
	}
	if b.tier == nil {
		return h
	}
	if err := b.bucketState(); err != nil {
		h.BucketError = err.Error()
	}
	for _, t := range b.allTopics() {
		for _, p := range t.partitions() {
			rp := b.remotePartition(p)
			if rp == nil {
				continue
			}
			if rp.Fenced() {
				h.FencedPartitions++
			}
			_, lag := localBacklog(p.log, rp)
			h.UploadBacklogBytes += lag
		}
	}
	return h
}
