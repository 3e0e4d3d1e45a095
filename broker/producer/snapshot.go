package producer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"

	"github.com/strata-io/strata/segment"
)

// ErrCorruptSnapshot marks a producer state snapshot that fails its checks.
var ErrCorruptSnapshot = errors.New("producer: corrupt snapshot")

const (
	snapshotMagic   = "SPSN"
	snapshotVersion = 2 // 2 adds each producer's open transaction; 1 is still read
	headerLen       = 4 + 2 + 4
	entryHeaderLen  = 8 + 2 + 8 + 1
	batchLen        = 4 + 4 + 8 + 8 + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode serialises the state (see doc.go for the layout).
func (s *State) Encode() []byte {
	s.mu.Lock()
	entries := s.entriesLocked()
	b := make([]byte, 0, headerLen+len(entries)*(entryHeaderLen+batchLen)+4)
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint16(b, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
		b = binary.BigEndian.AppendUint16(b, uint16(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastSeen))
		b = append(b, byte(len(e.Batches)))
		for _, m := range e.Batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.FirstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.LastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.FirstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.LastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.MaxTimestamp))
		}
		b = appendTxn(b, e) // v2
	}
	s.mu.Unlock()
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Decode replaces the state's producers with those in snapshot b. On error the state is
// unchanged and the error matches ErrCorruptSnapshot.
func (s *State) Decode(b []byte) error {
	producers, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.producers = producers
	s.removed = make(map[int64]int64)
	s.open = make(map[int64]*Entry)
	for pid, e := range producers {
		if e.InTxn {
			s.open[pid] = e
		}
	}
	s.mu.Unlock()
	return nil
}

func decodeSnapshot(b []byte) (map[int64]*Entry, error) {
	corrupt := func(what string) error { return fmt.Errorf("%w: %s", ErrCorruptSnapshot, what) }
	if len(b) < headerLen+4 {
		return nil, corrupt("short file")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, corrupt("crc mismatch")
	}
	if string(body[:4]) != snapshotMagic {
		return nil, corrupt("bad magic")
	}
	v := binary.BigEndian.Uint16(body[4:6])
	if v != 1 && v != snapshotVersion {
		return nil, corrupt(fmt.Sprintf("unsupported version %d", v))
	}
	n := binary.BigEndian.Uint32(body[6:10])
	p := body[headerLen:]
	if uint64(n)*entryHeaderLen > uint64(len(p)) {
		return nil, corrupt("entry count exceeds file")
	}
	out := make(map[int64]*Entry, n)
	for i := uint32(0); i < n; i++ {
		if len(p) < entryHeaderLen {
			return nil, corrupt("truncated entry")
		}
		e := &Entry{
			ProducerID: int64(binary.BigEndian.Uint64(p)),
			Epoch:      int16(binary.BigEndian.Uint16(p[8:])),
			LastSeen:   int64(binary.BigEndian.Uint64(p[10:])),
		}
		nb := int(p[18])
		p = p[entryHeaderLen:]
		if nb > MaxCachedBatches || len(p) < nb*batchLen {
			return nil, corrupt("bad batch count")
		}
		if e.ProducerID < 0 {
			return nil, corrupt("negative producer id")
		}
		if _, dup := out[e.ProducerID]; dup {
			return nil, corrupt("duplicate producer id")
		}
		for j := 0; j < nb; j++ {
			e.Batches = append(e.Batches, BatchMeta{
				ProducerID:    e.ProducerID,
				ProducerEpoch: e.Epoch,
				FirstSeq:      int32(binary.BigEndian.Uint32(p)),
				LastSeq:       int32(binary.BigEndian.Uint32(p[4:])),
				FirstOffset:   int64(binary.BigEndian.Uint64(p[8:])),
				LastOffset:    int64(binary.BigEndian.Uint64(p[16:])),
				MaxTimestamp:  int64(binary.BigEndian.Uint64(p[24:])),
			})
			p = p[batchLen:]
		}
		if v >= 2 {
			var ok bool
			if p, ok = readTxn(p, e); !ok {
				return nil, corrupt("truncated transaction")
			}
		}
		out[e.ProducerID] = e
	}
	if len(p) != 0 {
		return nil, corrupt("trailing bytes")
	}
	return out, nil
}

// txnLen is the v2 transaction part of an entry: 1 open flag, 8 first offset.
const txnLen = 1 + 8

func appendTxn(b []byte, e *Entry) []byte {
	if !e.InTxn {
		return binary.BigEndian.AppendUint64(append(b, 0), 0)
	}
	return binary.BigEndian.AppendUint64(append(b, 1), uint64(e.TxnFirstOffset))
}

func readTxn(p []byte, e *Entry) ([]byte, bool) {
	if len(p) < txnLen || p[0] > 1 {
		return p, false
	}
	e.InTxn, e.TxnFirstOffset = p[0] == 1, int64(binary.BigEndian.Uint64(p[1:]))
	return p[txnLen:], true
}

// SnapshotPath returns <dir>/%020d.snapshot for offset (the next offset to be written
// when the snapshot was taken, i.e. the new segment's base offset on a roll).
func SnapshotPath(dir string, offset int64) string {
	return segment.ProducerSnapshotPath(dir, offset)
}

// Save writes the state as <dir>/%020d.snapshot on fsys (nil: the operating system)
// atomically, with segment.WriteFileAtomic: a crash leaves the previous file or the new
// one, and once Save returns nil the snapshot survives a crash.
func (s *State) Save(fsys segment.FS, dir string, offset int64) error {
	path := SnapshotPath(dir, offset)
	if err := segment.WriteFileAtomic(orOS(fsys), path, s.Encode(), 0o644); err != nil {
		return fmt.Errorf("cannot save producer snapshot %q: %w", path, err)
	}
	return nil
}

// Load replaces the state with <dir>/%020d.snapshot for offset, read from fsys (nil: the
// operating system).
func (s *State) Load(fsys segment.FS, dir string, offset int64) error {
	path := SnapshotPath(dir, offset)
	b, err := segment.ReadFile(orOS(fsys), path)
	if err != nil {
		return fmt.Errorf("cannot read producer snapshot %q: %w", path, err)
	}
	if err := s.Decode(b); err != nil {
		return fmt.Errorf("producer snapshot %q: %w", path, err)
	}
	return nil
}

// Snapshots lists the offsets of the snapshot files in dir on fsys (nil: the operating
// system), ascending. Temporary files of an interrupted Save are not snapshots.
func Snapshots(fsys segment.FS, dir string) ([]int64, error) {
	ents, err := orOS(fsys).ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list producer snapshots in %q: %w", dir, err)
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return segment.ProducerSnapshotOffsets(names), nil
}

// LoadLatest loads the newest valid snapshot at or below maxOffset (the log end offset
// after recovery) and returns its offset; the broker then replays batches from that
// offset with ApplyBatch. Corrupt snapshots are skipped (older ones are tried). found is
// false when no usable snapshot exists: the broker replays the whole local log.
func (s *State) LoadLatest(fsys segment.FS, dir string, maxOffset int64) (offset int64, found bool, err error) {
	offs, err := Snapshots(fsys, dir)
	if err != nil {
		return 0, false, err
	}
	return s.LoadLatestOf(fsys, dir, offs, maxOffset)
}

// LoadLatestOf is LoadLatest given the snapshot offsets in dir (ascending, as Snapshots or
// segment.ProducerSnapshotOffsets return them), for a caller that has just listed dir anyway.
func (s *State) LoadLatestOf(fsys segment.FS, dir string, offs []int64, maxOffset int64) (offset int64, found bool, err error) {
	for i := len(offs) - 1; i >= 0; i-- {
		if offs[i] > maxOffset {
			continue
		}
		if err := s.Load(fsys, dir, offs[i]); err != nil {
			if errors.Is(err, ErrCorruptSnapshot) {
				continue
			}
			return 0, false, err
		}
		return offs[i], true, nil
	}
	return 0, false, nil
}

// DeleteSnapshots removes the snapshot files in dir on fsys (nil: the operating system)
// whose offset is below keepFrom (older segments were deleted) or above keepTo (the log
// was truncated below them).
func DeleteSnapshots(fsys segment.FS, dir string, keepFrom, keepTo int64) error {
	fsys = orOS(fsys)
	offs, err := Snapshots(fsys, dir)
	if err != nil {
		return err
	}
	for _, o := range offs {
		if o < keepFrom || o > keepTo {
			if err := fsys.Remove(SnapshotPath(dir, o)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cannot remove producer snapshot: %w", err)
			}
		}
	}
	return nil
}

func orOS(fsys segment.FS) segment.FS {
	if fsys == nil {
		return segment.OSFS{}
	}
	return fsys
}
