package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/segment"
)

// TestServeClusterFollowsImage runs three `strata serve` processes (broker+controller)
// and checks the brokers follow the image: a topic created with kadm through any broker
// goes to the controller and is opened on its replicas; every broker answers Metadata
// with the image's leaders, epochs, replicas and ISR; a non-leader refuses Produce with
// NOT_LEADER_OR_FOLLOWER and a stale leader epoch with FENCED_LEADER_EPOCH; after the
// leader of a partition is killed with SIGKILL a new leader is elected and acks=all
// produce continues on it; the killed broker restarts and is listed again. Data is not
// replicated yet, so records acknowledged by the killed leader are not checked on its
// successor.
func TestServeClusterFollowsImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary and starts three processes")
	}
	bin := filepath.Join(t.TempDir(), "strata")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := t.TempDir()
	var voters, addrs []string
	for i := range 3 {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, addrs[i]))
	}
	kafkaPorts := []int{freePort(t), freePort(t), freePort(t)} // fixed: a restarted broker keeps its address
	type proc struct {
		cmd  *exec.Cmd
		logs *syncBuffer
		done chan error
	}
	procs := make([]*proc, 3)
	start := func(i int) {
		t.Helper()
		logs := &syncBuffer{}
		cmd := exec.Command(bin, "serve", "--log-dirs", filepath.Join(base, fmt.Sprint("n", i+1)), "--admin-addr", "off",
			"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", kafkaPorts[i], addrs[i]),
			"--set", "process.roles=broker,controller", "--set", fmt.Sprint("node.id=", i+1),
			"--set", "controller.quorum.voters="+strings.Join(voters, ","), "--set", "controller.listener.names=CONTROLLER",
			"--set", "broker.session.timeout.ms=3000", "--set", "broker.heartbeat.interval.ms=250")
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, logs: logs, done: make(chan error, 1)}
		go func() { p.done <- cmd.Wait() }()
		procs[i] = p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p != nil {
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() || testing.Verbose() {
			for i, p := range procs {
				if p != nil {
					t.Logf("node %d log:\n%s", i+1, p.logs)
				}
			}
		}
	})
	for i := range 3 {
		start(i)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cl := cluster.NewClient(addrs)
	waitImage := func(what string, ok func(im *cluster.Image) bool) *cluster.Image {
		t.Helper()
		for {
			if im := cl.Image(); ok(im) {
				return im
			}
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
			cl.Watch(wctx, cl.Image().Version)
			wcancel()
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s (last image %+v)", what, cl.Image())
			}
		}
	}
	unfenced := func(ids ...int32) func(im *cluster.Image) bool {
		return func(im *cluster.Image) bool {
			for _, id := range ids {
				if b, ok := im.Brokers[id]; !ok || b.Fenced {
					return false
				}
			}
			return true
		}
	}
	waitImage("three unfenced brokers", unfenced(1, 2, 3))
	seed := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", kafkaPorts[i]) }
	kafka := func(i int) *kgo.Client {
		c, err := kgo.NewClient(kgo.SeedBrokers(seed(i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}

	// CreateTopics through broker 3 reaches the controller.
	adm := kadm.NewClient(kafka(2))
	cr, err := adm.CreateTopic(ctx, 3, 3, nil, "rf3")
	if err != nil || cr.Err != nil {
		t.Fatalf("create rf3: %+v %v", cr, err)
	}
	im := waitImage("topic rf3 with leaders", func(im *cluster.Image) bool {
		tp := im.Topics["rf3"]
		if tp == nil {
			return false
		}
		for _, p := range tp.Partitions {
			if p.Leader < 0 || len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})

	// Every broker answers Metadata from the image (once it has applied it).
	want := describe(im.Topics["rf3"])
	for i := range 3 {
		c := kafka(i)
		for {
			got, brokers := metadataOf(ctx, t, c, "rf3")
			if got == want && brokers == "[1 2 3]" {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("broker %d metadata %s (brokers %s), want %s", i+1, got, brokers, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// A non-leader refuses Produce; a stale leader epoch is fenced.
	p0 := im.Topics["rf3"].Partitions[0]
	other := int(p0.Replicas[0]-1+1) % 3
	if int32(other+1) == p0.Leader {
		other = (other + 1) % 3
	}
	if code := rawProduce(ctx, t, kafka(other), "rf3", im.Topics["rf3"].ID, 0); code != kerr.NotLeaderForPartition.Code {
		t.Errorf("produce to non-leader %d: code %d", other+1, code)
	}
	leaderClient := kafka(int(p0.Leader - 1))
	if code := rawProduce(ctx, t, leaderClient, "rf3", im.Topics["rf3"].ID, 0); code != 0 {
		t.Errorf("produce to leader %d: code %d", p0.Leader, code)
	}

	// acks=all produce to partition 0, then kill its leader.
	pc, err := kgo.NewClient(kgo.SeedBrokers(seed(0), seed(1), seed(2)), kgo.DefaultProduceTopic("rf3"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryTimeout(60*time.Second), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	produce := func(v string) error {
		return pc.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(v)}).FirstErr()
	}
	for i := range 10 {
		if err := produce(fmt.Sprint("before-", i)); err != nil {
			t.Fatal(err)
		}
	}
	killed := p0.Leader
	k := int(killed - 1)
	killedAt := time.Now()
	procs[k].cmd.Process.Signal(syscall.SIGKILL)
	<-procs[k].done
	procs[k] = nil
	im = waitImage("a new leader of rf3-0", func(im *cluster.Image) bool {
		p := im.Topics["rf3"].Partitions[0]
		return p.Leader >= 0 && p.Leader != killed
	})
	elected := time.Since(killedAt)
	np := im.Topics["rf3"].Partitions[0]
	if np.LeaderEpoch <= p0.LeaderEpoch || slices.Contains(np.ISR, killed) {
		t.Fatalf("rf3-0 after the kill: %+v (was %+v)", np, p0)
	}
	if err := produce("after-0"); err != nil {
		t.Fatalf("produce after failover: %v", err)
	}
	t.Logf("leader kill -9 to new leader in the image: %v; to the first acks=all produce acknowledged: %v", elected, time.Since(killedAt))
	for i := 1; i < 10; i++ {
		if err := produce(fmt.Sprint("after-", i)); err != nil {
			t.Fatal(err)
		}
	}

	// The new leader fences a fetch with the old leader epoch and serves the new records.
	newLeader := kafka(int(np.Leader - 1))
	freq := kmsg.NewPtrFetchRequest()
	freq.ReplicaID, freq.MaxBytes = -1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "rf3", im.Topics["rf3"].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.CurrentLeaderEpoch, fp.PartitionMaxBytes = p0.LeaderEpoch, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fr, err := freq.RequestWith(ctx, newLeader)
	if err != nil {
		t.Fatal(err)
	}
	if code := fr.Topics[0].Partitions[0].ErrorCode; code != kerr.FencedLeaderEpoch.Code {
		t.Errorf("fetch with the old leader epoch %d: code %d", p0.LeaderEpoch, code)
	}
	cc, err := kgo.NewClient(kgo.SeedBrokers(seed(0), seed(1), seed(2)),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"rf3": {0: kgo.NewOffset().AtStart()}}), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var got []string
	var errs []error
	for !slices.Contains(got, "after-9") {
		fs := cc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %v; fetch errors %v", got, errs)
		}
		for _, e := range fs.Errors() {
			errs = append(errs, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i := range 10 {
		if !slices.Contains(got, fmt.Sprint("after-", i)) {
			t.Errorf("after-%d not consumed from the new leader: %v", i, got)
		}
	}

	// The killed broker restarts and is listed again by every live broker.
	start(k)
	waitImage(fmt.Sprintf("broker %d back", killed), unfenced(1, 2, 3))
	for {
		_, brokers := metadataOf(ctx, t, newLeader, "rf3")
		if brokers == "[1 2 3]" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("brokers after restart: %s", brokers)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// DeleteTopics through any broker goes to the controller; every replica drops it.
	for i := range 3 {
		if _, err := os.Stat(filepath.Join(base, fmt.Sprint("n", i+1), "rf3-0")); err != nil {
			t.Fatalf("replica on node %d: %v", i+1, err)
		}
	}
	dr, err := adm.DeleteTopics(ctx, "rf3")
	if err != nil || dr["rf3"].Err != nil {
		t.Fatalf("delete rf3: %+v %v", dr, err)
	}
	waitImage("rf3 deleted", func(im *cluster.Image) bool { return im.Topics["rf3"] == nil })
	for i := range 3 {
		for {
			_, err := os.Stat(filepath.Join(base, fmt.Sprint("n", i+1), "rf3-0"))
			if os.IsNotExist(err) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node %d still has rf3-0 (%v)", i+1, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// describe is a partition list as metadataOf writes it.
func describe(tp *cluster.Topic) string {
	var s []string
	for i, p := range tp.Partitions {
		s = append(s, fmt.Sprintf("%d:l%d e%d r%v i%v", i, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR))
	}
	return strings.Join(s, " ")
}

func metadataOf(ctx context.Context, t *testing.T, c *kgo.Client, topic string) (parts, brokers string) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c)
	if err != nil {
		return err.Error(), ""
	}
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	var s []string
	for _, mt := range resp.Topics {
		for _, p := range mt.Partitions {
			s = append(s, fmt.Sprintf("%d:l%d e%d r%v i%v", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR))
		}
	}
	return strings.Join(s, " "), fmt.Sprint(ids)
}

// rawProduce sends one acks=all batch to the broker c was seeded with and returns the
// partition's error code.
func rawProduce(ctx context.Context, t *testing.T, c *kgo.Client, topic string, id cluster.TopicID, part int32) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = part
	rp.Records = oneRecordBatch(time.Now().UnixMilli())
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// oneRecordBatch is a v2 batch of one record (no key, value "raw").
func oneRecordBatch(ts int64) []byte {
	rec := []byte{0x12, 0, 0, 0, 1, 6, 'r', 'a', 'w', 0} // length 9, attrs, ts/offset delta 0, key -1, value len 3, no headers
	rb := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: 0, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: rec}
	rb.Length = int32(61 + len(rec) - 12) // 61: the v2 batch header
	b := rb.AppendTo(nil)
	segment.PutBatchCRC(b)
	return b
}
