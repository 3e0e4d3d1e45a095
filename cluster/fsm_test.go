package cluster

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// applyEntry feeds one entry to f as raft would and returns the result.
func applyEntry(t *testing.T, f *fsm, index uint64, recs ...Record) applyResult {
	t.Helper()
	data, err := EncodeEntry(recs...)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(applyResult)
	return res
}

// history is a small metadata history: three brokers, a topic of two partitions, an ISR
// change, a leader change, producer ids, configs, ACLs and SCRAM credentials.
func history(t *testing.T, f *fsm) {
	t.Helper()
	entries := [][]Record{
		{RegisterBrokerRecord{NodeID: 1, IncarnationID: "a"}},
		{RegisterBrokerRecord{NodeID: 2, IncarnationID: "b", Rack: "r2"}},
		{RegisterBrokerRecord{NodeID: 3, IncarnationID: "c"}},
		{UnfenceBrokerRecord{NodeID: 1, Epoch: 1}, UnfenceBrokerRecord{NodeID: 2, Epoch: 2}, UnfenceBrokerRecord{NodeID: 3, Epoch: 3}},
		{TopicRecord{Name: "t", ID: tid, Configs: map[string]string{"retention.ms": "-1"}},
			PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1},
			PartitionRecord{TopicID: tid, Partition: 1, Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3, 1}, Leader: 2}},
		{PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, PartitionEpoch: 1}},
		{FenceBrokerRecord{NodeID: 2, Epoch: 2},
			PartitionRecord{TopicID: tid, Partition: 1, Replicas: []int32{2, 3, 1}, ISR: []int32{3, 1}, Leader: 3, LeaderEpoch: 1, PartitionEpoch: 1}},
		{ProducerIDsRecord{NodeID: 1, BrokerEpoch: 1, FirstID: 0, Size: 1000}},
		{TopicConfigRecord{ID: tid, Key: "cleanup.policy", Value: strp("compact")}},
		{ACLRecord{Key: "k", Payload: []byte("acl")}, SCRAMRecord{User: "alice", Mechanism: "SCRAM-SHA-512", Payload: []byte("cred")}},
	}
	for i, recs := range entries {
		if res := applyEntry(t, f, uint64(i+1), recs...); res.err != nil {
			t.Fatalf("entry %d: %v", i+1, res.err)
		}
	}
}

func TestFSMApply(t *testing.T) {
	f := newFSM(nil)
	history(t, f)
	im := f.image.Load()
	if im.Version != 10 || len(im.Brokers) != 3 || !im.Brokers[2].Fenced || im.Brokers[1].Fenced || im.Brokers[3].Epoch != 3 {
		t.Fatalf("brokers: %+v version %d", im.Brokers, im.Version)
	}
	tp := im.Topics["t"]
	if tp == nil || im.TopicByID(tid) != tp || len(tp.Partitions) != 2 {
		t.Fatalf("topic: %+v", tp)
	}
	want0 := Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, PartitionEpoch: 1}
	want1 := Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{3, 1}, Leader: 3, LeaderEpoch: 1, PartitionEpoch: 1}
	if !reflect.DeepEqual(tp.Partitions, []Partition{want0, want1}) {
		t.Fatalf("partitions: %+v", tp.Partitions)
	}
	if tp.Configs["cleanup.policy"] != "compact" || tp.Configs["retention.ms"] != "-1" {
		t.Fatalf("configs: %v", tp.Configs)
	}
	if im.NextProducerID != 1000 || string(im.ACLs["k"]) != "acl" || string(im.SCRAM["SCRAM-SHA-512/alice"].Payload) != "cred" {
		t.Fatalf("producer ids %d, acls %v, scram %v", im.NextProducerID, im.ACLs, im.SCRAM)
	}
}

func TestFSMPreconditions(t *testing.T) {
	f := newFSM(nil)
	history(t, f)
	before := f.image.Load()
	f2 := func(index uint64, recs ...Record) {
		t.Helper()
		res := applyEntry(t, f, index, recs...)
		if !errors.Is(res.err, ErrConflict) {
			t.Fatalf("entry %d %#v: err %v, want ErrConflict", index, recs, res.err)
		}
		im := f.image.Load()
		if !reflect.DeepEqual(im.Topics, before.Topics) || !reflect.DeepEqual(im.Brokers, before.Brokers) || im.NextProducerID != before.NextProducerID {
			t.Fatalf("entry %d changed the image", index)
		}
	}
	// A replayed change (same partition epoch) and a skipped one are no-ops.
	f2(11, PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 1})
	f2(12, PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 3})
	// A leader epoch may not go back.
	f2(13, PartitionRecord{TopicID: tid, Partition: 1, Replicas: []int32{2, 3, 1}, ISR: []int32{3, 1}, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 2})
	// A partition must be created in order; a topic name and id only once.
	f2(14, PartitionRecord{TopicID: tid, Partition: 5, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	f2(15, TopicRecord{Name: "t", ID: TopicID{9}})
	f2(16, TopicRecord{Name: "u", ID: tid})
	// Fencing names the registration's epoch; an old epoch is stale.
	f2(17, FenceBrokerRecord{NodeID: 1, Epoch: 7})
	f2(18, UnfenceBrokerRecord{NodeID: 4, Epoch: 1})
	// Producer-id blocks are handed out once.
	f2(19, ProducerIDsRecord{NodeID: 1, BrokerEpoch: 1, FirstID: 0, Size: 1000})
	// All or nothing: a valid topic with a bad partition creates nothing.
	f2(20, TopicRecord{Name: "v", ID: TopicID{7}}, PartitionRecord{TopicID: TopicID{7}, Partition: 1, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	if _, ok := f.image.Load().Topics["v"]; ok {
		t.Fatal("topic v of a failed entry exists")
	}
	if v := f.image.Load().Version; v != 20 {
		t.Fatalf("version %d after failed entries, want 20", v)
	}
	// An entry at or below the version is skipped (raft replay after a restore).
	f2(5, TopicRecord{Name: "w", ID: TopicID{8}})
	// An entry that does not decode moves the version only.
	res, _ := f.Apply(&raft.Log{Index: 21, Type: raft.LogCommand, Data: []byte("junk")}).(applyResult)
	if !errors.Is(res.err, ErrBadRecord) || f.image.Load().Version != 21 {
		t.Fatalf("junk entry: %v, version %d", res.err, f.image.Load().Version)
	}
}

func TestImageCopyOnWrite(t *testing.T) {
	f := newFSM(nil)
	history(t, f)
	old := f.image.Load()
	oldP0 := old.Topics["t"].Partitions[0]
	applyEntry(t, f, 11, PartitionRecord{TopicID: tid, Partition: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 2},
		RegisterBrokerRecord{NodeID: 4, IncarnationID: "d"})
	if !reflect.DeepEqual(old.Topics["t"].Partitions[0], oldP0) || len(old.Brokers) != 3 || old.Version != 10 {
		t.Fatal("applying an entry changed the previous image")
	}
	if got := f.image.Load().Topics["t"].Partitions[0].ISR; !reflect.DeepEqual(got, []int32{1}) {
		t.Fatalf("new ISR %v", got)
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestore(t *testing.T) {
	f := newFSM(nil)
	history(t, f)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Entries applied after the snapshot was taken are not in it.
	applyEntry(t, f, 11, ProducerIDsRecord{NodeID: 1, BrokerEpoch: 1, FirstID: 1000, Size: 1000})
	var sink memSink
	if err := snap.Persist(&sink); err != nil || sink.cancelled {
		t.Fatal(err)
	}
	g := newFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	im := g.image.Load()
	if im.Version != 10 || im.NextProducerID != 1000 || g.restored.Load() != 10 {
		t.Fatalf("restored version %d next pid %d", im.Version, im.NextProducerID)
	}
	// Replaying the tail makes the restored image equal to the original; replaying an
	// entry the snapshot already holds is skipped.
	applyEntry(t, g, 3, RegisterBrokerRecord{NodeID: 3, IncarnationID: "c"})
	applyEntry(t, g, 11, ProducerIDsRecord{NodeID: 1, BrokerEpoch: 1, FirstID: 1000, Size: 1000})
	if want := f.image.Load(); !reflect.DeepEqual(g.image.Load(), want) {
		t.Fatalf("restored + tail differs:\n%+v\n%+v", g.image.Load(), want)
	}
	// The restored image keeps working: its id index was rebuilt.
	if res := applyEntry(t, g, 12, TopicConfigRecord{ID: tid, Key: "x", Value: strp("y")}); res.err != nil {
		t.Fatal(res.err)
	}
}

func TestReadSnapshotErrors(t *testing.T) {
	f := func(in string) {
		t.Helper()
		if _, err := ReadSnapshot(bytes.NewReader([]byte(in))); !errors.Is(err, ErrBadRecord) {
			t.Fatalf("ReadSnapshot(%q) = %v, want ErrBadRecord", in, err)
		}
	}
	f("")
	f("strata-metadata-snapshot 2\n{}")
	f(snapshotMagic + "{")
	f(snapshotMagic + `{"brokers":{"1":{"nodeId":2}}}`)
	f(snapshotMagic + `{"topics":{"x":{"name":"y","id":"0102030405060708090a0b0c0d0e0f10"}}}`)
	f(snapshotMagic + `{"topics":{"x":{"name":"x","id":"0102030405060708090a0b0c0d0e0f10","partitions":[{"replicas":[1],"isr":[2],"leader":2}]}}}`)
	f(snapshotMagic + `{"topics":{"x":{"name":"x","id":"0102030405060708090a0b0c0d0e0f10"},"y":{"name":"y","id":"0102030405060708090a0b0c0d0e0f10"}}}`)
}

func TestFSMClusterID(t *testing.T) {
	f := newFSM(nil)
	if res := applyEntry(t, f, 1, ClusterIDRecord{ID: "first"}); res.err != nil {
		t.Fatal(res.err)
	}
	if res := applyEntry(t, f, 2, ClusterIDRecord{ID: "second"}); !errors.Is(res.err, ErrConflict) {
		t.Fatalf("second cluster id: %v", res.err)
	}
	var sink memSink
	snap, _ := f.Snapshot()
	snap.Persist(&sink)
	im, err := ReadSnapshot(&sink)
	if err != nil || im.ClusterID != "first" || f.image.Load().ClusterID != "first" {
		t.Fatalf("cluster id %q / %q, %v", im.ClusterID, f.image.Load().ClusterID, err)
	}
}
