package jvm

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering/s3store"
)

// scenario runs one Java client scenario of test/java/src (Scenarios.java) and returns its
// "ok ..." and "error ..." lines; any other outcome fails the test. env adds variables
// (STRATA_CLIENT_PROPS).
func scenario(t *testing.T, env []string, name, bootstrap string, args ...string) []string {
	t.Helper()
	r := runToolEnv(t, 4*time.Minute, append([]string{"STRATA_CLIENT_PROPS="}, env...), "", "io.strata.jvmtests.Scenarios", append([]string{name, bootstrap}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "ok "+name) {
		t.Fatalf("scenario %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, r.code, r.stdout, r.stderr)
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "error ") {
			lines = append(lines, l)
		}
	}
	t.Logf("%s: %s", name, strings.Join(lines, "; "))
	return lines
}

func createTopic(t *testing.T, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := kadm.NewClient(franz(t, addr)).CreateTopic(t.Context(), partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// TestJavaClient runs the Java client (KafkaProducer, KafkaConsumer, Admin) against Strata.
func TestJavaClient(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s Java client (kafka-clients: KafkaProducer, KafkaConsumer, Admin)", kafkaVersion)
	javaClientSuite(t, startStrata(t, nil, nil).addr(), false)
}

// TestJavaClientReference runs the same against Apache Kafka (make compat-jvm).
func TestJavaClientReference(t *testing.T) {
	if !referenceWanted() {
		t.Skip("STRATA_KAFKA_REFERENCE=1 (make compat-jvm) runs Apache Kafka beside Strata")
	}
	t.Parallel()
	t.Logf("client: Apache Kafka %s Java client, against Apache Kafka %s itself (the reference)", kafkaVersion, kafkaVersion)
	javaClientSuite(t, startKafka(t, nil)["PLAINTEXT"], true)
}

func javaClientSuite(t *testing.T, addr string, reference bool) {
	t.Run("codecs-idempotent-headers-timestamps", func(t *testing.T) {
		createTopic(t, addr, "java-codecs", 3, nil)
		scenario(t, nil, "codecs", addr, "java-codecs")
		// franz-go reads the same: every record once, with the codec header it was sent with.
		cl := franz(t, addr, kgo.ConsumeTopics("java-codecs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := 0
		ctx := t.Context()
		for got < 1000 {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				got++
				if len(r.Headers) != 2 || r.Headers[0].Key != "codec" || !strings.Contains(string(r.Value), string(r.Headers[0].Value)+"-") {
					t.Errorf("record %d/%d: headers %v value %q", r.Partition, r.Offset, r.Headers, r.Value)
				}
				if r.ProducerID < 0 {
					t.Errorf("record %d/%d: no producer id (not idempotent)", r.Partition, r.Offset)
				}
			})
		}
	})
	for _, assignor := range []string{"range", "cooperative-sticky", "consumer"} { // consumer: group.protocol=consumer (KIP-848)
		t.Run("group-"+assignor, func(t *testing.T) {
			topic := "java-group-" + assignor
			createTopic(t, addr, topic, 4, nil)
			cl := franz(t, addr)
			for i := range 400 {
				cl.Produce(t.Context(), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%31), Value: fmt.Appendf(nil, "v%d", i)}, nil)
			}
			if err := cl.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			scenario(t, nil, "group", addr, topic, "java-"+assignor, assignor)
		})
	}
	t.Run("static-membership", func(t *testing.T) {
		createTopic(t, addr, "java-static", 4, nil)
		scenario(t, nil, "static", addr, "java-static", "java-static-g")
	})
	t.Run("group-migrate", func(t *testing.T) { // a classic and a group.protocol=consumer member in one group
		const topic = "java-migrate"
		createTopic(t, addr, topic, 4, nil)
		cl := franz(t, addr)
		for i := range 400 {
			cl.Produce(t.Context(), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%31), Value: fmt.Appendf(nil, "v%d", i)}, nil)
		}
		if err := cl.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		scenario(t, nil, "migrate", addr, topic, "java-migrate-g")
	})
	t.Run("static-membership-consumer", func(t *testing.T) { // group.protocol=consumer (KIP-848)
		createTopic(t, addr, "java-static-848", 4, nil)
		scenario(t, nil, "static-consumer", addr, "java-static-848", "java-static-848-g")
	})
	t.Run("transactions", func(t *testing.T) {
		createTopic(t, addr, "java-txn", 3, nil)
		scenario(t, nil, "transactions", addr, "java-txn", "java-txn-g")
	})
	t.Run("admin", func(t *testing.T) {
		lines := scenario(t, nil, "admin", addr, "java-admin")
		want := []string{
			"error config-alter: Invalid value soon for configuration retention.ms: Not a number of type LONG",
			"error config-create: Invalid value soon for configuration retention.ms: Not a number of type LONG",
			"error exists: Topic 'TOPIC' already exists.",
			"error missing-group: Group TOPIC-nosuch-group not found.",
			"error rf: Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered" + cordoned(reference) + ".",
			"error unknown-topic: This server does not host this topic-partition.",
			"ok admin",
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("admin scenario:\n got %q\nwant %q", lines, want)
		}
	})
}

// TestJavaClientTimesTiered: offsetsForTimes and seeks by time over a partition whose first
// segments live only in the bucket (a real MinIO).
func TestJavaClientTimesTiered(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s Java client, offsetsForTimes and seeks over segments in MinIO", kafkaVersion)
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	store, err := s3store.New(t.Context(), s3store.Config{
		Bucket: bucket, Region: miniotest.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := startStrata(t, map[string]string{
		"log.retention.check.interval.ms": "100",
		"remote.log.upload.interval.ms":   "200",
		"remote.log.chunk.bytes":          "8192",
	}, func(c *broker.Config) { c.RemoteStore = store; c.RemotePrefix = "jvm" })
	addr := s.addr()
	const topic, n, t0 = "java-times", 600, "1700000000000"
	createTopic(t, addr, topic, 1, map[string]*string{
		"remote.storage.enable": kadm.StringPtr("true"),
		"segment.bytes":         kadm.StringPtr("8192"),
		"local.retention.bytes": kadm.StringPtr("0"),
		"retention.ms":          kadm.StringPtr("-1"),
	})
	scenario(t, nil, "produce-times", addr, topic, fmt.Sprint(n), t0)
	// Wait until the first segments have left the local disk (only uploaded ones do).
	deadline := time.Now().Add(60 * time.Second)
	for {
		logs, _ := filepath.Glob(filepath.Join(s.dir, topic+"-0", "*.log"))
		if len(logs) > 0 && filepath.Base(logs[0]) != "00000000000000000000.log" {
			t.Logf("first local segment now %s", filepath.Base(logs[0]))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the first segment is still local: %v", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	scenario(t, nil, "check-times", addr, topic, fmt.Sprint(n), t0)
}

// cordoned is the end of Kafka's message for a replication factor above the broker count
// that Strata leaves out (it has no log directory cordoning).
func cordoned(reference bool) string {
	if reference {
		return " or some brokers have all their log directories cordoned"
	}
	return ""
}
