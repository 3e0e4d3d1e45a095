package producer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment"
)

// Config configures the producer-id Manager.
type Config struct {
	// Dir holds the producer-id block file; the broker passes <data>/meta/producer. Required.
	Dir string
	// BlockSize is how many ids are reserved per durable write; default 1000.
	BlockSize int64
	Logger    *slog.Logger // nil = discard
	// FS is the filesystem; nil = the OS (crash tests pass segmenttest.MemFS).
	FS segment.FS
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Dir == "" {
		return fmt.Errorf("producer: Config.Dir is required")
	}
	if c.BlockSize < 0 {
		return fmt.Errorf("producer: negative BlockSize")
	}
	return nil
}

// maxTrackedEpochs bounds the re-init epoch map; when full it is cleared (the fencing of
// stale re-inits is best effort; partitions still fence older epochs on produce).
const maxTrackedEpochs = 100000

// blockFile is the name of the file holding the first producer id not yet reserved.
const blockFile = "producer_id_block"

// Manager allocates producer ids for InitProducerId. IDs are reserved in blocks: the end
// of the current block is made durable before any id of it is handed out, so a restart
// (or kill -9) continues after the block and never reuses an id.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	next     int64           // next id to hand out
	blockEnd int64           // first id not reserved on disk
	epochs   map[int64]int16 // latest epoch handed out by a re-init, per id (bounded)
}

// NewManager opens (or creates) the id block file in cfg.Dir.
func NewManager(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = 1000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.FS == nil {
		cfg.FS = segment.OSFS{}
	}
	if err := cfg.FS.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create producer dir %q: %w", cfg.Dir, err)
	}
	m := &Manager{cfg: cfg, log: log, epochs: make(map[int64]int16)}
	path := filepath.Join(cfg.Dir, blockFile)
	b, err := segment.ReadFile(cfg.FS, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	default:
		if len(b) != 12 || crc32.Checksum(b[:8], castagnoli) != binary.BigEndian.Uint32(b[8:]) {
			return nil, fmt.Errorf("producer id block %q: %w", path, ErrCorruptSnapshot)
		}
		m.next = int64(binary.BigEndian.Uint64(b))
		m.blockEnd = m.next
	}
	log.Info("producer id manager opened", "next_producer_id", m.next)
	return m, nil
}

func (m *Manager) persistLocked(end int64) error {
	b := binary.BigEndian.AppendUint64(nil, uint64(end))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := segment.WriteFileAtomic(m.cfg.FS, filepath.Join(m.cfg.Dir, blockFile), b, 0o644); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	return nil
}

// NextID allocates a fresh producer id.
func (m *Manager) NextID() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nextIDLocked()
}

func (m *Manager) nextIDLocked() (int64, error) {
	if m.next >= m.blockEnd {
		end := m.next + m.cfg.BlockSize
		if err := m.persistLocked(end); err != nil {
			return 0, err
		}
		m.blockEnd = end
	}
	id := m.next
	m.next++
	return id, nil
}

// SupportedVersions is the InitProducerId version range the Manager serves.
func SupportedVersions() [2]int16 { return [2]int16{0, 5} }

// InitProducerID serves InitProducerId for idempotent producers.
//
//   - ProducerID -1: a new producer id with epoch 0.
//   - v3+ with a ProducerID/epoch this broker handed out (KIP-360 re-init after an
//     UNKNOWN_PRODUCER_ID or OUT_OF_ORDER_SEQUENCE_NUMBER): the same id with epoch+1,
//     or a fresh id when the epoch would overflow. An epoch older than the latest handed
//     out is INVALID_PRODUCER_EPOCH (PRODUCER_FENCED on v4+); an id this broker never
//     allocated gets a fresh id, as Kafka does for non-transactional producers.
//   - TransactionalID set: not this Manager's; the broker sends those to its transaction
//     coordinator (broker/txn). Called with one anyway, it answers
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
func (m *Manager) InitProducerID(_ context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if req.Version >= 3 && req.ProducerID >= 0 {
		cur, bumped := m.epochs[req.ProducerID]
		if bumped && req.ProducerEpoch != cur {
			if req.Version >= 4 {
				resp.ErrorCode = kerr.ProducerFenced.Code
			} else {
				resp.ErrorCode = kerr.InvalidProducerEpoch.Code
			}
			return resp
		}
		if req.ProducerID < m.next && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
			if len(m.epochs) >= maxTrackedEpochs {
				clear(m.epochs)
			}
			m.epochs[req.ProducerID] = req.ProducerEpoch + 1
			resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
			return resp
		}
	}
	id, err := m.nextIDLocked()
	if err != nil {
		m.log.Error("cannot allocate producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
