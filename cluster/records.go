package cluster

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// ErrBadRecord marks an entry that does not decode or names impossible values. Decoding
// never panics on any input; a bad entry changes nothing in the image.
var ErrBadRecord = errors.New("cluster: bad metadata record")

// EntryVersion is the first byte of every Raft log entry this package writes. It is part
// of the format: a node refuses entries of a version it does not know.
const EntryVersion = 1

// maxRecordsPerEntry bounds one entry (a CreateTopics with 10,000 partitions fits).
const maxRecordsPerEntry = 1 << 16

// RecordType names the kind of a metadata record. The numbers are part of the format.
type RecordType uint8

const (
	TypeRegisterBroker RecordType = 1  // RegisterBrokerRecord
	TypeFenceBroker    RecordType = 2  // FenceBrokerRecord
	TypeUnfenceBroker  RecordType = 3  // UnfenceBrokerRecord
	TypeTopic          RecordType = 4  // TopicRecord
	TypePartition      RecordType = 5  // PartitionRecord
	TypeRemoveTopic    RecordType = 6  // RemoveTopicRecord
	TypeTopicConfig    RecordType = 7  // TopicConfigRecord
	TypeProducerIDs    RecordType = 8  // ProducerIDsRecord
	TypeACL            RecordType = 9  // ACLRecord
	TypeSCRAM          RecordType = 10 // SCRAMRecord
	TypeClusterID      RecordType = 11 // ClusterIDRecord
)

// A Record is one typed change of the metadata image. Records of one entry apply
// atomically: all of them or none.
type Record interface {
	Type() RecordType
	validate() error
}

// TopicID is Kafka's 16-byte topic id, written as 32 hex digits in records and snapshots.
type TopicID [16]byte

func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the all-zero id, which Kafka reserves for "no id".
func (id TopicID) IsZero() bool { return id == TopicID{} }

func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

func (id *TopicID) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("%w: topic id %q: want 32 hex digits", ErrBadRecord, b)
	}
	_, err := hex.Decode(id[:], b)
	if err != nil {
		return fmt.Errorf("%w: topic id %q: %v", ErrBadRecord, b, err)
	}
	return nil
}

// Listener is one endpoint a broker serves Kafka clients on.
type Listener struct {
	Name             string `json:"name"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
	SecurityProtocol string `json:"securityProtocol"`
}

// RegisterBrokerRecord (re)registers a broker. The broker epoch is not in the record: it
// is the Raft index of the entry, so every replica assigns the same one. A registered
// broker starts fenced; a heartbeat unfences it.
type RegisterBrokerRecord struct {
	NodeID        int32      `json:"nodeId"`
	IncarnationID string     `json:"incarnationId"`
	Listeners     []Listener `json:"listeners"`
	Rack          string     `json:"rack,omitempty"`
}

// FenceBrokerRecord fences the broker registered with exactly this epoch.
type FenceBrokerRecord struct {
	NodeID int32 `json:"nodeId"`
	Epoch  int64 `json:"epoch"`
}

// UnfenceBrokerRecord unfences the broker registered with exactly this epoch.
type UnfenceBrokerRecord struct {
	NodeID int32 `json:"nodeId"`
	Epoch  int64 `json:"epoch"`
}

// TopicRecord creates a topic. Its partitions follow as PartitionRecords in the same entry.
type TopicRecord struct {
	Name    string            `json:"name"`
	ID      TopicID           `json:"id"`
	Configs map[string]string `json:"configs,omitempty"`
}

// PartitionRecord is the whole state of one partition. It creates the partition when
// PartitionEpoch is 0 and Partition is the next index; otherwise it applies only when
// PartitionEpoch is exactly one more than the current one, so a replayed or stale change
// is a no-op (Kafka's partition epoch, checked by AlterPartition).
type PartitionRecord struct {
	TopicID        TopicID `json:"topicId"`
	Partition      int32   `json:"partition"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"` // -1: no leader (offline)
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
}

// RemoveTopicRecord deletes a topic and its partitions.
type RemoveTopicRecord struct {
	ID TopicID `json:"id"`
}

// TopicConfigRecord sets (Value non-nil) or removes one topic config.
type TopicConfigRecord struct {
	ID    TopicID `json:"id"`
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// ProducerIDsRecord hands the block [FirstID, FirstID+Size) to a broker. It applies only
// when FirstID is the image's NextProducerID, so no id is handed out twice.
type ProducerIDsRecord struct {
	NodeID      int32 `json:"nodeId"`
	BrokerEpoch int64 `json:"brokerEpoch"`
	FirstID     int64 `json:"firstId"`
	Size        int32 `json:"size"`
}

// ACLRecord stores (or with Delete removes) one ACL binding. The payload is opaque to
// this package: the security package encodes it; Key identifies the binding.
type ACLRecord struct {
	Key     string `json:"key"`
	Payload []byte `json:"payload,omitempty"`
	Delete  bool   `json:"delete,omitempty"`
}

// SCRAMRecord stores (or with Delete removes) one user's SCRAM credential for one
// mechanism. The payload (salt, iterations, keys) is opaque to this package.
type SCRAMRecord struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
	Payload   []byte `json:"payload,omitempty"`
	Delete    bool   `json:"delete,omitempty"`
}

// ClusterIDRecord names the cluster. It applies only to an image without a cluster id:
// the first active controller writes it once, and every broker adopts it.
type ClusterIDRecord struct {
	ID string `json:"id"`
}

func (RegisterBrokerRecord) Type() RecordType { return TypeRegisterBroker }
func (ClusterIDRecord) Type() RecordType      { return TypeClusterID }
func (FenceBrokerRecord) Type() RecordType    { return TypeFenceBroker }
func (UnfenceBrokerRecord) Type() RecordType  { return TypeUnfenceBroker }
func (TopicRecord) Type() RecordType          { return TypeTopic }
func (PartitionRecord) Type() RecordType      { return TypePartition }
func (RemoveTopicRecord) Type() RecordType    { return TypeRemoveTopic }
func (TopicConfigRecord) Type() RecordType    { return TypeTopicConfig }
func (ProducerIDsRecord) Type() RecordType    { return TypeProducerIDs }
func (ACLRecord) Type() RecordType            { return TypeACL }
func (SCRAMRecord) Type() RecordType          { return TypeSCRAM }

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRecord}, args...)...)
}

func (r RegisterBrokerRecord) validate() error {
	if r.NodeID < 0 {
		return bad("register broker: node id %d", r.NodeID)
	}
	for _, l := range r.Listeners {
		if l.Port < 0 || l.Port > 65535 {
			return bad("register broker %d: listener %q port %d", r.NodeID, l.Name, l.Port)
		}
	}
	return nil
}

func (r FenceBrokerRecord) validate() error {
	if r.NodeID < 0 || r.Epoch <= 0 {
		return bad("fence broker %d epoch %d", r.NodeID, r.Epoch)
	}
	return nil
}

func (r UnfenceBrokerRecord) validate() error {
	if r.NodeID < 0 || r.Epoch <= 0 {
		return bad("unfence broker %d epoch %d", r.NodeID, r.Epoch)
	}
	return nil
}

func (r TopicRecord) validate() error {
	if err := validTopicName(r.Name); err != nil {
		return bad("topic: %v", err)
	}
	if r.ID.IsZero() {
		return bad("topic %q: zero topic id", r.Name)
	}
	return nil
}

func (r PartitionRecord) validate() error {
	if r.Partition < 0 || r.LeaderEpoch < 0 || r.PartitionEpoch < 0 {
		return bad("partition %s/%d: negative partition, leader epoch or partition epoch", r.TopicID, r.Partition)
	}
	if len(r.Replicas) == 0 {
		return bad("partition %s/%d: no replicas", r.TopicID, r.Partition)
	}
	if hasDup(r.Replicas) || hasDup(r.ISR) {
		return bad("partition %s/%d: duplicate broker in replicas %v or ISR %v", r.TopicID, r.Partition, r.Replicas, r.ISR)
	}
	for _, id := range r.Replicas {
		if id < 0 {
			return bad("partition %s/%d: replica %d", r.TopicID, r.Partition, id)
		}
	}
	for _, id := range r.ISR {
		if !slices.Contains(r.Replicas, id) {
			return bad("partition %s/%d: ISR member %d is not a replica %v", r.TopicID, r.Partition, id, r.Replicas)
		}
	}
	if r.Leader != -1 && !slices.Contains(r.ISR, r.Leader) {
		return bad("partition %s/%d: leader %d not in ISR %v", r.TopicID, r.Partition, r.Leader, r.ISR)
	}
	return nil
}

func (r RemoveTopicRecord) validate() error {
	if r.ID.IsZero() {
		return bad("remove topic: zero topic id")
	}
	return nil
}

func (r TopicConfigRecord) validate() error {
	if r.ID.IsZero() || r.Key == "" {
		return bad("topic config: zero topic id or empty key")
	}
	return nil
}

func (r ProducerIDsRecord) validate() error {
	if r.NodeID < 0 || r.FirstID < 0 || r.Size <= 0 || r.FirstID > (1<<62) {
		return bad("producer ids: node %d first %d size %d", r.NodeID, r.FirstID, r.Size)
	}
	return nil
}

func (r ACLRecord) validate() error {
	if r.Key == "" {
		return bad("acl: empty key")
	}
	return nil
}

func (r ClusterIDRecord) validate() error {
	if r.ID == "" || len(r.ID) > 64 {
		return bad("cluster id %q", r.ID)
	}
	return nil
}

func (r SCRAMRecord) validate() error {
	if r.User == "" || r.Mechanism == "" {
		return bad("scram: empty user or mechanism")
	}
	return nil
}

func hasDup(ids []int32) bool {
	for i, a := range ids {
		if slices.Contains(ids[i+1:], a) {
			return true
		}
	}
	return false
}

// validTopicName applies Kafka's rules: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("illegal topic name %q", name)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("illegal character %q in topic name %q", c, name)
		}
	}
	return nil
}

// wireRecord is one record inside an entry: {"t": type, "r": body}.
type wireRecord struct {
	T RecordType      `json:"t"`
	R json.RawMessage `json:"r"`
}

// EncodeEntry encodes records as one Raft log entry:
//
//	byte 0      EntryVersion (1)
//	bytes 1..   JSON array of {"t": RecordType, "r": record object}
//
// JSON keeps the log readable with a hex dump and tolerant of added fields; metadata
// changes are rare enough that its cost does not matter.
func EncodeEntry(recs ...Record) ([]byte, error) {
	if len(recs) == 0 || len(recs) > maxRecordsPerEntry {
		return nil, fmt.Errorf("cannot encode entry of %d records: want 1..%d", len(recs), maxRecordsPerEntry)
	}
	ws := make([]wireRecord, len(recs))
	for i, r := range recs {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("cannot encode record %d: %w", i, err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("cannot encode record %d: %w", i, err)
		}
		ws[i] = wireRecord{T: r.Type(), R: b}
	}
	b, err := json.Marshal(ws)
	if err != nil {
		return nil, fmt.Errorf("cannot encode entry: %w", err)
	}
	return append([]byte{EntryVersion}, b...), nil
}

// DecodeEntry decodes an entry written by EncodeEntry. Any malformed input returns an
// error wrapping ErrBadRecord; it never panics.
func DecodeEntry(b []byte) ([]Record, error) {
	if len(b) < 1 {
		return nil, bad("empty entry")
	}
	if b[0] != EntryVersion {
		return nil, bad("entry version %d, want %d", b[0], EntryVersion)
	}
	var ws []wireRecord
	if err := json.Unmarshal(b[1:], &ws); err != nil {
		return nil, bad("entry: %v", err)
	}
	if len(ws) == 0 || len(ws) > maxRecordsPerEntry {
		return nil, bad("entry of %d records", len(ws))
	}
	recs := make([]Record, len(ws))
	for i, w := range ws {
		r, err := decodeRecord(w.T, w.R)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		recs[i] = r
	}
	return recs, nil
}

func decodeRecord(t RecordType, body []byte) (Record, error) {
	var r Record
	var err error
	switch t {
	case TypeRegisterBroker:
		r, err = decodeAs[RegisterBrokerRecord](body)
	case TypeFenceBroker:
		r, err = decodeAs[FenceBrokerRecord](body)
	case TypeUnfenceBroker:
		r, err = decodeAs[UnfenceBrokerRecord](body)
	case TypeTopic:
		r, err = decodeAs[TopicRecord](body)
	case TypePartition:
		r, err = decodeAs[PartitionRecord](body)
	case TypeRemoveTopic:
		r, err = decodeAs[RemoveTopicRecord](body)
	case TypeTopicConfig:
		r, err = decodeAs[TopicConfigRecord](body)
	case TypeProducerIDs:
		r, err = decodeAs[ProducerIDsRecord](body)
	case TypeACL:
		r, err = decodeAs[ACLRecord](body)
	case TypeSCRAM:
		r, err = decodeAs[SCRAMRecord](body)
	case TypeClusterID:
		r, err = decodeAs[ClusterIDRecord](body)
	default:
		return nil, bad("unknown record type %d", t)
	}
	if err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func decodeAs[T any](body []byte) (T, error) {
	var v T
	if len(body) == 0 || string(body) == "null" {
		return v, bad("missing record body")
	}
	if err := json.Unmarshal(body, &v); err != nil {
		var zero T
		return zero, bad("%T: %v", v, err)
	}
	return v, nil
}
