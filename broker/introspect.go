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

	"github.com/strata-io/strata/partition"
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

// PartitionSnapshot is one partition's offsets and sizes (see partition.View).
type PartitionSnapshot = partition.View

// OffsetRange is one stretch of a partition's offsets by where it lives.
type OffsetRange = partition.OffsetRange

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
			ps := p.View()
			ts.Partitions = append(ts.Partitions, ps)
			hw[t.Name] = append(hw[t.Name], ps.HighWatermark)
		}
		s.Topics = append(s.Topics, ts)
	}
	s.Groups = b.groupSnapshots(hw)
	s.Health = b.Health(ctx)
	return s
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
		if d.Type == "consumer" {
			g.State = d.ConsumerState
		}
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
			if err := p.LogFenced(); err != nil && !p.Closed() && !noSpace(err) {
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
			if !p.HasTier() {
				continue
			}
			if p.TierFenced() {
				h.FencedPartitions++
			}
			_, lag := p.UploadBacklog()
			h.UploadBacklogBytes += lag
		}
	}
	return h
}
