package share

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/strata-io/strata/segment"
)

// Durable state: one file per share group, <dir>/<hex(group id)>.json, replaced whole
// with segment.WriteFileAtomic (temp file, fsync, rename, directory fsync). Writes are
// batched: changes mark their group dirty, and one writer goroutine writes every dirty
// group, then wakes the requests waiting in Sync for it (acknowledgements are answered
// only once durable). A restart loads every file: acquired records become available
// again with their delivery counts (their locks died with the broker); members and
// sessions are not kept (clients rejoin).

type fileState struct {
	Version int        `json:"version"`
	Group   string     `json:"group"`
	Epoch   int32      `json:"epoch"`
	Reset   string     `json:"reset"`
	Parts   []filePart `json:"partitions"`
}

type filePart struct {
	Topic     string     `json:"topic_id"` // hex
	Partition int32      `json:"partition"`
	Start     int64      `json:"start"`
	End       int64      `json:"end"`
	Records   [][3]int64 `json:"records"` // offset, state, delivery count: only records not available-and-undelivered
}

type store struct {
	fsys segment.FS
	dir  string
	log  *slog.Logger

	mu      sync.Mutex
	pending map[string]bool // dirty groups
	seq     uint64          // changes marked
	done    uint64          // changes durable
	err     error           // the last write's error, until a write succeeds
	kick    chan struct{}
	flushed chan struct{} // closed and replaced after every write pass
	closing bool
	stopped chan struct{}
}

func groupFile(dir, id string) string {
	return filepath.Join(dir, hex.EncodeToString([]byte(id))+".json")
}

func openStore(fsys segment.FS, dir string, log *slog.Logger) (*store, []*group, error) {
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("cannot create %q: %w", dir, err)
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %q: %w", dir, err)
	}
	var groups []*group
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := readFile(fsys, path)
		if err != nil {
			return nil, nil, err
		}
		g, err := decodeGroup(data)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot load share group state %q: %w", path, err)
		}
		groups = append(groups, g)
	}
	st := &store{fsys: fsys, dir: dir, log: log, pending: make(map[string]bool),
		kick: make(chan struct{}, 1), flushed: make(chan struct{}), stopped: make(chan struct{})}
	return st, groups, nil
}

func readFile(fsys segment.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot open %q: %w", path, err)
	}
	defer f.Close()
	fi, err := fsys.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot stat %q: %w", path, err)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	return data, nil
}

func decodeGroup(data []byte) (*group, error) {
	var fs fileState
	if err := json.Unmarshal(data, &fs); err != nil {
		return nil, err
	}
	if fs.Version != 1 {
		return nil, fmt.Errorf("unknown version %d", fs.Version)
	}
	g := &group{id: fs.Group, epoch: fs.Epoch, reset: fs.Reset, members: make(map[string]*member), parts: make(map[TP]*Partition)}
	if g.reset == "" {
		g.reset = "latest"
	}
	for _, fp := range fs.Parts {
		id, err := hex.DecodeString(fp.Topic)
		if err != nil || len(id) != 16 || fp.Start > fp.End {
			return nil, fmt.Errorf("bad partition entry %+v", fp)
		}
		var tp TP
		copy(tp.Topic[:], id)
		tp.Partition = fp.Partition
		p := newPartition(fp.Start)
		p.end = fp.End
		for o := fp.Start; o < fp.End; o++ {
			p.recs[o] = &inflight{}
		}
		for _, r := range fp.Records {
			if rec := p.recs[r[0]]; rec != nil {
				rec.state, rec.count = RecordState(r[1]), int16(r[2])
				if rec.state == Acquired {
					rec.state = Available
				}
			}
		}
		p.advance()
		g.parts[tp] = p
	}
	return g, nil
}

func encodeGroup(g *group) []byte {
	fs := fileState{Version: 1, Group: g.id, Epoch: g.epoch, Reset: g.reset, Parts: []filePart{}}
	for tp, p := range g.parts {
		fp := filePart{Topic: hex.EncodeToString(tp.Topic[:]), Partition: tp.Partition, Start: p.start, End: p.end, Records: [][3]int64{}}
		for o := p.start; o < p.end; o++ {
			if r := p.recs[o]; r != nil && (r.state != Available || r.count > 0) {
				fp.Records = append(fp.Records, [3]int64{o, int64(r.state), int64(r.count)})
			}
		}
		fs.Parts = append(fs.Parts, fp)
	}
	slices.SortFunc(fs.Parts, func(a, b filePart) int {
		if d := strings.Compare(a.Topic, b.Topic); d != 0 {
			return d
		}
		return int(a.Partition - b.Partition)
	})
	data, _ := json.Marshal(fs) // cannot fail: plain types
	return data
}

// dirty marks group id changed. Called with the coordinator's lock held.
func (s *store) dirty(id string) {
	s.mu.Lock()
	s.pending[id] = true
	s.seq++
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// sync waits until every change marked before the call is durable.
func (s *store) sync(ctx context.Context) error {
	s.mu.Lock()
	want := s.seq
	for s.done < want {
		if s.closing {
			s.mu.Unlock()
			return errors.New("share group state store closed")
		}
		ch := s.flushed
		retry := s.err != nil // the last pass failed: its groups are pending, but nothing kicks the writer
		s.mu.Unlock()
		if retry {
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
		if s.err != nil && s.done < want {
			err := s.err
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Unlock()
	return nil
}

// run writes dirty groups until close. encode returns the files to write for the given
// group ids (nil data: the group is gone), taking the coordinator's lock.
func (s *store) run(encode func(ids []string) map[string][]byte) {
	defer close(s.stopped)
	for {
		<-s.kick
		s.mu.Lock()
		ids := make([]string, 0, len(s.pending))
		for id := range s.pending {
			ids = append(ids, id)
		}
		clear(s.pending)
		seq, closing := s.seq, s.closing
		s.mu.Unlock()
		var err error
		if len(ids) > 0 {
			for id, data := range encode(ids) {
				path := groupFile(s.dir, id)
				if data == nil {
					if e := s.fsys.Remove(path); e != nil && !errors.Is(e, fs.ErrNotExist) {
						err = fmt.Errorf("cannot remove %q: %w", path, e)
					}
					continue
				}
				if e := segment.WriteFileAtomic(s.fsys, path, data, 0o644); e != nil {
					err = e
				}
			}
		}
		s.mu.Lock()
		if err != nil {
			s.log.Error("cannot write share group state", "err", err)
			s.err = err
			for _, id := range ids {
				s.pending[id] = true // retried at the next kick
			}
		} else {
			s.err = nil
			s.done = seq
		}
		close(s.flushed)
		s.flushed = make(chan struct{})
		s.mu.Unlock()
		if closing {
			return
		}
	}
}

func (s *store) close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// encodeDirty returns the current state of the given groups.
func (c *Coordinator) encodeDirty(ids []string) map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]byte, len(ids))
	for _, id := range ids {
		if g := c.groups[id]; g != nil {
			out[id] = encodeGroup(g)
		} else {
			out[id] = nil
		}
	}
	return out
}
