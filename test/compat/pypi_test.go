package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// pypiPython is the interpreter of the git-ignored venv that `make pypi-clients` (part of
// `make tools`) fills from py/requirements-pypi.txt: current confluent-kafka 2.x (with its
// bundled librdkafka), kafka-python 3.x and aiokafka, beside the Debian packages the other
// tests use.
func pypiPython(t *testing.T, module string) string {
	t.Helper()
	py, err := filepath.Abs(filepath.Join("py", ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s missing: run `make pypi-clients` (part of `make tools`)", py)
	}
	if out, err := exec.Command(py, "-c", "import "+module).CombinedOutput(); err != nil {
		t.Fatalf("python module %s missing from the venv (run `make pypi-clients`): %v\n%s", module, err, out)
	}
	return py
}

// TestPyPIConfluentKafka runs confluent-kafka 2.x from PyPI (its own librdkafka) through the
// suite with the same script as TestLibrdkafka, idempotent producer and the
// cooperative-sticky group included.
func TestPyPIConfluentKafka(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("py")
	c := &scriptClient{
		name:      "confluent-kafka (PyPI)",
		argv:      []string{pypiPython(t, "confluent_kafka"), "confluent_client.py"},
		dir:       dir,
		codecList: []string{"none", "gzip", "snappy", "lz4", "zstd"},
		idempotOK: true,
	}
	t.Logf("client: %s", c.version(t))
	runSuite(t, "pypi-rdkafka", c)
	t.Run("group-cooperative-sticky", func(t *testing.T) {
		coop := *c
		coop.groupArgs = []string{"cooperative-sticky"}
		groupScenario(t, startBroker(t), "pypi-rdkafka-coop", &coop)
	})
}

// TestPyPIKafkaPython runs kafka-python 3.x from PyPI through the suite with the same
// group code as TestKafkaPython (kafkapython3_client.py: its admin calls changed in 3.x).
func TestPyPIKafkaPython(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("py")
	c := &scriptClient{
		name:      "kafka-python (PyPI)",
		argv:      []string{pypiPython(t, "kafka"), "kafkapython3_client.py"},
		dir:       dir,
		codecList: []string{"none", "gzip", "snappy", "lz4", "zstd"},
	}
	t.Logf("client: %s", c.version(t))
	runSuite(t, "pypi-kafkapython", c)
}

// TestPyPIAiokafka runs aiokafka (asyncio) from PyPI through the suite, idempotent
// producer included.
func TestPyPIAiokafka(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.Abs("py")
	c := &scriptClient{
		name:      "aiokafka (PyPI)",
		argv:      []string{pypiPython(t, "aiokafka"), "aiokafka_client.py"},
		dir:       dir,
		codecList: []string{"none", "gzip", "snappy", "lz4", "zstd"},
		idempotOK: true,
	}
	t.Logf("client: %s", c.version(t))
	runSuite(t, "pypi-aiokafka", c)
}
