package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/tiering/memstore"
)

func TestValidateTopicName(t *testing.T) {
	f := func(name string, ok bool) {
		t.Helper()
		err := validateTopicName(name)
		if (err == nil) != ok || (err != nil && !errors.Is(err, kerr.InvalidTopicException)) {
			t.Errorf("%q: %v", name, err)
		}
	}
	f("orders", true)
	f("a.b_c-D9", true)
	f(strings.Repeat("x", 249), true)
	f(strings.Repeat("x", 250), false)
	f("", false)
	f(".", false)
	f("..", false)
	f("...", true)
	f("a b", false)
	f("a/b", false)
	f("ü", false)
	f("a\x00", false)
}

func TestTopicConfigValidation(t *testing.T) {
	bc, _ := ParseConfig(map[string]string{"log.dirs": t.TempDir()})
	f := func(overrides map[string]string, ok bool) {
		t.Helper()
		err := validateTopicConfigs(&bc, nil, overrides)
		if (err == nil) != ok || (err != nil && !errors.Is(err, kerr.InvalidConfig)) {
			t.Errorf("%v: %v", overrides, err)
		}
	}
	f(map[string]string{"retention.ms": "1000", "local.retention.ms": "500"}, true)
	f(map[string]string{"retention.ms": "1000", "local.retention.ms": "5000"}, false)
	f(map[string]string{"retention.ms": "1000", "local.retention.ms": "-1"}, false)
	f(map[string]string{"retention.ms": "-1", "local.retention.ms": "-1"}, true)
	f(map[string]string{"retention.bytes": "100", "local.retention.bytes": "-2"}, true)
	f(map[string]string{"retention.bytes": "100", "local.retention.bytes": "101"}, false)
	f(map[string]string{"cleanup.policy": "compact,delete"}, true)
	f(map[string]string{"cleanup.policy": "shred"}, false)
	f(map[string]string{"message.timestamp.type": "LogAppendTime"}, true)
	f(map[string]string{"message.timestamp.type": "logappendtime"}, false)
	f(map[string]string{"segment.bytes": "13"}, false)
	f(map[string]string{"segment.bytes": "99999999999"}, false) // INT
	f(map[string]string{"min.cleanable.dirty.ratio": "1.5"}, false)
	f(map[string]string{"compression.type": "zstd"}, true)
	f(map[string]string{"compression.type": "brotli"}, false)
	f(map[string]string{"unclean.leader.election.enable": "true", "min.insync.replicas": "1"}, true)
	f(map[string]string{"remote.storage.enable": "true"}, false) // no remote store on this broker
	f(map[string]string{"log.retention.ms": "1"}, false)         // broker key, not a topic key

	bc.RemoteStore = memstore.New()
	f(map[string]string{"remote.storage.enable": "true"}, true)
	f(map[string]string{"remote.storage.enable": "true", "cleanup.policy": "compact"}, true) // issue 18: the bucket keeps the history
	old := map[string]string{"remote.storage.enable": "true"}
	if err := validateTopicConfigs(&bc, old, map[string]string{}); !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("disabling remote storage without delete.on.disable: %v", err)
	}
	if err := validateTopicConfigs(&bc, old, map[string]string{"remote.log.copy.disable": "true", "remote.log.delete.on.disable": "true"}); err != nil {
		t.Errorf("disabling remote storage with delete.on.disable: %v", err)
	}
}

func TestEffectiveTopicConfig(t *testing.T) {
	bc, _ := ParseConfig(map[string]string{"log.retention.hours": "2", "log.segment.bytes": "4096", "log.message.timestamp.type": "LogAppendTime"})
	tc := effectiveTopicConfig(&bc, map[string]string{"segment.bytes": "8192", "remote.log.copy.disable": "true"})
	want := TopicConfig{
		CleanupPolicy: "delete", RetentionMs: 7200000, RetentionBytes: -1, LocalRetentionMs: -2, LocalRetentionBytes: -2,
		SegmentBytes: 8192, SegmentMs: 604800000, SegmentIndexBytes: 10485760, MaxMessageBytes: 1048588,
		MessageTimestampType: "LogAppendTime", MessageTimestampBeforeMaxMs: 1<<63 - 1, MessageTimestampAfterMaxMs: 1<<63 - 1,
		IndexIntervalBytes: 4096, FlushMessages: 1<<63 - 1, FlushMs: 1<<63 - 1, RemoteLogCopyDisable: true,
		CompressionType: "producer", MinInsyncReplicas: 1, FileDeleteDelayMs: 60000,
		MinCleanableDirtyRatio: 0.5, MaxCompactionLagMs: 1<<63 - 1, DeleteRetentionMs: 86400000,
	}
	if tc != want {
		t.Errorf("got  %+v\nwant %+v", tc, want)
	}
	if tc.EffectiveLocalRetentionMs() != 7200000 || tc.EffectiveLocalRetentionBytes() != -1 {
		t.Errorf("effective local retention %d %d", tc.EffectiveLocalRetentionMs(), tc.EffectiveLocalRetentionBytes())
	}
	// Sources: override, static broker config, default.
	srcs := map[string]kmsg.ConfigSource{}
	for _, e := range topicConfigEntries(&bc, map[string]string{"segment.bytes": "8192"}, true) {
		srcs[e.name] = e.source
		if e.name == "segment.bytes" && (len(e.synonyms) != 3 || e.synonyms[1].name != "log.segment.bytes" || e.synonyms[2].value != "1073741824") {
			t.Errorf("segment.bytes synonyms %+v", e.synonyms)
		}
	}
	if srcs["segment.bytes"] != kmsg.ConfigSourceDynamicTopicConfig || srcs["retention.ms"] != kmsg.ConfigSourceStaticBrokerConfig ||
		srcs["message.timestamp.type"] != kmsg.ConfigSourceStaticBrokerConfig || srcs["retention.bytes"] != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("sources %v", srcs)
	}
}

func TestTopicRegistryPersistence(t *testing.T) {
	dir := t.TempDir()
	open := func() *Broker {
		cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir})
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	a, err := b.createTopic("a.b", 2, map[string]string{"retention.ms": "1000"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.createTopic("a_b", 1, nil, false); !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("colliding name: %v", err)
	}
	if _, err := b.createTopic("a.b", 1, nil, false); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("duplicate: %v", err)
	}
	gone, err := b.createTopic("gone", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.deleteTopic(gone); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone-0")); !os.IsNotExist(err) {
		t.Errorf("deleted partition dir still there: %v", err)
	}
	if err := b.createPartitions(a, 1, false); !errors.Is(err, kerr.InvalidPartitions) {
		t.Errorf("shrink: %v", err)
	}
	if err := b.createPartitions(a, 4, false); err != nil {
		t.Fatal(err)
	}
	if err := b.setTopicConfigs(a, map[string]string{"retention.ms": "2000", "segment.ms": "60000"}, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range a.partitions() {
		if p.Config().RetentionMs != 2000 || p.Config().SegmentMs != 60000 {
			t.Errorf("partition did not get the new config: %+v", p.Config())
		}
	}
	cluster := b.ClusterID()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"meta/topics.json", "meta/meta.properties"} {
		if _, err := os.Stat(filepath.Join(dir, f+".tmp")); !os.IsNotExist(err) {
			t.Errorf("%s.tmp left behind", f)
		}
	}

	b = open()
	defer b.Close()
	a2 := b.lookupTopic("a.b")
	if a2 == nil || a2.ID != a.ID || a2.numPartitions() != 4 || a2.Config().RetentionMs != 2000 || b.lookupTopicID(a.ID) != a2 {
		t.Fatalf("after reopen: %+v", a2)
	}
	if b.lookupTopic("gone") != nil || b.ClusterID() != cluster {
		t.Errorf("gone resurrected or cluster id changed (%q vs %q)", b.ClusterID(), cluster)
	}
}

func TestNodeIDMismatchRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir})
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	cfg.NodeID = 7
	if b, err := New(cfg); err == nil {
		b.Close()
		t.Fatal("started with a different node.id than meta.properties")
	}
}
