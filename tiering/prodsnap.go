package tiering

// Producer-state snapshots (KIP-405 uploads one with every segment).
//
// The broker keeps its idempotent-producer state in snapshot files in the partition
// directory, <dir>/<%020d offset>.snapshot, offset being the next offset to be written when
// the snapshot was taken (package broker/producer; the broker takes one at every roll, at
// the new segment's base offset). The uploader does not interpret them: it uploads, with a
// sealed segment [base, next), the snapshot file at offset next if there is one, else the
// newest one in [base, next], as <base>-<uuid>.snapshot, and names it (with its offset) in
// the manifest entry. The files are found without listing the directory for each upload
// once the broker reports its saves and removals (producerSnapshotSet). A broker restored
// from the bucket loads the newest one (LatestProducerSnapshot) so that idempotent
// producers keep being deduplicated.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/strata-io/strata/segment"
)

// maxProducerSnapshotBytes bounds what is read from a snapshot file (producer state is a
// few dozen bytes per producer; a larger file is not ours).
const maxProducerSnapshotBytes = 256 << 20

// producerSnapshotSet is the set of producer snapshot offsets in a partition directory,
// so that an upload whose segment has no snapshot at its end does not list a directory that
// a long local history fills with hundreds of thousands of files (one listing per upload
// made the upload cost grow with the history).
//
// The set is trusted only once whoever writes and removes the snapshot files (the broker)
// has called TrackProducerSnapshots, promising to report every later save and removal. It
// is then filled by one listing taken after that call; the reports that arrive while the
// listing runs are replayed on its result, in order (each says what the file is after the
// operation, so a listing that saw the operation or not ends the same). A report that the
// files changed in an untracked way (ProducerSnapshotsChanged) empties it: the next upload
// that needs it lists again. Until it is trusted, each lookup lists the directory as before.
//
// The uploader only reads the files the set names, newest first, and takes the first that
// still exists; a set that names a removed file therefore costs a failed open, never a
// wrong choice, while a file the set does not name cannot exist once it is trusted.
type producerSnapshotSet struct {
	listMu sync.Mutex // serialises the listings; taken before mu

	mu      sync.Mutex
	tracked bool
	listed  bool    // offs is the set
	listing bool    // a listing runs: ops collects the reports
	gen     uint64  // bumped by ProducerSnapshotsChanged: a listing begun before it is stale
	offs    []int64 // ascending
	ops     []snapshotOp

	listings atomic.Int64                  // directory listings for uploads (tests count them)
	list     func(string) ([]int64, error) // nil = listProducerSnapshots (tests interpose)
}

type snapshotOp struct {
	offset  int64
	present bool
}

// listProducerSnapshots lists the snapshot offsets in dir, ascending.
func listProducerSnapshots(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return segment.ProducerSnapshotOffsets(names), nil
}

func (s *producerSnapshotSet) applyLocked(o snapshotOp) {
	i, found := slices.BinarySearch(s.offs, o.offset)
	switch {
	case o.present && !found:
		s.offs = slices.Insert(s.offs, i, o.offset)
	case !o.present && found:
		s.offs = slices.Delete(s.offs, i, i+1)
	}
}

func (s *producerSnapshotSet) report(o snapshotOp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.listing:
		s.ops = append(s.ops, o)
	case s.listed:
		s.applyLocked(o)
	}
}

// inRange returns the offsets in [from, to], newest first. ok is false when the set cannot
// be trusted (not tracked, or the listing failed or was overtaken): the caller lists.
func (s *producerSnapshotSet) inRange(dir string, from, to int64) (offs []int64, ok bool) {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	s.mu.Lock()
	if !s.tracked {
		s.mu.Unlock()
		return nil, false
	}
	if !s.listed {
		s.listing, s.ops = true, nil
		gen := s.gen
		s.mu.Unlock()
		s.listings.Add(1)
		list := s.list
		if list == nil {
			list = listProducerSnapshots
		}
		listed, err := list(dir)
		s.mu.Lock()
		s.listing = false
		ops := s.ops
		s.ops = nil
		if err != nil || s.gen != gen {
			s.mu.Unlock()
			return nil, false
		}
		s.offs, s.listed = listed, true
		for _, o := range ops {
			s.applyLocked(o)
		}
	}
	defer s.mu.Unlock()
	lo, _ := slices.BinarySearch(s.offs, from)
	hi, found := slices.BinarySearch(s.offs, to)
	if found {
		hi++
	}
	offs = slices.Clone(s.offs[lo:hi])
	slices.Reverse(offs)
	return offs, true
}

// TrackProducerSnapshots tells the partition that every later save and removal of a
// producer snapshot file in its directory is reported (ProducerSnapshotSaved,
// ProducerSnapshotRemoved, ProducerSnapshotsChanged), so that uploads stop listing the
// directory. Call it only once reports are sent for every such change that completes
// after the call returns (the broker calls it after attaching the tier it reports to).
func (p *RemotePartition) TrackProducerSnapshots() {
	p.snaps.mu.Lock()
	defer p.snaps.mu.Unlock()
	p.snaps.tracked = true
}

// ProducerSnapshotSaved reports that the snapshot file at offset exists (written, renamed
// into place).
func (p *RemotePartition) ProducerSnapshotSaved(offset int64) {
	p.snaps.report(snapshotOp{offset: offset, present: true})
}

// ProducerSnapshotRemoved reports that the snapshot file at offset no longer exists.
func (p *RemotePartition) ProducerSnapshotRemoved(offset int64) {
	p.snaps.report(snapshotOp{offset: offset})
}

// ProducerSnapshotsChanged reports changes to the snapshot files that were not reported one
// by one (a prune that listed the directory, a failed removal): the next upload that needs
// the set lists the directory again.
func (p *RemotePartition) ProducerSnapshotsChanged() {
	p.snaps.mu.Lock()
	defer p.snaps.mu.Unlock()
	p.snaps.listed, p.snaps.offs = false, nil
	p.snaps.gen++
}

// producerSnapshotCandidates returns the snapshot files to upload with seg, best first: the
// one at seg.NextOffset if it exists, else those in [seg.BaseOffset, seg.NextOffset],
// newest first (the caller takes the first that it can still read). It is empty when there
// is none (or the log does not live in a directory of the OS).
func (p *RemotePartition) producerSnapshotCandidates(seg segment.SegmentInfo) []int64 {
	if seg.LogPath == "" {
		return nil
	}
	dir := filepath.Dir(seg.LogPath)
	if fi, err := os.Stat(segment.ProducerSnapshotPath(dir, seg.NextOffset)); err == nil && fi.Mode().IsRegular() {
		return []int64{seg.NextOffset}
	}
	if offs, ok := p.snaps.inRange(dir, seg.BaseOffset, seg.NextOffset); ok {
		return offs
	}
	p.snaps.listings.Add(1)
	all, err := listProducerSnapshots(dir)
	if err != nil {
		return nil
	}
	var offs []int64
	for i := len(all) - 1; i >= 0; i-- {
		if all[i] >= seg.BaseOffset && all[i] <= seg.NextOffset {
			offs = append(offs, all[i])
		}
	}
	return offs
}

// uploadProducerSnapshot puts seg's producer snapshot, if the partition directory has one,
// and records it in e. A snapshot that disappears before it is read (the broker prunes old
// ones) is no error: the next older candidate goes up, or none.
func (p *RemotePartition) uploadProducerSnapshot(ctx context.Context, seg segment.SegmentInfo, e *SegmentEntry, lock *ObjectLock) error {
	dir := filepath.Dir(seg.LogPath)
	for _, off := range p.producerSnapshotCandidates(seg) {
		b, err := readSmallFile(segment.ProducerSnapshotPath(dir, off))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot read producer snapshot: %w", err)
		}
		ref := ObjectRef{Key: segmentObjectKey(p.prefix, seg.BaseOffset, e.ID, segment.ProducerSnapshotSuffix), Size: int64(len(b)), CRC32C: crc32c(b), SHA256: sha256Hex(b)}
		if err := p.put(ctx, ref.Key, bytes.NewReader(b), ref.Size, lock); err != nil {
			return fmt.Errorf("cannot put %q: %w", ref.Key, err)
		}
		e.ProducerSnapshot, e.ProducerSnapshotOffset = &ref, off
		return nil
	}
	return nil
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxProducerSnapshotBytes {
		return nil, fmt.Errorf("%q is %d bytes, more than a producer snapshot can be", path, fi.Size())
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// LatestProducerSnapshot returns the newest producer-state snapshot the manifest names
// among the live segments, checked against its CRC-32C, and the offset it describes (the
// state after every record below offset). found is false when no live segment has one.
func (p *RemotePartition) LatestProducerSnapshot(ctx context.Context) (data []byte, offset int64, found bool, err error) {
	entries := p.state.Load().entries
	for i := len(entries) - 1; i >= 0; i-- {
		e := &entries[i]
		if e.ProducerSnapshot == nil {
			continue
		}
		b, err := readAll(ctx, p.m.store, e.ProducerSnapshot.Key)
		if err != nil {
			return nil, 0, false, fmt.Errorf("cannot read producer snapshot %q: %w", e.ProducerSnapshot.Key, err)
		}
		if int64(len(b)) != e.ProducerSnapshot.Size || crc32c(b) != e.ProducerSnapshot.CRC32C {
			return nil, 0, false, fmt.Errorf("%w: producer snapshot %q does not match its manifest entry", ErrCorruptManifest, e.ProducerSnapshot.Key)
		}
		return b, e.ProducerSnapshotOffset, true, nil
	}
	return nil, 0, false, nil
}
