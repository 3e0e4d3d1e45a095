package compat

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestLibrdkafkaTransactions: librdkafka's transactional producer commits, aborts and
// commits again with send_offsets_to_transaction; its read_committed consumer sees the
// committed records only, read_uncommitted all of them, and the group's offset is the
// one sent in the committed transaction.
func TestLibrdkafkaTransactions(t *testing.T) {
	t.Parallel()
	c := librdkafkaClient(t)
	b := startBroker(t)
	const topic, group = "rdk-txn", "rdk-txn-group"
	c.createTopic(t, b.addr, topic, 3)
	evs := c.run(t, b.addr, "txn", topic, group)
	counts := map[string]event{}
	for _, e := range evs {
		if e.Ev == "count" {
			counts[e.K] = e
		}
	}
	if rc := counts["read_committed"]; rc.N != 100 || rc.O != 0 || rc.P != 3 {
		t.Fatalf("read_committed: %d records (%d aborted), %d partitions at EOF; want 100, 0, 3", rc.N, rc.O, rc.P)
	}
	if ru := counts["read_uncommitted"]; ru.N != 150 || ru.O != 50 {
		t.Fatalf("read_uncommitted: %d records (%d aborted); want 150, 50", ru.N, ru.O)
	}
	adm := kadm.NewClient(franz(t, b.addr))
	offs, err := adm.FetchOffsets(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.At != 77 {
		t.Fatalf("offset sent to the transaction: %+v %v, want 77", o, ok)
	}
}

// TestKafkajsTransactions: the same with kafkajs's transactional producer and sendOffsets.
func TestKafkajsTransactions(t *testing.T) {
	t.Parallel()
	c := kafkajsClient(t)
	b := startBroker(t)
	const topic, group = "kjs-txn", "kjs-txn-group"
	c.createTopic(t, b.addr, topic, 3)
	counts := map[string]event{}
	for _, e := range c.run(t, b.addr, "txn", topic, group) {
		if e.Ev == "count" {
			counts[e.K] = e
		}
	}
	if rc := counts["read_committed"]; rc.N != 100 || rc.O != 0 {
		t.Fatalf("read_committed: %d records (%d aborted); want 100, 0", rc.N, rc.O)
	}
	if ru := counts["read_uncommitted"]; ru.N != 150 || ru.O != 50 {
		t.Fatalf("read_uncommitted: %d records (%d aborted); want 150, 50", ru.N, ru.O)
	}
	offs, err := kadm.NewClient(franz(t, b.addr)).FetchOffsets(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.At != 77 {
		t.Fatalf("offset sent to the transaction: %+v %v, want 77", o, ok)
	}
}
