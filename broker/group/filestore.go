package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/strata-io/strata/segment"
)

// File names and format constants (see doc.go); all are part of the on-disk format.
const (
	snapshotName   = "groups.snapshot"
	logName        = "groups.log"
	snapshotMagic  = "SGSN"
	logMagic       = "SGLG"
	formatVersion  = 1
	snapHeaderLen  = 4 + 2 + 8 + 8 // magic, version, last seq, record count
	logHeaderLen   = 4 + 2
	frameHeaderLen = 8
	maxRecordBytes = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FileConfig configures a FileStore.
type FileConfig struct {
	Dir string // the broker passes <data>/meta/groups; required
	// CompactBytes: when the log grows beyond max(CompactBytes, size of the last
	// snapshot), the state is written as a new snapshot and the log restarted. Default 4 MiB:
	// at most that much log (about 70k commits) is replayed on top of the snapshot at open.
	CompactBytes int64
	Logger       *slog.Logger // nil = discard
	// FS is the filesystem; nil = the OS. Crash tests pass segmenttest.MemFS, on which
	// only synced bytes and synced directory entries survive.
	FS segment.FS
}

// RecoveryReport says what OpenFileStore found.
type RecoveryReport struct {
	SnapshotRecords int   // records loaded from the snapshot
	ReplayedRecords int   // log records applied on top of it
	SkippedRecords  int   // log records already covered by the snapshot
	TruncatedBytes  int64 // torn/corrupt log tail cut
}

// FileStore is the OffsetStore the broker uses: an append-only log of CRC-framed records
// (one fsync per batch of concurrent appends) plus a periodically compacted snapshot, so
// that opening it reads the live state plus a short tail, however many commits were ever
// made.
type FileStore struct {
	cfg FileConfig
	log *slog.Logger

	mu          sync.Mutex // guards the queue below; never held while doing I/O
	pending     []byte
	pendingRecs []Record
	seq         uint64 // last sequence number assigned
	closed      bool

	flushMu  sync.Mutex // one writer at a time; guards everything below
	fs       segment.FS
	f        segment.File
	state    *memState
	flushed  uint64 // last sequence number durable
	logSize  int64
	snapSize int64
	err      error // sticky write error
	syncs    int   // fsyncs of the log (group commit shares them)

	report RecoveryReport
}

var _ OffsetStore = (*FileStore)(nil)

// OpenFileStore opens or creates the store in cfg.Dir and recovers it: load the
// snapshot, replay the log records newer than it, truncate a torn log tail (the damaged
// file is first copied to groups.log.broken).
func OpenFileStore(cfg FileConfig) (*FileStore, error) {
	if cfg.Dir == "" {
		return nil, errors.New("group: FileConfig.Dir is required")
	}
	if cfg.CompactBytes <= 0 {
		cfg.CompactBytes = 4 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fsys := cfg.FS
	if fsys == nil {
		fsys = segment.OSFS{}
	}
	if err := fsys.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create group dir %q: %w", cfg.Dir, err)
	}
	s := &FileStore{cfg: cfg, log: log, fs: fsys, state: newMemState()}
	for _, n := range []string{snapshotName + ".tmp", logName + ".tmp"} {
		fsys.Remove(filepath.Join(cfg.Dir, n))
	}
	snapSeq, err := s.loadSnapshot()
	if err != nil {
		return nil, err
	}
	s.seq = snapSeq
	if err := s.recoverLog(snapSeq); err != nil {
		return nil, err
	}
	s.flushed = s.seq
	if s.report.TruncatedBytes > 0 {
		log.Warn("group log torn tail truncated", "dir", cfg.Dir, "truncated_bytes", s.report.TruncatedBytes)
	}
	log.Info("group store opened", "dir", cfg.Dir, "snapshot_records", s.report.SnapshotRecords,
		"replayed_records", s.report.ReplayedRecords)
	return s, nil
}

// Report returns what recovery found.
func (s *FileStore) Report() RecoveryReport { return s.report }

func appendFrame(b, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

// nextFrame parses the frame at the start of b: its payload and total length, or ok=false.
func nextFrame(b []byte) (payload []byte, n int, ok bool) {
	if len(b) < frameHeaderLen {
		return nil, 0, false
	}
	l := binary.BigEndian.Uint32(b)
	if l > maxRecordBytes || uint64(l) > uint64(len(b)-frameHeaderLen) {
		return nil, 0, false
	}
	payload = b[frameHeaderLen : frameHeaderLen+int(l)]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return nil, 0, false
	}
	return payload, frameHeaderLen + int(l), true
}

func (s *FileStore) loadSnapshot() (uint64, error) {
	path := filepath.Join(s.cfg.Dir, snapshotName)
	b, err := segment.ReadFile(s.fs, path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot read group snapshot %q: %w", path, err)
	}
	s.snapSize = int64(len(b))
	lastSeq, n, err := decodeSnapshot(b, s.state.apply)
	if err != nil {
		return 0, fmt.Errorf("group snapshot %q: %w", path, err)
	}
	s.report.SnapshotRecords = int(n)
	return lastSeq, nil
}

func (s *FileStore) recoverLog(snapSeq uint64) error {
	path := filepath.Join(s.cfg.Dir, logName)
	b, err := segment.ReadFile(s.fs, path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(b) < logHeaderLen) {
		// Missing, or torn while being created: start a fresh log.
		return s.newLog()
	}
	if err != nil {
		return fmt.Errorf("cannot read group log %q: %w", path, err)
	}
	if string(b[:4]) != logMagic || binary.BigEndian.Uint16(b[4:]) != formatVersion {
		return fmt.Errorf("group log %q: %w: bad header", path, ErrCorrupt)
	}
	pos := logHeaderLen
	for pos < len(b) {
		payload, l, ok := nextFrame(b[pos:])
		if !ok {
			break
		}
		seq, rec, err := decodeRecord(payload)
		if err != nil {
			break
		}
		pos += l
		if seq <= snapSeq {
			s.report.SkippedRecords++
			continue
		}
		s.state.apply(rec)
		s.report.ReplayedRecords++
		if seq > s.seq {
			s.seq = seq
		}
	}
	if cut := len(b) - pos; cut > 0 {
		s.report.TruncatedBytes = int64(cut)
		if err := segment.WriteFileAtomic(s.fs, path+".broken", b, 0o644); err != nil {
			return fmt.Errorf("cannot save damaged group log: %w", err)
		}
	}
	f, err := s.fs.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open group log %q: %w", path, err)
	}
	if s.report.TruncatedBytes > 0 {
		if err := f.Truncate(int64(pos)); err != nil {
			f.Close()
			return fmt.Errorf("cannot truncate group log %q: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("cannot sync group log %q: %w", path, err)
		}
	}
	s.f = f
	s.logSize = int64(pos)
	return nil
}

// newLog atomically replaces the log with an empty one and opens it for appending.
func (s *FileStore) newLog() error {
	path := filepath.Join(s.cfg.Dir, logName)
	hdr := binary.BigEndian.AppendUint16([]byte(logMagic), formatVersion)
	if err := segment.WriteFileAtomic(s.fs, path, hdr, 0o644); err != nil {
		return fmt.Errorf("group: %w", err)
	}
	f, err := s.fs.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open group log %q: %w", path, err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f = f
	s.logSize = int64(len(hdr))
	return nil
}

// Load implements OffsetStore.
func (s *FileStore) Load(fn func(Record)) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.state.records(fn)
	return nil
}

// Append implements OffsetStore. Concurrent callers share fsyncs: whoever gets the write
// lock first writes and syncs every queued record.
func (s *FileStore) Append(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	for _, r := range recs {
		s.seq++
		s.pending = appendFrame(s.pending, appendRecord(nil, s.seq, r))
		s.pendingRecs = append(s.pendingRecs, cloneRecord(r))
	}
	mine := s.seq
	s.mu.Unlock()

	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.flushed >= mine {
		return nil
	}
	s.mu.Lock()
	buf, batch, upto := s.pending, s.pendingRecs, s.seq
	s.pending, s.pendingRecs = nil, nil
	s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	if _, err := s.f.Write(buf); err != nil {
		s.err = fmt.Errorf("cannot write group log in %q: %w", s.cfg.Dir, err)
		return s.err
	}
	if err := s.f.Sync(); err != nil {
		s.err = fmt.Errorf("cannot sync group log in %q: %w", s.cfg.Dir, err)
		return s.err
	}
	s.syncs++
	for _, r := range batch {
		s.state.apply(r)
	}
	s.flushed = upto
	s.logSize += int64(len(buf))
	if s.logSize > max(s.cfg.CompactBytes, s.snapSize) {
		if err := s.compactLocked(); err != nil {
			// The old snapshot and log are still valid; try again after more appends.
			s.log.Error("cannot compact group log", "dir", s.cfg.Dir, "err", err)
		}
	}
	return nil
}

// Compact writes a snapshot now and starts a new log.
func (s *FileStore) Compact() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.err != nil {
		return s.err
	}
	return s.compactLocked()
}

func (s *FileStore) compactLocked() error {
	b, n := encodeSnapshot(s.state, s.flushed)
	if err := segment.WriteFileAtomic(s.fs, filepath.Join(s.cfg.Dir, snapshotName), b, 0o644); err != nil {
		return fmt.Errorf("group: %w", err)
	}
	s.snapSize = int64(len(b))
	// A crash here leaves the new snapshot and the old log: replay skips the log's
	// records up to the snapshot's sequence number.
	if err := s.newLog(); err != nil {
		return err
	}
	s.log.Debug("group log compacted", "dir", s.cfg.Dir, "records", n, "snapshot_bytes", len(b))
	return nil
}

// Close closes the log file. Appends after Close fail with ErrClosed.
func (s *FileStore) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// sizes returns the current log and snapshot sizes (tests).
func (s *FileStore) sizes() (logBytes, snapBytes int64) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.logSize, s.snapSize
}

var _ io.Closer = (*FileStore)(nil)
