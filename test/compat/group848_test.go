package compat

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPyPIConfluentKafkaConsumerProtocol runs the group scenario (two members split the
// partitions, stop, broker restart, resume exactly at the commits) with librdkafka from
// PyPI's confluent-kafka in KIP-848 mode: group.protocol=consumer, the broker's uniform
// assignor (group.remote.assignor).
func TestPyPIConfluentKafkaConsumerProtocol(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("py")
	c := &scriptClient{
		name:      "confluent-kafka (PyPI), group.protocol=consumer",
		argv:      []string{pypiPython(t, "confluent_kafka"), "confluent_client.py"},
		dir:       dir,
		groupArgs: []string{"consumer:uniform"},
	}
	t.Logf("client: %s", c.version(t))
	tb := startBrokerWith(t, map[string]string{"group.consumer.heartbeat.interval.ms": "500"}, nil)
	groupScenario(t, tb, "pypi-rdkafka-848", c)
}

// checkConsumerProtocol checks that group is a KIP-848 consumer group of two members
// using the assignor named in arg ("consumer:NAME").
func checkConsumerProtocol(t *testing.T, addr, group, arg string) {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(t.Context(), franz(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	d := resp.Groups[0]
	t.Logf("consumer group %s: state %s, epoch %d, assignor %s, %d members", group, d.State, d.Epoch, d.AssignorName, len(d.Members))
	if d.ErrorCode != 0 || len(d.Members) != 2 {
		t.Fatalf("consumer group %s: %v, %d members; want 2 members", group, kerr.ErrorForCode(d.ErrorCode), len(d.Members))
	}
	if _, want, ok := strings.Cut(arg, ":"); ok && d.AssignorName != want {
		t.Fatalf("consumer group %s: assignor %q, want %q", group, d.AssignorName, want)
	}
}
