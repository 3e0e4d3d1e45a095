package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// BenchmarkCreateTopics creates 1,000 single-partition RF=3 topics, one CreateTopics call
// each, on a 3-node quorum on loopback (bolt stores fsync every commit), and reports
// topics/s. Run: go test -run '^$' -bench CreateTopics -benchtime 1x ./cluster/
func BenchmarkCreateTopics(b *testing.B) {
	for range b.N {
		b.StopTimer()
		c := startCluster(b, 3, fastConfig())
		c.registerBrokers(1, 2, 3)
		b.StartTimer()
		start := time.Now()
		for i := range 1000 {
			// Retried as a broker would: a leadership change may commit the entry
			// without answering, and the retry then finds the topic.
			c.do(func(n *Node) error {
				res, err := n.CreateTopics(b.Context(), []TopicSpec{{Name: fmt.Sprintf("t%04d", i), NumPartitions: 1, ReplicationFactor: 3}})
				if err == nil && res[0].Err != nil && !errors.Is(res[0].Err, ErrTopicExists) {
					b.Fatal(res[0].Err)
				}
				return err
			})
		}
		b.ReportMetric(1000/time.Since(start).Seconds(), "topics/s")
		b.StopTimer()
		for i := range 3 {
			c.stop(i)
		}
	}
}

// BenchmarkCreateTopicsOneRequest creates 1,000 single-partition RF=3 topics in one
// CreateTopics call (entries pipelined through raft) and reports topics/s.
func BenchmarkCreateTopicsOneRequest(b *testing.B) {
	for range b.N {
		b.StopTimer()
		c := startCluster(b, 3, fastConfig())
		c.registerBrokers(1, 2, 3)
		specs := make([]TopicSpec, 1000)
		for i := range specs {
			specs[i] = TopicSpec{Name: fmt.Sprintf("t%04d", i), NumPartitions: 1, ReplicationFactor: 3}
		}
		b.StartTimer()
		start := time.Now()
		res := c.createTopics(specs...)
		b.ReportMetric(1000/time.Since(start).Seconds(), "topics/s")
		b.StopTimer()
		if len(res) != 1000 || len(c.converged().Topics) != 1000 {
			b.Fatal("topics missing")
		}
		for i := range 3 {
			c.stop(i)
		}
	}
}
