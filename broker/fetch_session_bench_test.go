package broker

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkFetchSessionIdleConsumer is the broker's CPU per poll of an idle consumer of
// 1,000 partitions (nothing new in any of them), with fetch sessions off (every poll a
// full fetch naming every partition, answered with every partition) and on (every poll an
// incremental fetch naming none, answered with none). One op is what the broker does for
// one poll: decode the request, answer it, encode the response. cpu-ns/op is the process's
// user+system CPU time per poll (garbage collection included), which a shared machine
// disturbs less than ns/op; compare it between the two sub-benchmarks for the ratio.
func BenchmarkFetchSessionIdleConsumer(bb *testing.B) {
	const partitions = 1000
	b := startCoreBroker(bb, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.ListenerAddr("PLAINTEXT").String()))
	if err != nil {
		bb.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, "idle"); err != nil {
		bb.Fatal(err)
	}
	id := b.lookupTopic("idle").ID
	const version = 13
	encode := func(sessionID, epoch int32, withParts bool) []byte {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxBytes, req.SessionID, req.SessionEpoch = version, 50<<20, sessionID, epoch
		if withParts {
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = id
			for p := range int32(partitions) {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.PartitionMaxBytes = p, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		return req.AppendTo(nil)
	}
	var out []byte
	poll := func(body []byte) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.Version = version
		if err := req.ReadFrom(body); err != nil {
			bb.Fatal(err)
		}
		r, err := b.handleFetch(ctx, req)
		if err != nil {
			bb.Fatal(err)
		}
		resp := r.(*kmsg.FetchResponse)
		out = resp.AppendTo(out[:0])
		return resp
	}

	bb.Run("sessions=off", func(bb *testing.B) {
		body := encode(0, -1, true)
		bb.ReportAllocs()
		defer reportCPU(bb)()
		for bb.Loop() {
			if resp := poll(body); len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != partitions {
				bb.Fatalf("full fetch answered %d topics", len(resp.Topics))
			}
		}
		bb.ReportMetric(float64(len(out)), "resp-bytes")
	})
	bb.Run("sessions=on", func(bb *testing.B) {
		resp := poll(encode(0, 0, true))
		sid, epoch := resp.SessionID, int32(1)
		if sid == 0 {
			bb.Fatal("no session")
		}
		bb.ReportAllocs()
		defer reportCPU(bb)()
		for bb.Loop() {
			if resp := poll(encode(sid, epoch, false)); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
				bb.Fatalf("incremental fetch: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
			}
			epoch++
		}
		bb.ReportMetric(float64(len(out)), "resp-bytes")
	})
}

// reportCPU reports the process CPU time per op from now to the call of the function it
// returns.
func reportCPU(bb *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			bb.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		bb.ReportMetric(float64(cpu()-start)/float64(bb.N), "cpu-ns/op")
	}
}
