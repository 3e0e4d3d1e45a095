package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/strata-io/strata/segment"
)

// Snapshots outside the data dir: the broker copies the coordinator's state to the bucket
// so that a broker restored onto an empty data dir resumes every group at its committed
// offsets. The copy is a whole groups.snapshot file (the format in doc.go), so a restore
// installs it as the local snapshot and OpenFileStore loads it as after a compaction.

// encodeSnapshot renders st as a groups.snapshot file covering records up to lastSeq; it
// returns the file and its record count.
func encodeSnapshot(st *memState, lastSeq uint64) ([]byte, uint64) {
	var body []byte
	var n uint64
	st.records(func(r Record) {
		body = appendFrame(body, appendRecord(nil, 0, r))
		n++
	})
	b := make([]byte, 0, snapHeaderLen+len(body))
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint16(b, formatVersion)
	b = binary.BigEndian.AppendUint64(b, lastSeq)
	b = binary.BigEndian.AppendUint64(b, n)
	return append(b, body...), n
}

// decodeSnapshot checks a groups.snapshot file (header, every frame's CRC, the record
// count) and calls fn with each record. A file that fails a check is ErrCorrupt; fn may
// then have seen a prefix of the records.
func decodeSnapshot(b []byte, fn func(Record)) (lastSeq, n uint64, err error) {
	corrupt := func(what string) error { return fmt.Errorf("%w: %s", ErrCorrupt, what) }
	if len(b) < snapHeaderLen || string(b[:4]) != snapshotMagic {
		return 0, 0, corrupt("bad header")
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != formatVersion {
		return 0, 0, corrupt(fmt.Sprintf("unsupported version %d", v))
	}
	lastSeq = binary.BigEndian.Uint64(b[6:])
	count := binary.BigEndian.Uint64(b[14:])
	p := b[snapHeaderLen:]
	for len(p) > 0 {
		payload, l, ok := nextFrame(p)
		if !ok {
			return 0, 0, corrupt(fmt.Sprintf("bad frame at byte %d", len(b)-len(p)))
		}
		_, rec, err := decodeRecord(payload)
		if err != nil {
			return 0, 0, err
		}
		fn(rec)
		p = p[l:]
		n++
	}
	if n != count {
		return 0, 0, corrupt(fmt.Sprintf("%d records, header says %d", n, count))
	}
	return lastSeq, n, nil
}

// DecodeSnapshot checks a snapshot made by FileStore.Snapshot and returns its records in
// apply order and the sequence number it covers. A damaged or cut snapshot is ErrCorrupt.
func DecodeSnapshot(b []byte) (recs []Record, lastSeq uint64, err error) {
	lastSeq, _, err = decodeSnapshot(b, func(r Record) { recs = append(recs, r) })
	if err != nil {
		return nil, 0, err
	}
	return recs, lastSeq, nil
}

// DurableSeq returns the sequence number of the last durable record: it grows with every
// successful Append, so a caller copying snapshots elsewhere knows when the state changed.
func (s *FileStore) DurableSeq() uint64 {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.flushed
}

// Snapshot returns the durable state as a groups.snapshot file and the sequence number it
// covers (DurableSeq at the time). The sequence numbers continue across InstallSnapshot
// and reopen, so of two snapshots of one store's history the larger sequence number is the
// newer state.
func (s *FileStore) Snapshot() ([]byte, uint64) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	b, _ := encodeSnapshot(s.state, s.flushed)
	return b, s.flushed
}

// InstallSnapshot makes data (from FileStore.Snapshot) the state of the store in dir, which
// must hold no store yet (a data dir being restored): it checks data as recovery would and
// writes it as dir's groups.snapshot with segment.WriteFileAtomic. OpenFileStore then loads
// it and numbers new records after its sequence number. It returns the number of records.
func InstallSnapshot(fsys segment.FS, dir string, data []byte) (int, error) {
	if fsys == nil {
		fsys = segment.OSFS{}
	}
	n := 0
	if _, _, err := decodeSnapshot(data, func(Record) { n++ }); err != nil {
		return 0, fmt.Errorf("cannot install group snapshot: %w", err)
	}
	for _, name := range []string{snapshotName, logName} {
		if _, err := fsys.Stat(filepath.Join(dir, name)); err == nil {
			return 0, fmt.Errorf("cannot install group snapshot in %q: it already holds %s", dir, name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("cannot install group snapshot in %q: %w", dir, err)
		}
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("cannot create group dir %q: %w", dir, err)
	}
	if err := segment.WriteFileAtomic(fsys, filepath.Join(dir, snapshotName), data, 0o644); err != nil {
		return 0, fmt.Errorf("cannot install group snapshot: %w", err)
	}
	return n, nil
}
