package compat

import (
	"path/filepath"
	"testing"
)

// librdkafkaClient is confluent-kafka-python (Debian's python3-confluent-kafka, on the
// system librdkafka).
func librdkafkaClient(t *testing.T) *scriptClient {
	t.Helper()
	py := debianPython(t, "confluent_kafka")
	dir, _ := filepath.Abs("py")
	return &scriptClient{
		name:      "librdkafka",
		argv:      []string{py, "confluent_client.py"},
		dir:       dir,
		codecList: []string{"none", "gzip", "snappy", "lz4", "zstd"},
		idempotOK: true,
	}
}

// cooperative is c with librdkafka's cooperative-sticky assignor for its group members.
func cooperative(c *scriptClient) *scriptClient {
	coop := *c
	coop.groupArgs = []string{"cooperative-sticky"}
	return &coop
}

// TestLibrdkafka runs confluent-kafka-python through the suite, idempotent producer
// included.
func TestLibrdkafka(t *testing.T) {
	t.Parallel()
	c := librdkafkaClient(t)
	t.Logf("client: %s", c.version(t))
	runSuite(t, "rdkafka", c)

	// The incremental (KIP-429) rebalance protocol: librdkafka's cooperative-sticky
	// assignor revokes only the partitions that move.
	t.Run("group-cooperative-sticky", func(t *testing.T) {
		groupScenario(t, startBroker(t), "rdkafka-coop", cooperative(c))
	})
}
