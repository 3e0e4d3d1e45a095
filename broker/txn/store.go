package txn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/strata-io/strata/segment"
)

// logFile is the coordinator's state log in Config.Dir.
const logFile = "txnlog"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// store is the durable transaction log: an append-only file of records, each the whole
// new state of one transactional id (the last record of an id wins; state Dead deletes
// it). A record is [4 length][4 CRC-32C of the payload][payload: JSON of Txn]. Every
// append is fsynced before the coordinator answers. Open reads records up to the first
// torn or corrupt one and cuts the file there. When the file holds many more records
// than live ids it is rewritten with one record per id (segment.WriteFileAtomic).
type store struct {
	fs      segment.FS
	path    string
	f       segment.File
	size    int64
	records int
}

func openStore(fsys segment.FS, dir string, load func(Txn)) (*store, error) {
	if fsys == nil {
		fsys = segment.OSFS{}
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create transaction dir %q: %w", dir, err)
	}
	s := &store{fs: fsys, path: filepath.Join(dir, logFile)}
	b, err := segment.ReadFile(fsys, s.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot read transaction log %q: %w", s.path, err)
	}
	good := 0
	for len(b)-good >= 8 {
		n := int(binary.BigEndian.Uint32(b[good:]))
		sum := binary.BigEndian.Uint32(b[good+4:])
		if n <= 0 || len(b)-good-8 < n || crc32.Checksum(b[good+8:good+8+n], castagnoli) != sum {
			break
		}
		var t Txn
		if json.Unmarshal(b[good+8:good+8+n], &t) != nil {
			break
		}
		load(t)
		good += 8 + n
		s.records++
	}
	f, err := fsys.OpenFile(s.path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open transaction log %q: %w", s.path, err)
	}
	if good < len(b) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot cut torn transaction log %q: %w", s.path, err)
		}
	}
	s.f, s.size = f, int64(good)
	return s, nil
}

func encodeRecord(b []byte, t *Txn) ([]byte, error) {
	p, err := json.Marshal(t)
	if err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(p, castagnoli))
	return append(b, p...), nil
}

// append writes t's new state durably.
func (s *store) append(t *Txn) error {
	b, err := encodeRecord(nil, t)
	if err != nil {
		return err
	}
	if _, err := s.f.WriteAt(b, s.size); err != nil {
		return fmt.Errorf("cannot write transaction log %q: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync transaction log %q: %w", s.path, err)
	}
	s.size += int64(len(b))
	s.records++
	return nil
}

// compactDue reports whether the log holds enough more records than the live ids to be
// rewritten.
func (s *store) compactDue(live int) bool { return s.records >= 1000 && s.records >= 4*live }

// compact rewrites the log with the live states when it holds many more records.
func (s *store) compact(live []*Txn) error {
	if !s.compactDue(len(live)) {
		return nil
	}
	var b []byte
	for _, t := range live {
		var err error
		if b, err = encodeRecord(b, t); err != nil {
			return err
		}
	}
	if err := segment.WriteFileAtomic(s.fs, s.path, b, 0o644); err != nil {
		return err
	}
	s.f.Close()
	f, err := s.fs.OpenFile(s.path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot reopen transaction log %q: %w", s.path, err)
	}
	s.f, s.size, s.records = f, int64(len(b)), len(live)
	return nil
}

func (s *store) close() error { return s.f.Close() }
