package test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 groups driven by franz-go in its next-gen mode (kgo.ServerSideBalancer): the
// broker assigns partitions with its uniform (StickyBalancer) or range (RangeBalancer)
// assignor through ConsumerGroupHeartbeat.

// props848 makes members heartbeat often and a killed member expire quickly.
var props848 = map[string]string{
	"group.consumer.heartbeat.interval.ms": "250",
	"group.consumer.session.timeout.ms":    "6000",
}

// describe848 returns the group as ConsumerGroupDescribe shows it.
func describe848(t *testing.T, addr, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	cl := groupClient(t, addr)
	defer cl.Close()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0]
}

func TestGroup848ExactlyOnceAcrossLeaveAndKill(t *testing.T) {
	for _, tc := range []struct {
		name, assignor string
		bal            kgo.GroupBalancer
	}{{"uniform", "uniform", kgo.StickyBalancer()}, {"range", "range", kgo.RangeBalancer()}} {
		t.Run(tc.name, func(t *testing.T) {
			gb := startGroupBroker(t, t.TempDir(), props848)
			requireAPI(t, gb.addr(), kmsg.ConsumerGroupHeartbeat)
			const topic, group = "orders848", "workers848"
			groupCreateTopic(t, gb.addr(), topic, 6)
			produceKeyed(t, gb.addr(), topic, "a", 600, 6)

			s := newSeen()
			opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(tc.bal)}
			cs := []*groupConsumer{
				startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
				startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
				startGroupConsumer(t, gb.addr(), group, topic, s, opts...),
			}
			waitFor(t, "3 members owning 2 partitions each, each partition once", 60*time.Second, func() bool {
				owned := map[int32]int{}
				for _, c := range cs {
					if len(c.partitions()) != 2 {
						return false
					}
					for _, p := range c.partitions() {
						owned[p]++
					}
				}
				return len(owned) == 6
			})
			d := describe848(t, gb.addr(), group)
			if d.ErrorCode != 0 || len(d.Members) != 3 || d.AssignorName != tc.assignor {
				t.Fatalf("ConsumerGroupDescribe: %v, %d members, assignor %q", kerr.ErrorForCode(d.ErrorCode), len(d.Members), d.AssignorName)
			}
			waitFor(t, "first 600 consumed and committed", 60*time.Second, func() bool {
				return s.distinct() == 600 && committedTotal(t, gb.addr(), group, topic) == 600
			})

			// One member leaves cleanly (epoch -1), another is killed (session timeout).
			cs[2].close()
			produceKeyed(t, gb.addr(), topic, "b", 600, 6)
			waitFor(t, "two members share 6 partitions after a leave", 60*time.Second, func() bool {
				return len(cs[0].partitions())+len(cs[1].partitions()) == 6
			})
			waitFor(t, "1200 consumed and committed", 60*time.Second, func() bool {
				return s.distinct() == 1200 && committedTotal(t, gb.addr(), group, topic) == 1200
			})
			cs[1].kill()
			produceKeyed(t, gb.addr(), topic, "c", 600, 6)
			waitFor(t, "the survivor takes over the killed member's partitions", 60*time.Second, func() bool {
				return len(cs[0].partitions()) == 6
			})
			waitFor(t, "1800 consumed and committed", 60*time.Second, func() bool {
				return s.distinct() == 1800 && committedTotal(t, gb.addr(), group, topic) == 1800
			})
			s.mu.Lock()
			for v, n := range s.m {
				if n != 1 {
					t.Errorf("%s consumed %d times", v, n)
				}
			}
			s.mu.Unlock()
			if d := describe848(t, gb.addr(), group); len(d.Members) != 1 || d.State != "Stable" {
				t.Fatalf("after leave and kill: %d members, state %s", len(d.Members), d.State)
			}
			// ListGroups v5 shows the group as a consumer group.
			cl := groupClient(t, gb.addr())
			defer cl.Close()
			lr := kmsg.NewPtrListGroupsRequest()
			lr.TypesFilter = []string{"consumer"}
			resp, err := lr.RequestWith(t.Context(), cl)
			if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupType != "consumer" {
				t.Fatalf("ListGroups types=consumer: %v %+v", err, resp)
			}
		})
	}
}

func TestGroup848RestartKeepsGroup(t *testing.T) {
	dir := t.TempDir()
	gb := startGroupBroker(t, dir, props848)
	const topic, group = "restart848", "restart848-group"
	groupCreateTopic(t, gb.addr(), topic, 3)
	produceKeyed(t, gb.addr(), topic, "a", 90, 3)
	s := newSeen()
	c := startGroupConsumer(t, gb.addr(), group, topic, s, kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()))
	waitFor(t, "90 consumed and committed", 60*time.Second, func() bool {
		return s.distinct() == 90 && committedTotal(t, gb.addr(), group, topic) == 90
	})
	c.close()
	before := describe848(t, gb.addr(), group)
	gb.restart()
	after := describe848(t, gb.addr(), group)
	if after.ErrorCode != 0 || after.Epoch != before.Epoch || after.State != "Empty" {
		t.Fatalf("after restart: %v epoch %d (before %d) state %s", kerr.ErrorForCode(after.ErrorCode), after.Epoch, before.Epoch, after.State)
	}
	produceKeyed(t, gb.addr(), topic, "b", 90, 3)
	c = startGroupConsumer(t, gb.addr(), group, topic, s, kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()))
	waitFor(t, "resumed at the committed offsets", 60*time.Second, func() bool {
		return s.distinct() == 180 && committedTotal(t, gb.addr(), group, topic) == 180
	})
	if s.total() != 180 {
		t.Fatalf("records consumed %d times in total, want 180 (resume at committed offsets)", s.total())
	}
	if d := describe848(t, gb.addr(), group); d.Epoch <= before.Epoch {
		t.Fatalf("epoch %d did not move on from %d", d.Epoch, before.Epoch)
	}
}
