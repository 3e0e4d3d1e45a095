package broker

import (
	"errors"
	"maps"
	"path/filepath"
	"testing"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment/segmenttest"
)

// TestTopicsMetadataCrashAtAnyInstant: a crash at any instant of a topics.json update
// (a topic created and another's configs changed) leaves a topics.json that parses and
// holds the old or the new registry, and the new one once the update was acknowledged.
// Every prefix of the update's filesystem operations is crashed on segmenttest.MemFS.
func TestTopicsMetadataCrashAtAnyInstant(t *testing.T) {
	errCrash := errors.New("injected crash")
	newBroker := func(fs *segmenttest.MemFS) *Broker {
		b := &Broker{cfg: Config{DataDir: "/data"}, segmentFS: fs, topics: map[string]*Topic{}}
		if err := fs.MkdirAll(b.metaDir(), 0o755); err != nil {
			t.Fatal(err)
		}
		return b
	}
	addTopic := func(b *Broker, name string, partitions int, overrides map[string]string) {
		b.topics[name] = &Topic{Name: name, ID: newTopicID(), b: b, overrides: overrides, Partitions: make([]*partition.Partition, partitions)}
	}
	path := filepath.Join("/data", metaDirName, topicsFileName)
	for n := 0; ; n++ {
		fs := segmenttest.NewMemFS()
		b := newBroker(fs)
		addTopic(b, "orders", 3, map[string]string{"retention.ms": "1000"})
		if err := b.saveTopicsLocked(); err != nil {
			t.Fatal(err)
		}
		ops := 0
		fs.SetFault(func(op, name string) error {
			if ops++; ops > n {
				return errCrash
			}
			return nil
		})
		addTopic(b, "payments", 2, nil)
		b.topics["orders"].overrides = map[string]string{"retention.ms": "-1"}
		err := b.saveTopicsLocked()
		faulted := ops > n
		fs.SetFault(nil)
		f, rerr := readTopicsFile(fs.Crash(), path)
		if rerr != nil {
			t.Fatalf("crash after %d operations: topics.json unreadable: %v", n, rerr)
		}
		got := map[string]topicEntry{}
		for _, e := range f.Topics {
			got[e.Name] = e
		}
		isNew := len(got) == 2 && got["payments"].Partitions == 2 && got["orders"].Configs["retention.ms"] == "-1"
		isOld := len(got) == 1 && maps.Equal(got["orders"].Configs, map[string]string{"retention.ms": "1000"}) && got["orders"].Partitions == 3
		switch {
		case err == nil && !isNew:
			t.Fatalf("crash after %d operations: an acknowledged update was lost: %+v", n, got)
		case !isNew && !isOld:
			t.Fatalf("crash after %d operations: neither the old nor the new registry: %+v", n, got)
		}
		if !faulted {
			if err != nil {
				t.Fatalf("update failed without a fault: %v", err)
			}
			return
		}
	}
}
