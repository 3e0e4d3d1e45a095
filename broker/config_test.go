package broker

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	week := int64(7 * 24 * time.Hour / time.Millisecond)
	if c.NodeID != 0 || c.DataDir != "./data" || c.NumPartitions != 1 || !c.AutoCreateTopics ||
		c.MessageMaxBytes != 1048588 || c.SocketRequestMaxBytes != 104857600 || c.LogSegmentBytes != 1<<30 ||
		c.LogRollMs != week || c.LogRetentionMs != week || c.LogRetentionBytes != -1 ||
		c.LogIndexIntervalBytes != 4096 || c.RetentionCheckInterval != 5*time.Minute ||
		c.LogLocalRetentionMs != -2 || c.LogLocalRetentionBytes != -2 || c.RemoteCopyConcurrency != 4 ||
		c.RemoteCacheBytes != 256<<20 || c.RemoteChunkBytes != 4<<20 || c.DefaultReplicationFactor != 1 {
		t.Fatalf("defaults: %+v", c)
	}
	if addr, err := c.listenAddr(); err != nil || addr != "127.0.0.1:9092" {
		t.Fatalf("listen addr %q %v", addr, err)
	}
}

func TestParseConfigKeys(t *testing.T) {
	f := func(props map[string]string, check func(c Config) bool) {
		t.Helper()
		c, err := ParseConfig(props)
		if err != nil {
			t.Fatalf("%v: %v", props, err)
		}
		if !check(c) {
			t.Errorf("%v: got %+v", props, c)
		}
	}
	f(map[string]string{"log.retention.hours": "1"}, func(c Config) bool { return c.LogRetentionMs == 3600000 })
	f(map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2"}, func(c Config) bool { return c.LogRetentionMs == 120000 })
	f(map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "5"}, func(c Config) bool { return c.LogRetentionMs == 5 })
	f(map[string]string{"log.retention.ms": "-1"}, func(c Config) bool { return c.LogRetentionMs == -1 })
	f(map[string]string{"log.retention.hours": "-1"}, func(c Config) bool { return c.LogRetentionMs == -1 })
	f(map[string]string{"log.roll.hours": "2"}, func(c Config) bool { return c.LogRollMs == 7200000 })
	f(map[string]string{"log.roll.hours": "2", "log.roll.ms": "10"}, func(c Config) bool { return c.LogRollMs == 10 })
	f(map[string]string{"broker.id": "3"}, func(c Config) bool { return c.NodeID == 3 })
	f(map[string]string{"log.dir": "/x"}, func(c Config) bool { return c.DataDir == "/x" })
	f(map[string]string{"log.dir": "/x", "log.dirs": "/y"}, func(c Config) bool { return c.DataDir == "/y" })
	f(map[string]string{"auto.create.topics.enable": "FALSE"}, func(c Config) bool { return !c.AutoCreateTopics })
	f(map[string]string{"log.retention.check.interval.ms": "250"}, func(c Config) bool { return c.RetentionCheckInterval == 250*time.Millisecond })
	f(map[string]string{"remote.log.upload.interval.ms": "1000"}, func(c Config) bool { return c.RemoteUploadInterval == time.Second })
	f(map[string]string{"listeners": "PLAINTEXT://:9093,CONTROLLER://:9094", "process.roles": "broker,controller"},
		func(c Config) bool { a, _ := c.listenAddr(); return a == ":9093" })
	f(map[string]string{"log.segment.bytes": "1024", "log.local.retention.bytes": "10"},
		func(c Config) bool { return c.LogSegmentBytes == 1024 && c.LogLocalRetentionBytes == 10 })
	f(map[string]string{"node.id": "1"}, func(c Config) bool { return c.isExplicit("node.id") && !c.isExplicit("log.dirs") })
}

func TestParseConfigErrors(t *testing.T) {
	f := func(props map[string]string, want string) {
		t.Helper()
		_, err := ParseConfig(props)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: got %v, want error containing %q", props, err, want)
		}
	}
	f(map[string]string{"no.such.key": "1"}, `"no.such.key"`)
	f(map[string]string{"node.id": "x"}, "node.id")
	f(map[string]string{"node.id": "-1"}, "node.id")
	f(map[string]string{"default.replication.factor": "3"}, "default.replication.factor")
	f(map[string]string{"log.dirs": "/a,/b"}, "log.dirs")
	f(map[string]string{"listeners": "localhost:9092"}, "listeners")
	f(map[string]string{"listeners": "SSL://:9093"}, "listeners")
	f(map[string]string{"auto.create.topics.enable": "yes"}, "auto.create.topics.enable")
	f(map[string]string{"log.retention.hours": "99999999999999999"}, "log.retention.hours")
	f(map[string]string{"log.segment.bytes": "10"}, "log.segment.bytes")
	f(map[string]string{"log.message.timestamp.type": "Now"}, "log.message.timestamp.type")
	f(map[string]string{"log.cleanup.policy": "shred"}, "log.cleanup.policy")
	f(map[string]string{"num.partitions": "0"}, "num.partitions")
	f(map[string]string{"log.retention.check.interval.ms": "0"}, "log.retention.check.interval.ms")
}

func TestConfigKeysDocumentEveryKey(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range ConfigKeys() {
		if k.Name == "" || k.Doc == "" {
			t.Errorf("undocumented key %+v", k)
		}
		if seen[k.Name] {
			t.Errorf("key %s twice", k.Name)
		}
		seen[k.Name] = true
		if k.Ignored {
			continue
		}
		// Every key's default parses, and the value reads back.
		if _, err := ParseConfig(map[string]string{k.Name: k.Default}); k.Default != "" && err != nil {
			t.Errorf("%s=%s: %v", k.Name, k.Default, err)
		}
	}
	for _, k := range []string{"listeners", "advertised.listeners", "node.id", "log.dirs", "log.segment.bytes",
		"log.roll.ms", "log.roll.hours", "log.retention.ms", "log.retention.minutes", "log.retention.hours",
		"log.retention.bytes", "message.max.bytes", "socket.request.max.bytes", "auto.create.topics.enable",
		"num.partitions", "log.index.interval.bytes", "log.flush.interval.messages", "log.flush.interval.ms",
		"log.retention.check.interval.ms", "remote.log.storage.system.enable", "log.local.retention.ms",
		"log.local.retention.bytes", "remote.log.upload.interval.ms", "remote.log.copier.thread.pool.size",
		"remote.log.manager.copy.max.bytes.per.second", "remote.log.cache.bytes", "remote.log.chunk.bytes",
		"default.replication.factor"} {
		if !seen[k] {
			t.Errorf("key %s missing", k)
		}
	}
}
