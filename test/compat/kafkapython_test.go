package compat

import (
	"path/filepath"
	"testing"
)

// TestKafkaPython runs kafka-python (Debian's python3-kafka, with python3-snappy,
// python3-lz4 and python3-zstandard for the codecs) through the suite. kafka-python 2.0
// has no idempotent producer.
func TestKafkaPython(t *testing.T) {
	t.Parallel()
	py := debianPython(t, "kafka")
	for _, m := range []string{"snappy", "lz4.frame", "zstandard"} {
		debianPython(t, m)
	}
	dir, _ := filepath.Abs("py")
	c := &scriptClient{
		name:      "kafka-python",
		argv:      []string{py, "kafkapython_client.py"},
		dir:       dir,
		codecList: []string{"none", "gzip", "snappy", "lz4", "zstd"},
	}
	t.Logf("client: %s", c.version(t))
	runSuite(t, "kafkapython", c)
}
