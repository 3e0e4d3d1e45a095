package compat

import (
	"os/exec"
	"testing"
	"time"
)

// kafkajsClient is kafkajs (npm, installed into test/compat/js/node_modules).
func kafkajsClient(t *testing.T) *scriptClient {
	t.Helper()
	dir := kafkajsDir(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	return &scriptClient{
		name:       "kafkajs",
		argv:       []string{node, "kafkajs_client.js"},
		dir:        dir,
		codecList:  []string{"none", "gzip", "snappy", "lz4", "zstd"},
		idempotOK:  true,
		cmdTimeout: 60 * time.Second,
	}
}

// TestKafkajs runs kafkajs through the suite, idempotent producer included.
func TestKafkajs(t *testing.T) {
	t.Parallel()
	c := kafkajsClient(t)
	t.Logf("client: %s", c.version(t))
	runSuite(t, "kafkajs", c)
}
