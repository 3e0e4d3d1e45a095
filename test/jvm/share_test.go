package jvm

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering/s3store"
)

// shareScenario runs one scenario of ShareScenarios.java (the KafkaShareConsumer) like
// scenario does for Scenarios.java.
func shareScenario(t *testing.T, name, bootstrap string, args ...string) {
	t.Helper()
	r := runToolEnv(t, 4*time.Minute, []string{"STRATA_CLIENT_PROPS="}, "", "io.strata.jvmtests.ShareScenarios", append([]string{name, bootstrap}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "ok "+name) {
		t.Fatalf("share scenario %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, r.code, r.stdout, r.stderr)
	}
	t.Logf("%s: %s", name, strings.TrimSpace(r.stdout))
}

// TestJavaShareConsumer runs the Java KafkaShareConsumer (KIP-932) against Strata: every
// record accepted or rejected exactly once with releases and lock expiry redelivering, the
// delivery count limit archiving a record, acknowledged state surviving a broker restart.
func TestJavaShareConsumer(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s Java client (KafkaShareConsumer)", kafkaVersion)
	s := startStrata(t, map[string]string{
		"group.share.record.lock.duration.ms": "3000",
		"group.share.delivery.count.limit":    "3",
	}, nil)
	addr := s.addr()
	t.Run("deliver-release-reject-lock-expiry", func(t *testing.T) {
		createTopic(t, addr, "java-share", 3, nil)
		shareScenario(t, "share", addr, "java-share", "java-share-g", "300")
	})
	t.Run("delivery-count-limit", func(t *testing.T) {
		createTopic(t, addr, "java-share-limit", 1, nil)
		shareScenario(t, "share-limit", addr, "java-share-limit", "java-share-limit-g", "3")
	})
	t.Run("restart", func(t *testing.T) {
		createTopic(t, addr, "java-share-restart", 2, nil)
		shareScenario(t, "produce", addr, "java-share-restart", "0", "100")
		shareScenario(t, "share-exact", addr, "java-share-restart", "java-share-restart-g", "0", "100")
		s.Restart(t)
		shareScenario(t, "produce", addr, "java-share-restart", "100", "150")
		// Only the new records: the 100 accepted before the restart stay accepted.
		shareScenario(t, "share-exact", addr, "java-share-restart", "java-share-restart-g", "100", "150")
	})
}

// TestJavaShareConsumerTiered: share groups read a partition whose first segments live only
// in the bucket (a real MinIO): the Java KafkaShareConsumer, then franz-go's share consumer.
func TestJavaShareConsumerTiered(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s Java client (KafkaShareConsumer), share reads of segments in MinIO", kafkaVersion)
	srv := miniotest.Start(t)
	store, err := s3store.New(t.Context(), s3store.Config{
		Bucket: srv.NewBucket(t), Region: miniotest.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := startStrata(t, map[string]string{
		"log.retention.check.interval.ms": "100",
		"remote.log.upload.interval.ms":   "200",
		"remote.log.chunk.bytes":          "8192",
	}, func(c *broker.Config) { c.RemoteStore = store; c.RemotePrefix = "jvm-share" })
	addr := s.addr()
	const topic, n = "java-share-tiered", 600
	createTopic(t, addr, topic, 1, map[string]*string{
		"remote.storage.enable": kadm.StringPtr("true"),
		"segment.bytes":         kadm.StringPtr("8192"),
		"local.retention.bytes": kadm.StringPtr("0"),
		"retention.ms":          kadm.StringPtr("-1"),
	})
	shareScenario(t, "produce", addr, topic, "0", fmt.Sprint(n))
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
	shareScenario(t, "share-exact", addr, topic, topic+"-g", "0", fmt.Sprint(n))

	// franz-go's share consumer reads the same through a second share group.
	group := topic + "-franz"
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = "share.auto.offset.reset", kadm.StringPtr("earliest")
	rr.Configs = append(rr.Configs, cfg)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(t.Context(), franz(t, addr))
	if err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("set share.auto.offset.reset: %v %+v", err, resp)
	}
	cl := franz(t, addr, kgo.ShareGroup(group), kgo.ConsumeTopics(topic))
	seen := map[string]int{}
	deadline = time.Now().Add(90 * time.Second)
	for len(seen) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			r.Ack(kgo.AckAccept)
		})
	}
	if len(seen) != n {
		t.Fatalf("franz-go share consumer read %d of %d records", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Fatalf("franz-go: %s delivered %d times", v, c)
		}
	}
}
