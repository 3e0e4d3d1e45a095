package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrCorrupt marks a group metadata file that fails its checks beyond a torn tail.
var ErrCorrupt = errors.New("group: corrupt metadata")

// ErrClosed is returned by a closed store.
var ErrClosed = errors.New("group: store closed")

// RecordKind says what a Record changes.
type RecordKind uint8

// Record kinds. Their numeric values are part of the on-disk format.
const (
	KindOffset       RecordKind = 1 // set Group/Topic/Partition -> Offset
	KindOffsetDelete RecordKind = 2 // remove Group/Topic/Partition
	KindGroup        RecordKind = 3 // set Group's metadata (members, generation) -> Meta
	KindGroupDelete  RecordKind = 4 // remove Group: metadata and every offset
)

// OffsetValue is one committed offset.
type OffsetValue struct {
	Offset      int64
	LeaderEpoch int32 // -1 if unknown
	Metadata    string
	CommitTime  int64 // unix ms
}

// MemberMeta is the durable part of a member: what a restarted coordinator needs to keep
// a Stable group Stable (members resume heartbeating in the same generation).
type MemberMeta struct {
	MemberID         string
	InstanceID       string // "" = dynamic member
	ClientID         string
	ClientHost       string
	SessionTimeout   int32  // ms
	RebalanceTimeout int32  // ms
	Metadata         []byte // metadata for the selected protocol
	Assignment       []byte
}

// GroupMeta is the durable state of a group apart from its offsets.
type GroupMeta struct {
	ProtocolType string
	Protocol     string
	Generation   int32
	Leader       string
	StateTime    int64 // unix ms of the last state change (retention of empty groups)
	Members      []MemberMeta
}

// Record is one change of the coordinator's durable state. Applying the records of a
// store in order (last write wins per key) reproduces the state.
type Record struct {
	Kind      RecordKind
	Group     string
	Topic     string
	Partition int32
	Offset    OffsetValue   // KindOffset
	Meta      *GroupMeta    // KindGroup
	Consumer  *ConsumerMeta // KindConsumerGroup
}

// OffsetStore makes the coordinator's state durable.
//
// Contract:
//   - Load calls fn, before any Append, with records that reproduce the state as of the
//     last successful Append (and possibly later, unacknowledged ones), in apply order.
//   - Append returns nil only once recs are durable (fsync). Records of one call are
//     durable together or, after a crash, a prefix of them is. Safe for concurrent use;
//     concurrent calls may share one fsync.
//   - After an Append error the store may refuse every later Append (sticky error).
type OffsetStore interface {
	Load(fn func(Record)) error
	Append(recs []Record) error
	Close() error
}

type tp struct {
	topic     string
	partition int32
}

// memState is the compacted state a store keeps to write snapshots: last value per key.
type memState struct {
	groups   map[string]*GroupMeta
	consumer map[string]*ConsumerMeta // KIP-848 groups; a group is in groups or here, not both
	offsets  map[string]map[tp]OffsetValue
}

func newMemState() *memState {
	return &memState{groups: make(map[string]*GroupMeta), consumer: make(map[string]*ConsumerMeta),
		offsets: make(map[string]map[tp]OffsetValue)}
}

func (s *memState) apply(r Record) {
	switch r.Kind {
	case KindOffset:
		m := s.offsets[r.Group]
		if m == nil {
			m = make(map[tp]OffsetValue)
			s.offsets[r.Group] = m
		}
		m[tp{r.Topic, r.Partition}] = r.Offset
	case KindOffsetDelete:
		if m := s.offsets[r.Group]; m != nil {
			delete(m, tp{r.Topic, r.Partition})
			if len(m) == 0 {
				delete(s.offsets, r.Group)
			}
		}
	case KindGroup:
		if r.Meta != nil {
			s.groups[r.Group] = r.Meta
			delete(s.consumer, r.Group)
		}
	case KindConsumerGroup:
		if r.Consumer != nil {
			s.consumer[r.Group] = r.Consumer
			delete(s.groups, r.Group)
		}
	case KindGroupDelete:
		delete(s.groups, r.Group)
		delete(s.consumer, r.Group)
		delete(s.offsets, r.Group)
	}
}

// records returns the compacted state as records, sorted (deterministic snapshots).
func (s *memState) records(fn func(Record)) {
	names := make([]string, 0, len(s.groups)+len(s.offsets))
	seen := map[string]bool{}
	for g := range s.groups {
		names, seen[g] = append(names, g), true
	}
	for g := range s.consumer {
		names, seen[g] = append(names, g), true
	}
	for g := range s.offsets {
		if !seen[g] {
			names = append(names, g)
		}
	}
	sort.Strings(names)
	for _, g := range names {
		if m := s.groups[g]; m != nil {
			fn(Record{Kind: KindGroup, Group: g, Meta: m})
		}
		if m := s.consumer[g]; m != nil {
			fn(Record{Kind: KindConsumerGroup, Group: g, Consumer: m})
		}
		offs := s.offsets[g]
		keys := make([]tp, 0, len(offs))
		for k := range offs {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].topic != keys[j].topic {
				return keys[i].topic < keys[j].topic
			}
			return keys[i].partition < keys[j].partition
		})
		for _, k := range keys {
			fn(Record{Kind: KindOffset, Group: g, Topic: k.topic, Partition: k.partition, Offset: offs[k]})
		}
	}
}

// MemStore is an OffsetStore in memory, for tests. It can simulate a restart: a new
// Coordinator over the same MemStore sees everything appended.
type MemStore struct {
	mu    sync.Mutex
	state *memState
	fail  error
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{state: newMemState()} }

// Load implements OffsetStore.
func (s *MemStore) Load(fn func(Record)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.records(fn)
	return nil
}

// Append implements OffsetStore.
func (s *MemStore) Append(recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, r := range recs {
		s.state.apply(cloneRecord(r))
	}
	return nil
}

// FailWith makes later Appends return err (nil to heal); for fault tests.
func (s *MemStore) FailWith(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// Close implements OffsetStore.
func (s *MemStore) Close() error { return nil }

func cloneRecord(r Record) Record {
	if r.Meta != nil {
		m := *r.Meta
		m.Members = append([]MemberMeta(nil), r.Meta.Members...)
		r.Meta = &m
	}
	r.Consumer = cloneConsumerMeta(r.Consumer)
	return r
}

// Record encoding (payload of a frame; see doc.go). Integers big-endian; strings and
// byte slices are a uvarint length followed by the bytes.

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendRecord(b []byte, seq uint64, r Record) []byte {
	b = append(b, byte(r.Kind))
	b = binary.BigEndian.AppendUint64(b, seq)
	b = appendString(b, r.Group)
	switch r.Kind {
	case KindOffset:
		b = appendString(b, r.Topic)
		b = binary.BigEndian.AppendUint32(b, uint32(r.Partition))
		b = binary.BigEndian.AppendUint64(b, uint64(r.Offset.Offset))
		b = binary.BigEndian.AppendUint32(b, uint32(r.Offset.LeaderEpoch))
		b = appendString(b, r.Offset.Metadata)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Offset.CommitTime))
	case KindOffsetDelete:
		b = appendString(b, r.Topic)
		b = binary.BigEndian.AppendUint32(b, uint32(r.Partition))
	case KindGroup:
		m := r.Meta
		b = appendString(b, m.ProtocolType)
		b = appendString(b, m.Protocol)
		b = binary.BigEndian.AppendUint32(b, uint32(m.Generation))
		b = appendString(b, m.Leader)
		b = binary.BigEndian.AppendUint64(b, uint64(m.StateTime))
		b = binary.AppendUvarint(b, uint64(len(m.Members)))
		for _, mm := range m.Members {
			b = appendString(b, mm.MemberID)
			b = appendString(b, mm.InstanceID)
			b = appendString(b, mm.ClientID)
			b = appendString(b, mm.ClientHost)
			b = binary.BigEndian.AppendUint32(b, uint32(mm.SessionTimeout))
			b = binary.BigEndian.AppendUint32(b, uint32(mm.RebalanceTimeout))
			b = appendString(b, string(mm.Metadata))
			b = appendString(b, string(mm.Assignment))
		}
	case KindConsumerGroup:
		b = appendConsumerMeta(b, r.Consumer)
	case KindGroupDelete:
	}
	return b
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated record", ErrCorrupt)
	}
	r.b = nil
}

func (r *reader) u8() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) bytes() []byte {
	s := r.str()
	if s == "" {
		return nil
	}
	return []byte(s)
}

func decodeRecord(b []byte) (seq uint64, rec Record, err error) {
	r := &reader{b: b}
	rec.Kind = RecordKind(r.u8())
	seq = r.u64()
	rec.Group = r.str()
	switch rec.Kind {
	case KindOffset:
		rec.Topic = r.str()
		rec.Partition = int32(r.u32())
		rec.Offset.Offset = int64(r.u64())
		rec.Offset.LeaderEpoch = int32(r.u32())
		rec.Offset.Metadata = r.str()
		rec.Offset.CommitTime = int64(r.u64())
	case KindOffsetDelete:
		rec.Topic = r.str()
		rec.Partition = int32(r.u32())
	case KindGroup:
		m := &GroupMeta{}
		m.ProtocolType = r.str()
		m.Protocol = r.str()
		m.Generation = int32(r.u32())
		m.Leader = r.str()
		m.StateTime = int64(r.u64())
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.fail()
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			var mm MemberMeta
			mm.MemberID = r.str()
			mm.InstanceID = r.str()
			mm.ClientID = r.str()
			mm.ClientHost = r.str()
			mm.SessionTimeout = int32(r.u32())
			mm.RebalanceTimeout = int32(r.u32())
			mm.Metadata = r.bytes()
			mm.Assignment = r.bytes()
			m.Members = append(m.Members, mm)
		}
		rec.Meta = m
	case KindConsumerGroup:
		rec.Consumer = decodeConsumerMeta(r)
	case KindGroupDelete:
	default:
		return 0, Record{}, fmt.Errorf("%w: unknown record kind %d", ErrCorrupt, rec.Kind)
	}
	if r.err != nil {
		return 0, Record{}, r.err
	}
	if len(r.b) != 0 {
		return 0, Record{}, fmt.Errorf("%w: %d trailing bytes in record", ErrCorrupt, len(r.b))
	}
	return seq, rec, nil
}
