package tiering

// Producer-state snapshots (KIP-405 uploads one with every segment).
//
// The broker keeps its idempotent-producer state in snapshot files in the partition
// directory, <dir>/<%020d offset>.snapshot, offset being the next offset to be written when
// the snapshot was taken (package broker/producer; the broker takes one at every roll, at
// the new segment's base offset). The uploader does not interpret them: it uploads, with a
// sealed segment [base, next), the snapshot file at offset next if there is one, else the
// newest one in [base, next], as <base>-<uuid>.snapshot, and names it (with its offset) in
// the manifest entry. A broker restored from the bucket loads the newest one
// (LatestProducerSnapshot) so that idempotent producers keep being deduplicated.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/strata-io/strata/segment"
)

// ProducerSnapshotSuffix is the file suffix of the broker's producer-state snapshots.
const ProducerSnapshotSuffix = ".snapshot"

// maxProducerSnapshotBytes bounds what is read from a snapshot file (producer state is a
// few dozen bytes per producer; a larger file is not ours).
const maxProducerSnapshotBytes = 256 << 20

// localProducerSnapshot finds the snapshot file to upload with seg: the one at
// seg.NextOffset, else the newest in [seg.BaseOffset, seg.NextOffset]. ok is false when
// there is none (or the log does not live in a directory of the OS).
func localProducerSnapshot(seg segment.SegmentInfo) (path string, offset int64, ok bool) {
	if seg.LogPath == "" {
		return "", 0, false
	}
	dir := filepath.Dir(seg.LogPath)
	exact := filepath.Join(dir, fmt.Sprintf("%020d%s", seg.NextOffset, ProducerSnapshotSuffix))
	if fi, err := os.Stat(exact); err == nil && fi.Mode().IsRegular() {
		return exact, seg.NextOffset, true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", 0, false
	}
	best := int64(-1)
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ProducerSnapshotSuffix) || len(name) != 20+len(ProducerSnapshotSuffix) {
			continue
		}
		off, err := strconv.ParseInt(strings.TrimSuffix(name, ProducerSnapshotSuffix), 10, 64)
		if err != nil || off < seg.BaseOffset || off > seg.NextOffset {
			continue
		}
		best = max(best, off)
	}
	if best < 0 {
		return "", 0, false
	}
	return filepath.Join(dir, fmt.Sprintf("%020d%s", best, ProducerSnapshotSuffix)), best, true
}

// uploadProducerSnapshot puts seg's producer snapshot, if the partition directory has one,
// and records it in e. A snapshot that disappears before it is read (the broker prunes old
// ones) is no error: the segment goes up without one.
func (p *RemotePartition) uploadProducerSnapshot(ctx context.Context, seg segment.SegmentInfo, e *SegmentEntry) error {
	path, off, ok := localProducerSnapshot(seg)
	if !ok {
		return nil
	}
	b, err := readSmallFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read producer snapshot: %w", err)
	}
	ref := ObjectRef{Key: segmentObjectKey(p.prefix, seg.BaseOffset, e.ID, ProducerSnapshotSuffix), Size: int64(len(b)), CRC32C: crc32c(b)}
	if err := p.m.store.Put(ctx, ref.Key, bytes.NewReader(b), ref.Size); err != nil {
		return fmt.Errorf("cannot put %q: %w", ref.Key, err)
	}
	e.ProducerSnapshot, e.ProducerSnapshotOffset = &ref, off
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
