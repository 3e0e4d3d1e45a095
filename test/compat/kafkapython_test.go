package compat

import (
	"path/filepath"
	"testing"
)

// kafkaPythonClient is kafka-python (Debian's python3-kafka, with python3-snappy,
// python3-lz4 and python3-zstandard for the codecs). kafka-python 2.0 has no idempotent
// producer.
func kafkaPythonClient(t *testing.T) *scriptClient {
	t.Helper()
	py := debianPython(t, "kafka")
	for _, m := range []string{"snappy", "lz4.frame", "zstandard"} {
		debianPython(t, m)
	}
	dir, _ := filepath.Abs("py")
	return &scriptClient{
		name:      "kafka-python",
		argv:      []string{py, "kafkapython_client.py"},
		dir:       dir,
		codecList: []string{"none", "gzip", "snappy", "lz4", "zstd"},
	}
}

// TestKafkaPython runs kafka-python through the suite.
func TestKafkaPython(t *testing.T) {
	t.Parallel()
	c := kafkaPythonClient(t)
	t.Logf("client: %s", c.version(t))
	runSuite(t, "kafkapython", c)
}
