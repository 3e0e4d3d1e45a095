package partition

// Read-only introspection for operators.

import (
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Range kinds of a partition's offset bar.
const (
	RangeRemoteOnly     = "remote"       // only in the bucket
	RangeLocalAndRemote = "local+remote" // on local disk and already uploaded
	RangeLocalOnly      = "local"        // on local disk, not (yet) uploaded
)

// View is one partition's offsets and sizes. RemoteEndOffset is -1 when
// nothing was uploaded.
type View struct {
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
	CleanableRatio    float64       `json:"cleanableRatio"` // compacted: the dirty ratio at the cleaner's last look (cleaner.go); else -1
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

// View returns the partition's offsets and sizes for operators (the admin listener's
// console, `strata tier status`). It takes no lock: offsets and sizes come from the
// segment list snapshot and the tier's published manifest state, so a view is cheap but
// not atomic.
func (p *Partition) View() View {
	segs := p.log.Segments()
	ps := View{
		Partition:         p.index,
		HighWatermark:     p.HighWatermark(),
		LocalStartOffset:  p.LocalLogStartOffset(),
		LogStartOffset:    p.LogStartOffset(),
		RemoteStartOffset: -1,
		RemoteEndOffset:   -1,
		LocalSegments:     len(segs),
		CleanableRatio:    p.cleanableRatio(),
	}
	var entries []tiering.SegmentEntry
	rp := p.getTier()
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
func offsetRanges(ps View, segs []segment.SegmentInfo, entries []tiering.SegmentEntry) []OffsetRange {
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

// TierFenced reports whether the attached tier lost the partition's manifest to another
// writer (it no longer uploads); false without a tier.
func (p *Partition) TierFenced() bool {
	t := p.getTier()
	return t != nil && t.Fenced()
}

// RemoteBytes returns the bytes of live remote segments; 0 without a tier.
func (p *Partition) RemoteBytes() int64 {
	if t := p.getTier(); t != nil {
		return t.RemoteBytes()
	}
	return 0
}
