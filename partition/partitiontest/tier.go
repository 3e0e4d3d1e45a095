// Package partitiontest has a fake remote tier for the tests of package partition and of
// the packages that compose partitions (broker): the test decides what is "uploaded", and
// can hold reads at a gate or fail them.
package partitiontest

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// Tier is an in-memory partition.Tier. Its fields are guarded by Mu.
type Tier struct {
	Mu        sync.Mutex
	Batches   [][]byte // remote batches, ascending offsets
	Start     int64
	Uploads   map[int64]bool // segment base offsets confirmed uploaded
	ReadErr   error
	ReadGate  chan struct{} // if non-nil, reads block until it is closed
	Sealed    int           // OnSealed calls
	SetStarts []int64       // SetLogStartOffset calls
	SetErr    error         // SetLogStartOffset's answer
	Counted   int           // bytes reported by CountFetch
}

func lastOffset(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b)) + int64(int32(binary.BigEndian.Uint32(b[23:])))
}

func maxTimestamp(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[35:])) }

// Bounds is [Start, last offset + 1) of the batches; ok=false without batches.
func (f *Tier) Bounds() (int64, int64, bool) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if len(f.Batches) == 0 {
		return 0, 0, false
	}
	return f.Start, lastOffset(f.Batches[len(f.Batches)-1]) + 1, true
}

// Read returns a copy of the batches from the one containing offset, as
// tiering.RemotePartition.Read.
func (f *Tier) Read(ctx context.Context, offset int64, maxBytes int, minOne bool) ([]byte, error) {
	f.Mu.Lock()
	gate, rerr := f.ReadGate, f.ReadErr
	f.Mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if rerr != nil {
		return nil, rerr
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if offset < f.Start {
		return nil, segment.ErrOffsetOutOfRange
	}
	var out []byte
	for _, b := range f.Batches {
		if lastOffset(b) < offset {
			continue
		}
		if len(out)+len(b) > maxBytes && !(len(out) == 0 && minOne) {
			break
		}
		out = append(out, b...)
	}
	return out, nil
}

// ReadRecords is Read as tiering.Records; the options change nothing.
func (f *Tier) ReadRecords(ctx context.Context, offset int64, maxBytes int, minOne bool, _ tiering.ReadOptions) (tiering.Records, error) {
	b, err := f.Read(ctx, offset, maxBytes, minOne)
	if err != nil {
		return tiering.Records{}, err
	}
	return tiering.RecordsOf(b), nil
}

// CountFetch adds bytes to Counted.
func (f *Tier) CountFetch(bytes int) { f.Mu.Lock(); f.Counted += bytes; f.Mu.Unlock() }

// FindTimestamp returns the first batch whose max timestamp >= ts.
func (f *Tier) FindTimestamp(ctx context.Context, ts int64) ([]byte, bool, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for _, b := range f.Batches {
		if maxTimestamp(b) >= ts {
			return b, true, nil
		}
	}
	return nil, false, nil
}

// Uploaded reports whether Upload marked seg's base offset.
func (f *Tier) Uploaded(seg segment.SegmentInfo) bool {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Uploads[seg.BaseOffset]
}

// RollDue is false: the fake has no upload interval.
func (f *Tier) RollDue(time.Time) bool { return false }

// NoteLogEnd and OpenedWatermark: the fake keeps no watermark.
func (f *Tier) NoteLogEnd(next int64)                       {}
func (f *Tier) OpenedWatermark() tiering.PartitionWatermark { return tiering.PartitionWatermark{} }

// OnSealed counts in Sealed.
func (f *Tier) OnSealed() { f.Mu.Lock(); f.Sealed++; f.Mu.Unlock() }

// SetLogStartOffset records offset in SetStarts and raises Start, or fails with SetErr.
func (f *Tier) SetLogStartOffset(ctx context.Context, offset int64) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.SetErr != nil {
		return f.SetErr
	}
	f.SetStarts = append(f.SetStarts, offset)
	f.Start = max(f.Start, offset)
	return nil
}

// ApplyRetention retains everything: it returns the current Start.
func (f *Tier) ApplyRetention(ctx context.Context, retentionMs, retentionBytes, localBytes int64, now time.Time) (int64, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Start, nil
}

// The producer snapshot reports are ignored; the fake holds no snapshot.
func (f *Tier) TrackProducerSnapshots()              {}
func (f *Tier) ProducerSnapshotSaved(offset int64)   {}
func (f *Tier) ProducerSnapshotRemoved(offset int64) {}
func (f *Tier) ProducerSnapshotsChanged()            {}
func (f *Tier) LatestProducerSnapshot(ctx context.Context) ([]byte, int64, bool, error) {
	return nil, 0, false, nil
}

// Entries is empty, RemoteBytes the batches' size; the fake is never fenced.
func (f *Tier) Entries() []tiering.SegmentEntry { return nil }
func (f *Tier) RemoteBytes() int64 {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var n int64
	for _, b := range f.Batches {
		n += int64(len(b))
	}
	return n
}
func (f *Tier) Fenced() bool { return false }

// Upload copies the sealed segments [0, n) of l to the tier and marks them uploaded.
func (f *Tier) Upload(t testing.TB, l *segment.Log, n int) {
	t.Helper()
	segs := l.Segments()
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.Uploads == nil {
		f.Uploads = make(map[int64]bool)
	}
	for _, s := range segs[:n] {
		if !s.Sealed {
			t.Fatalf("segment %d is not sealed", s.BaseOffset)
		}
		rr, err := l.Read(s.BaseOffset, int(s.Size), true)
		if err != nil {
			t.Fatalf("read segment %d: %v", s.BaseOffset, err)
		}
		data := make([]byte, rr.Size)
		if _, err := rr.File.ReadAt(data, rr.Position); err != nil {
			t.Fatalf("read segment %d: %v", s.BaseOffset, err)
		}
		for len(data) >= 12 {
			size := 12 + int(int32(binary.BigEndian.Uint32(data[8:])))
			if size > len(data) {
				break
			}
			f.Batches = append(f.Batches, data[:size:size])
			data = data[size:]
		}
		f.Uploads[s.BaseOffset] = true
	}
}
