package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupDescribeConsumerProtocol: `strata group describe` shows a KIP-848 group (which
// DescribeGroups does not describe) with its members, commits and lag.
func TestGroupDescribeConsumerProtocol(t *testing.T) {
	ob := startOpsBroker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(ob.addr), kgo.ConsumerGroup("g848"), kgo.ConsumeTopics(opsTopic),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.StickyBalancer()), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("cli-848"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var got int
	for got < 400 && ctx.Err() == nil {
		fs := cl.PollRecords(ctx, 400-got)
		got += len(fs.Records())
	}
	// Commit exactly offset 400 of partition 0 (the records read may be more or fewer).
	if err := cl.CommitRecords(ctx, &kgo.Record{Topic: opsTopic, Partition: 0, Offset: 399, LeaderEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, "", "group", "describe", "g848", "--brokers="+ob.addr)
	if !strings.Contains(out, "group g848: state Stable, protocol consumer (KIP-848, assignor uniform") ||
		!regexp.MustCompile(`(?m)^orders\s+0\s+400\s+1000\s+600\s+\S+\s+cli-848\s`).MatchString(out) {
		t.Fatalf("group describe:\n%s", out)
	}
}
