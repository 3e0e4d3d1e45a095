package cluster

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestParseQuorumConfig(t *testing.T) {
	f := func(props map[string]string, clustered bool, check func(QuorumConfig) bool) {
		t.Helper()
		q, err := ParseQuorumConfig(props)
		if err != nil {
			t.Fatalf("%v: %v", props, err)
		}
		if q.Clustered() != clustered || (check != nil && !check(q)) {
			t.Fatalf("%v: got %+v (clustered %v)", props, q, q.Clustered())
		}
	}
	// Today's single broker: no keys, or Kafka's keys for a combined node voting alone.
	f(map[string]string{}, false, nil)
	f(map[string]string{"controller.quorum.voters": "garbage", "node.id": "x"}, false, nil)
	f(map[string]string{"process.roles": "broker,controller", "node.id": "1", "controller.quorum.voters": "1@localhost:9093",
		"controller.listener.names": "CONTROLLER", "listeners": "PLAINTEXT://:9092,CONTROLLER://:9093"}, false,
		func(q QuorumConfig) bool { return q.Broker && q.Controller && q.BindAddr == ":9093" })
	f(map[string]string{"process.roles": "broker,controller", "controller.quorum.bootstrap.servers": "localhost:9093"}, false, nil)
	// A three-voter quorum.
	f(map[string]string{"process.roles": "controller,broker", "node.id": "2",
		"controller.quorum.voters": "1@h1:9093, 2@h2:9093,3@h3:9093"}, true,
		func(q QuorumConfig) bool {
			return q.NodeID == 2 && q.BindAddr == "h2:9093" &&
				reflect.DeepEqual(q.Voters, []Voter{{1, "h1:9093"}, {2, "h2:9093"}, {3, "h3:9093"}})
		})
	f(map[string]string{"process.roles": "controller", "node.id": "1", "controller.quorum.voters": "1@h1:9093,2@h2:9093,3@h3:9093",
		"controller.listener.names": "CTRL,OTHER", "listeners": "CTRL://0.0.0.0:19093"}, true,
		func(q QuorumConfig) bool { return !q.Broker && q.BindAddr == "0.0.0.0:19093" })
	// A broker-only node finds the controllers through either key.
	f(map[string]string{"process.roles": "broker", "broker.id": "4", "controller.quorum.bootstrap.servers": "h1:9093,h2:9093"}, true,
		func(q QuorumConfig) bool { return q.NodeID == 4 && len(q.BootstrapServers) == 2 && !q.Controller })
}

func TestParseQuorumConfigErrors(t *testing.T) {
	f := func(props map[string]string, want string) {
		t.Helper()
		_, err := ParseQuorumConfig(props)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: err %v, want %q", props, err, want)
		}
	}
	f(map[string]string{"process.roles": "leader"}, "process.roles")
	f(map[string]string{"process.roles": "broker,broker"}, "twice")
	f(map[string]string{"process.roles": "broker", "node.id": "-3"}, "node.id")
	f(map[string]string{"process.roles": "controller", "controller.quorum.voters": "1@h1"}, "id@host:port")
	f(map[string]string{"process.roles": "controller", "controller.quorum.voters": "x@h1:1"}, "id@host:port")
	f(map[string]string{"process.roles": "controller", "controller.quorum.voters": "1@h1:1,1@h2:1", "node.id": "1"}, "twice")
	f(map[string]string{"process.roles": "controller", "node.id": "5", "controller.quorum.voters": "1@h1:1,2@h2:1"}, "does not name node.id 5")
	f(map[string]string{"process.roles": "controller", "controller.quorum.bootstrap.servers": "h1:1,h2:1"}, "dynamic quorums")
	f(map[string]string{"process.roles": "broker"}, "broker-only")
	f(map[string]string{"process.roles": "broker", "controller.quorum.bootstrap.servers": "nohost"}, "bootstrap.servers")
}

func TestPlaceReplicas(t *testing.T) {
	bs := func(racks ...string) []Broker {
		var out []Broker
		for i, r := range racks {
			out = append(out, Broker{NodeID: int32(i + 1), Rack: r})
		}
		return out
	}
	f := func(brokers []Broker, parts, rf, start int, want [][]int32) {
		t.Helper()
		if got := placeReplicas(brokers, parts, rf, start); !reflect.DeepEqual(got, want) {
			t.Fatalf("placeReplicas(%v, %d, %d, %d) = %v, want %v", brokers, parts, rf, start, got, want)
		}
	}
	f(bs("", "", ""), 3, 3, 0, [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}})
	f(bs("", "", ""), 4, 1, 2, [][]int32{{3}, {1}, {2}, {3}})
	f(bs("", "", "", ""), 2, 2, 1, [][]int32{{2, 3}, {3, 4}})
	// Racks a,a,b,b: order 1(a),3(b),2(a),4(b): every pair of consecutive brokers spans both racks.
	f(bs("a", "a", "b", "b"), 4, 2, 0, [][]int32{{1, 3}, {3, 2}, {2, 4}, {4, 1}})
	// Each broker leads and follows equally often.
	got := placeReplicas(bs("a", "b", "c", "a", "b", "c"), 60, 3, 5)
	leaders, replicas := map[int32]int{}, map[int32]int{}
	for _, rs := range got {
		leaders[rs[0]]++
		racks := map[int32]bool{}
		for _, id := range rs {
			replicas[id]++
			racks[(id-1)%3] = true
		}
		if len(racks) != 3 {
			t.Fatalf("replicas %v share a rack", rs)
		}
	}
	for id := int32(1); id <= 6; id++ {
		if leaders[id] != 10 || replicas[id] != 30 {
			t.Fatalf("broker %d leads %d and holds %d replicas, want 10 and 30", id, leaders[id], replicas[id])
		}
	}
}

func TestRaftLogRateLimit(t *testing.T) {
	var buf strings.Builder
	l := hclogFor(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	for range 5 {
		l.Error("failed to appendEntries to", "peer", "x", "error", "refused")
		l.Warn("failed to contact", "server-id", 2)
	}
	if n := strings.Count(buf.String(), "failed to appendEntries"); n != 1 {
		t.Fatalf("%d appendEntries errors logged above debug, want 1:\n%s", n, buf.String())
	}
	if n := strings.Count(buf.String(), "failed to contact"); n != 1 {
		t.Fatalf("%d contact warnings logged above debug, want 1:\n%s", n, buf.String())
	}
}
