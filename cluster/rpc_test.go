package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// TestClientFollowsController drives a 3-node quorum only through the controller RPC, as
// a broker in another process would, across a controller failover.
func TestClientFollowsController(t *testing.T) {
	c := startCluster(t, 3, fastConfig())
	leader := c.active()
	// Followers first, so the client must follow NOT_CONTROLLER to the leader.
	addrs := slices.Clone(c.addrs)
	slices.SortFunc(addrs, func(a, b string) int {
		if a == leader.Addr() {
			return 1
		}
		if b == leader.Addr() {
			return -1
		}
		return 0
	})
	cl := NewClient(addrs)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	epochs := map[int32]int64{}
	for id := int32(1); id <= 3; id++ {
		e, err := cl.RegisterBroker(ctx, BrokerRegistration{NodeID: id, IncarnationID: "i", Listeners: []Listener{{Name: "PLAINTEXT", Host: "h", Port: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		epochs[id] = e
		if resp, err := cl.Heartbeat(ctx, HeartbeatRequest{NodeID: id, BrokerEpoch: e}); err != nil || resp.Fenced {
			t.Fatalf("heartbeat %d: %+v %v", id, resp, err)
		}
	}
	if _, err := cl.Heartbeat(ctx, HeartbeatRequest{NodeID: 1, BrokerEpoch: 12345}); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale heartbeat over RPC: %v", err)
	}
	res, err := cl.CreateTopics(ctx, []TopicSpec{{Name: "r", NumPartitions: 3, ReplicationFactor: 3}, {Name: "bad name", NumPartitions: 1, ReplicationFactor: 1}})
	if err != nil || res[0].Err != nil || res[0].ID.IsZero() || !errors.Is(res[1].Err, ErrInvalidTopic) {
		t.Fatalf("CreateTopics over RPC: %+v %v", res, err)
	}
	im, err := cl.Watch(ctx, 0)
	if err != nil || im.Topics["r"] == nil || im.Topics["r"].ID != res[0].ID || cl.Image().Version != im.Version {
		t.Fatalf("Watch: %v %v", im, err)
	}
	p := im.Topics["r"].Partitions[0]
	if _, err := cl.AlterPartition(ctx, AlterPartitionRequest{BrokerID: p.Leader, BrokerEpoch: epochs[p.Leader], TopicID: res[0].ID,
		LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch, NewISR: []int32{p.Leader}}); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("AlterPartition with a future leader epoch: %v", err)
	}
	got, err := cl.AlterPartition(ctx, AlterPartitionRequest{BrokerID: p.Leader, BrokerEpoch: epochs[p.Leader], TopicID: res[0].ID,
		LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: []int32{p.Leader}})
	if err != nil || got.PartitionEpoch != p.PartitionEpoch+1 || !slices.Equal(got.ISR, []int32{p.Leader}) {
		t.Fatalf("AlterPartition: %+v %v", got, err)
	}
	if err := cl.CreatePartitions(ctx, "r", 5, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreatePartitions(ctx, "r", 2, nil); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("shrinking over RPC: %v", err)
	}
	v := "compact"
	if err := cl.AlterTopicConfigs(ctx, "r", map[string]*string{"cleanup.policy": &v}); err != nil {
		t.Fatal(err)
	}
	for len(cl.Image().Topics["r"].Partitions) != 5 || cl.Image().Topics["r"].Configs["cleanup.policy"] != "compact" {
		if _, err := cl.Watch(ctx, cl.Image().Version); err != nil {
			t.Fatalf("waiting for 5 partitions of r: %v", err)
		}
	}
	blk, err := cl.AllocateProducerIDs(ctx, 1, epochs[1])
	if err != nil || blk.Size != ProducerIDBlockSize {
		t.Fatalf("AllocateProducerIDs: %+v %v", blk, err)
	}
	if err := cl.AlterACLs(ctx, []ACLRecord{{Key: "a", Payload: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.AlterSCRAM(ctx, []SCRAMRecord{{User: "u", Mechanism: "SCRAM-SHA-256", Payload: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	del, err := cl.DeleteTopics(ctx, []string{"nope"})
	if err != nil || !errors.Is(del["nope"], ErrUnknownTopicOrPartition) {
		t.Fatalf("DeleteTopics: %v %v", del, err)
	}

	// The controller goes away; the client finds the next one.
	c.stop(int(leader.ID() - 1))
	// (TOPIC_ALREADY_EXISTS is the answer to a retry whose first try committed.)
	res, err = cl.CreateTopics(ctx, []TopicSpec{{Name: "after", NumPartitions: 1, ReplicationFactor: 3}})
	if err != nil || (res[0].Err != nil && !errors.Is(res[0].Err, ErrTopicExists)) {
		t.Fatalf("CreateTopics after failover: %+v %v", res, err)
	}
	if b2, err := cl.AllocateProducerIDs(ctx, 2, epochs[2]); err != nil || b2.FirstID < blk.FirstID+int64(blk.Size) {
		t.Fatalf("AllocateProducerIDs after failover: %+v %v (before: %+v)", b2, err, blk)
	}
	im, err = cl.Watch(ctx, im.Version)
	if err != nil || im.Topics["after"] == nil {
		t.Fatalf("Watch after failover: %v", err)
	}
	// A call with no controller reachable ends with its context.
	cl2 := NewClient([]string{"127.0.0.1:1"})
	sctx, scancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer scancel()
	if _, err := cl2.Heartbeat(sctx, HeartbeatRequest{NodeID: 1, BrokerEpoch: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unreachable controller: %v", err)
	}
}

// TestRPCBadInput: malformed RPC frames close or fail that connection only.
func TestRPCBadInput(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, soloConfig())
	n := c.active()
	send := func(payload []byte) ([]byte, error) {
		conn, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write(append([]byte{rpcMagic}, payload...))
		conn.(*net.TCPConn).CloseWrite() // a truncated frame then ends in EOF
		return io.ReadAll(conn)
	}
	frame := func(s string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(s)))
		return append(b, s...)
	}
	// Too large a frame, JSON that is not a request, a truncated frame: closed, no answer.
	for _, in := range [][]byte{{0xff, 0xff, 0xff, 0xff}, frame("{"), frame(`{"op":1}`), {0, 0, 0, 9, '{'}} {
		if out, _ := send(in); len(out) != 0 {
			t.Fatalf("input %q answered %q", in, out)
		}
	}
	// An unknown operation and a bad body get INVALID_REQUEST.
	for _, req := range []string{`{"op":"nope"}`, `{"op":"heartbeat","body":"x"}`} {
		conn, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write(append([]byte{rpcMagic}, frame(req)...))
		var resp rpcResponse
		if err := readFrame(conn, &resp); err != nil || resp.Err == nil || resp.Err.Code != "INVALID_REQUEST" {
			t.Fatalf("%s: %+v %v", req, resp.Err, err)
		}
		conn.Close()
	}
	// Garbage on the Raft side of the port does not hurt the node either.
	if conn, err := net.Dial("tcp", n.Addr()); err == nil {
		conn.Write([]byte{0, 1, 2, 3, 0xff, 0xfe})
		conn.Close()
	}
	cl := NewClient([]string{n.Addr()})
	if _, err := cl.RegisterBroker(t.Context(), BrokerRegistration{NodeID: 1, IncarnationID: "x"}); err != nil {
		t.Fatalf("node unusable after bad input: %v", err)
	}
}
