package group

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// KindConsumerGroup sets a group's KIP-848 state (ConsumerMeta). It replaces any classic
// metadata of the group, and a later KindGroup replaces it (the group changed type).
// The value is part of the on-disk format; 16 leaves room below for classic kinds.
const KindConsumerGroup RecordKind = 16

// ConsumerMemberMeta is the durable state of one member of a consumer group.
type ConsumerMemberMeta struct {
	MemberID         string
	InstanceID       string
	RackID           string
	ClientID         string
	ClientHost       string
	MemberEpoch      int32
	PreviousEpoch    int32
	State            uint8 // memberStable, memberUnrevoked, memberUnreleased
	RebalanceTimeout int32 // ms
	ServerAssignor   string
	Regex            string
	Topics           []string
	Assigned         map[[16]byte][]int32
	Revoking         map[[16]byte][]int32
	Target           map[[16]byte][]int32
	// Classic is set for a member using the classic protocol (online migration).
	Classic *ClassicMemberMeta
}

// ClassicMemberMeta is the JoinGroup state of a classic member of a consumer group.
type ClassicMemberMeta struct {
	SessionTimeout int32 // ms
	Protocol       string
	Protocols      []ClassicProtocolMeta
}

// ClassicProtocolMeta is one protocol of a classic member's JoinGroup.
type ClassicProtocolMeta struct {
	Name     string
	Metadata []byte
}

// ConsumerMeta is the durable state of a consumer group (KIP-848) apart from offsets.
type ConsumerMeta struct {
	Epoch           int32
	AssignmentEpoch int32
	StateTime       int64  // unix ms of the last change to empty / non-empty
	SubscriptionKey uint64 // hash of the subscribed topics' ids and partition counts
	Members         []ConsumerMemberMeta
}

func cloneConsumerMeta(m *ConsumerMeta) *ConsumerMeta {
	if m == nil {
		return nil
	}
	c := *m
	c.Members = slices.Clone(m.Members)
	return &c
}

func appendPartitions(b []byte, a map[[16]byte][]int32) []byte {
	ids := make([][16]byte, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
		b = binary.AppendUvarint(b, uint64(len(a[id])))
		for _, p := range a[id] {
			b = binary.BigEndian.AppendUint32(b, uint32(p))
		}
	}
	return b
}

func appendConsumerMeta(b []byte, m *ConsumerMeta) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(m.Epoch))
	b = binary.BigEndian.AppendUint32(b, uint32(m.AssignmentEpoch))
	b = binary.BigEndian.AppendUint64(b, uint64(m.StateTime))
	b = binary.BigEndian.AppendUint64(b, m.SubscriptionKey)
	b = binary.AppendUvarint(b, uint64(len(m.Members)))
	for _, mm := range m.Members {
		b = appendString(b, mm.MemberID)
		b = appendString(b, mm.InstanceID)
		b = appendString(b, mm.RackID)
		b = appendString(b, mm.ClientID)
		b = appendString(b, mm.ClientHost)
		b = binary.BigEndian.AppendUint32(b, uint32(mm.MemberEpoch))
		b = binary.BigEndian.AppendUint32(b, uint32(mm.PreviousEpoch))
		b = append(b, mm.State)
		b = binary.BigEndian.AppendUint32(b, uint32(mm.RebalanceTimeout))
		b = appendString(b, mm.ServerAssignor)
		b = appendString(b, mm.Regex)
		b = binary.AppendUvarint(b, uint64(len(mm.Topics)))
		for _, t := range mm.Topics {
			b = appendString(b, t)
		}
		b = appendPartitions(b, mm.Assigned)
		b = appendPartitions(b, mm.Revoking)
		b = appendPartitions(b, mm.Target)
		if mm.Classic == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, uint32(mm.Classic.SessionTimeout))
		b = appendString(b, mm.Classic.Protocol)
		b = binary.AppendUvarint(b, uint64(len(mm.Classic.Protocols)))
		for _, p := range mm.Classic.Protocols {
			b = appendString(b, p.Name)
			b = appendString(b, string(p.Metadata))
		}
	}
	return b
}

func (r *reader) id16() (id [16]byte) {
	if len(r.b) < 16 {
		r.fail()
		return id
	}
	copy(id[:], r.b)
	r.b = r.b[16:]
	return id
}

// count reads a uvarint element count and fails if fewer than min bytes per element remain.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) partitions() map[[16]byte][]int32 {
	n := r.count(17)
	if n == 0 {
		return nil
	}
	out := make(map[[16]byte][]int32, n)
	for i := 0; i < n && r.err == nil; i++ {
		id := r.id16()
		np := r.count(4)
		ps := make([]int32, 0, np)
		for j := 0; j < np; j++ {
			ps = append(ps, int32(r.u32()))
		}
		if !slices.IsSorted(ps) || len(ps) == 0 {
			r.err = fmt.Errorf("%w: bad partition list", ErrCorrupt)
		}
		out[id] = ps
	}
	return out
}

func decodeConsumerMeta(r *reader) *ConsumerMeta {
	m := &ConsumerMeta{}
	m.Epoch = int32(r.u32())
	m.AssignmentEpoch = int32(r.u32())
	m.StateTime = int64(r.u64())
	m.SubscriptionKey = r.u64()
	n := r.count(1)
	for i := 0; i < n && r.err == nil; i++ {
		var mm ConsumerMemberMeta
		mm.MemberID = r.str()
		mm.InstanceID = r.str()
		mm.RackID = r.str()
		mm.ClientID = r.str()
		mm.ClientHost = r.str()
		mm.MemberEpoch = int32(r.u32())
		mm.PreviousEpoch = int32(r.u32())
		mm.State = r.u8()
		mm.RebalanceTimeout = int32(r.u32())
		mm.ServerAssignor = r.str()
		mm.Regex = r.str()
		nt := r.count(1)
		for j := 0; j < nt && r.err == nil; j++ {
			mm.Topics = append(mm.Topics, r.str())
		}
		mm.Assigned = r.partitions()
		mm.Revoking = r.partitions()
		mm.Target = r.partitions()
		if r.u8() == 1 {
			c := &ClassicMemberMeta{SessionTimeout: int32(r.u32()), Protocol: r.str()}
			np := r.count(2)
			for j := 0; j < np && r.err == nil; j++ {
				c.Protocols = append(c.Protocols, ClassicProtocolMeta{Name: r.str(), Metadata: r.bytes()})
			}
			mm.Classic = c
		}
		m.Members = append(m.Members, mm)
	}
	return m
}
