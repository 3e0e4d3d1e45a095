package test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/test/brokertest"
)

// groupBroker is an in-process broker on 127.0.0.1:0 (test/brokertest) that can be
// restarted on its address and data dir.
type groupBroker struct {
	*brokertest.Broker
	t *testing.T
}

func startGroupBroker(t *testing.T, dir string, props map[string]string) *groupBroker {
	t.Helper()
	all := map[string]string{"group.initial.rebalance.delay.ms": "0"}
	for k, v := range props {
		all[k] = v
	}
	return &groupBroker{Broker: brokertest.Start(t, brokertest.Config{Dir: dir, Props: all}), t: t}
}

func (gb *groupBroker) restart() {
	gb.t.Helper()
	gb.Restart(gb.t)
}

func (gb *groupBroker) addr() string { return gb.Addr() }

// requireAPI fails the test when the broker does not advertise key (the group and
// idempotence APIs are wired in broker/groups.go).
func requireAPI(t *testing.T, addr string, key kmsg.Key) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	vs, err := kadm.NewClient(cl).ApiVersions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if _, _, ok := v.KeyVersions(int16(key)); !ok {
			t.Fatalf("broker does not advertise %s", key.Name())
		}
	}
}

func groupClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(100 * time.Millisecond), kgo.RetryTimeout(30 * time.Second)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func groupCreateTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	cl := groupClient(t, addr)
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(t.Context(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// produceKeyed writes n records with values "<prefix>-<i>" round-robin over the partitions.
func produceKeyed(t *testing.T, addr, topic, prefix string, n int, partitions int32) {
	t.Helper()
	cl := groupClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: []byte(prefix + "-" + itoa(i))}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

// seen counts how often each value was consumed.
type seen struct {
	mu sync.Mutex
	m  map[string]int
}

func newSeen() *seen { return &seen{m: map[string]int{}} }

func (s *seen) add(v string) {
	s.mu.Lock()
	s.m[v]++
	s.mu.Unlock()
}

func (s *seen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *seen) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.m {
		n += c
	}
	return n
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
