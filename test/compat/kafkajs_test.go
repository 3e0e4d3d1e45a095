package compat

import (
	"os/exec"
	"testing"
	"time"
)

// TestKafkajs runs kafkajs (npm, installed into test/compat/js/node_modules) through the
// suite, idempotent producer included.
func TestKafkajs(t *testing.T) {
	t.Parallel()
	dir := kafkajsDir(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	c := &scriptClient{
		name:       "kafkajs",
		argv:       []string{node, "kafkajs_client.js"},
		dir:        dir,
		codecList:  []string{"none", "gzip", "snappy", "lz4", "zstd"},
		idempotOK:  true,
		cmdTimeout: 60 * time.Second,
	}
	t.Logf("client: %s", c.version(t))
	runSuite(t, "kafkajs", c)
}
