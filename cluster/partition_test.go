package cluster

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/strata-io/strata/test/faultproxy"
)

// proxied starts a quorum whose node-to-node connections each go through their own
// faultproxy.Proxy: links[from][to] carries what node from sends to node to.
func proxied(t *testing.T, n int) (*testCluster, map[int32]map[int32]*faultproxy.Proxy) {
	c := &testCluster{t: t, cfg: fastConfig(), nodes: make([]*Node, n)}
	base := t.TempDir()
	for i := range n {
		tr, err := Listen("127.0.0.1:0", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.trs = append(c.trs, tr)
		c.addrs = append(c.addrs, tr.Addr())
		c.dirs = append(c.dirs, fmt.Sprintf("%s/node%d", base, i+1))
		c.voters = append(c.voters, Voter{ID: int32(i + 1), Addr: tr.Addr()})
	}
	links := map[int32]map[int32]*faultproxy.Proxy{}
	for from := range n {
		links[int32(from+1)] = map[int32]*faultproxy.Proxy{}
		route := map[string]string{}
		for to := range n {
			if to == from {
				continue
			}
			p, err := faultproxy.New(c.addrs[to])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			links[int32(from+1)][int32(to+1)] = p
			route[c.addrs[to]] = p.Addr()
		}
		c.trs[from].mux.dial = func(addr string, timeout time.Duration) (net.Conn, error) {
			if via, ok := route[addr]; ok {
				addr = via
			}
			return net.DialTimeout("tcp", addr, timeout)
		}
	}
	for i := range n {
		c.open(i, c.trs[i])
	}
	t.Cleanup(func() {
		for i := range n {
			c.stop(i)
		}
	})
	return c, links
}

// TestQuorumPartitionedLeader cuts the controller off from the other voters: it can no
// longer commit (its writes fail as not-controller instead of succeeding alone), the
// majority elects a new controller that keeps working, and after the partition heals the
// old leader follows and every image is the same.
func TestQuorumPartitionedLeader(t *testing.T) {
	c, links := proxied(t, 3)
	ctx := t.Context()
	epochs := c.registerBrokers(1)
	old := c.active()
	var before ProducerIDBlock
	c.do(func(n *Node) (err error) {
		before, err = n.AllocateProducerIDs(ctx, 1, epochs[1])
		return err
	})
	c.converged()

	isolate := func(id int32, cut bool) {
		for from, tos := range links {
			for to, p := range tos {
				if from == id || to == id {
					if cut {
						p.Partition()
					} else {
						p.Heal()
					}
				}
			}
		}
	}
	isolate(old.ID(), true)

	// The isolated leader cannot commit: it answers not-controller once its lease ends.
	_, err := old.AllocateProducerIDs(ctx, 1, epochs[1])
	if !errors.Is(err, ErrNotController) {
		t.Fatalf("isolated leader's write: %v, want ErrNotController", err)
	}
	// The majority elects another controller, which hands out the next block.
	var next *Node
	waitFor(t, "a controller among the majority", func() error {
		for _, n := range c.live() {
			if n != old && n.IsActiveController() {
				next = n
				return nil
			}
		}
		return errors.New("none")
	})
	var after ProducerIDBlock
	waitFor(t, "a write on the new controller", func() (err error) {
		after, err = next.AllocateProducerIDs(ctx, 1, epochs[1])
		return err
	})
	if after.FirstID < before.FirstID+int64(before.Size) {
		t.Fatalf("block %+v overlaps %+v", after, before)
	}

	isolate(old.ID(), false)
	im := c.converged()
	if old.IsActiveController() && old != c.active() {
		t.Fatal("two active controllers after the heal")
	}
	if im.NextProducerID < after.FirstID+int64(after.Size) {
		t.Fatalf("next producer id %d after block %+v", im.NextProducerID, after)
	}
}
