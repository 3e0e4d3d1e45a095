package compat

import (
	"path/filepath"
	"testing"
)

// TestLibrdkafka runs confluent-kafka-python (Debian's python3-confluent-kafka, on the
// system librdkafka) through the suite, idempotent producer included.
func TestLibrdkafka(t *testing.T) {
	t.Parallel()
	py := debianPython(t, "confluent_kafka")
	dir, _ := filepath.Abs("py")
	c := &scriptClient{
		name:      "librdkafka",
		argv:      []string{py, "confluent_client.py"},
		dir:       dir,
		codecList: []string{"none", "gzip", "snappy", "lz4", "zstd"},
		idempotOK: true,
	}
	t.Logf("client: %s", c.version(t))
	runSuite(t, "rdkafka", c)

	// The incremental (KIP-429) rebalance protocol: librdkafka's cooperative-sticky
	// assignor revokes only the partitions that move.
	t.Run("group-cooperative-sticky", func(t *testing.T) {
		coop := *c
		coop.groupArgs = []string{"cooperative-sticky"}
		groupScenario(t, startBroker(t), "rdkafka-coop", &coop)
	})
}
