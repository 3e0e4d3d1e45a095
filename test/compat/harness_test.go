// Package compat runs the Kafka clients Strata's users already have against an in-process
// broker on a loopback port: librdkafka (confluent-kafka-python), kafka-python, kafkajs (Node)
// and Sarama (Go, in-process). Every client goes through the same scenario (suite_test.go):
// create a topic with its admin API, produce keyed records with every codec it supports,
// consume them from the beginning and compare byte for byte with what franz-go reads, an
// idempotent producer where the client has one, and a group of two members that splits a
// topic, commits, is stopped, and after a broker restart resumes exactly at the commits.
//
// The external clients are installed by `make tools` (apt: python3-confluent-kafka,
// python3-kafka; npm: test/compat/js). A client that is missing is a test failure, not a
// skip: CI must prove compatibility, not silently lose it. The test installs the npm
// packages itself (npm ci) when test/compat/js/node_modules is missing.
package compat

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/brokertest"
)

// testBroker is an in-process broker (test/brokertest) that can be restarted on the same
// port and data dir.
type testBroker struct {
	*brokertest.Broker
	dir  string
	addr string
}

// startBroker starts a broker on a free loopback port. group.initial.rebalance.delay.ms is
// Kafka's 3 s by default; 1 s keeps the test short while still letting both members of a
// freshly started group join the first generation.
func startBroker(t *testing.T) *testBroker {
	t.Helper()
	return startBrokerWith(t, nil, nil)
}

// startBrokerWith starts a broker with extra properties and a config edit.
func startBrokerWith(t *testing.T, props map[string]string, edit func(*broker.Config)) *testBroker {
	t.Helper()
	all := map[string]string{"group.initial.rebalance.delay.ms": "1000"}
	maps.Copy(all, props)
	b := brokertest.Start(t, brokertest.Config{Props: all, Edit: edit})
	return &testBroker{Broker: b, dir: b.Dir(), addr: b.Addr()}
}

// franz is the reference client used to check what the client under test did.
func franz(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.RetryTimeout(15 * time.Second),
		kgo.MetadataMinAge(50 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopicFranz(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	resp, err := kadm.NewClient(franz(t, addr)).CreateTopic(t.Context(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// --- finding and installing the external clients ---------------------------------------

// debianPython is the interpreter the apt packages python3-confluent-kafka and
// python3-kafka install into; a python3 earlier in PATH (pyenv) would not see them.
func debianPython(t *testing.T, module string) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s missing: run `make tools`", py)
	}
	if out, err := exec.Command(py, "-c", "import "+module).CombinedOutput(); err != nil {
		t.Fatalf("python module %s missing (run `make tools`, which installs it with apt): %v\n%s", module, err, out)
	}
	return py
}

var npmOnce sync.Once
var npmErr error

// kafkajsDir returns test/compat/js with its node_modules installed (npm ci on first use).
func kafkajsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node missing: %v", err)
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs", "package.json")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	return dir
}

func itoa(i int) string { return strconv.Itoa(i) }
