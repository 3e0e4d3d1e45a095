package compat

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSarama runs IBM/sarama (in-process) through the suite at its default protocol
// version and at the newest it knows, idempotent producer included.
func TestSarama(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		name    string
		version sarama.KafkaVersion
	}{
		{"default", sarama.DefaultVersion},
		{"max", sarama.MaxVersion},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			t.Logf("client: sarama %s, protocol version %s", saramaModuleVersion(), v.version)
			runSuite(t, "sarama-"+v.name, &saramaClient{version: v.version})
		})
	}
}

type saramaClient struct {
	version sarama.KafkaVersion
}

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func (s *saramaClient) codecs() []string { return []string{"none", "gzip", "snappy", "lz4", "zstd"} }
func (s *saramaClient) idempotent() bool { return true }

func (s *saramaClient) config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = s.version
	cfg.ClientID = "strata-compat"
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

func (s *saramaClient) createTopic(t *testing.T, addr, topic string, partitions int) {
	t.Helper()
	adm, err := sarama.NewClusterAdmin([]string{addr}, s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("sarama CreateTopic: %v", err)
	}
}

func (s *saramaClient) produce(t *testing.T, addr, topic, codec string, n int, idempotent bool) {
	t.Helper()
	cfg := s.config()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = saramaCodecs[codec]
	cfg.Producer.Flush.Messages = 50
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	if idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Retry.Max = 5
	}
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key(i)), Value: sarama.StringEncoder(value(topic, i))}
	}
	if err := p.SendMessages(msgs); err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			err = perrs[0].Err
		}
		t.Fatalf("sarama produce: %v", err)
	}
}

func (s *saramaClient) consume(t *testing.T, addr, topic string, n int, small bool) []event {
	t.Helper()
	cfg := s.config()
	if small {
		cfg.Consumer.Fetch.Default = 256
		cfg.Consumer.Fetch.Max = 1024
	}
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan event, n)
	var pcs []sarama.PartitionConsumer
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		pcs = append(pcs, pc)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, pc := range pcs {
		wg.Go(func() {
			for {
				select {
				case m := <-pc.Messages():
					select {
					case out <- event{Ev: "record", P: m.Partition, O: m.Offset, K: string(m.Key), V: string(m.Value)}:
					case <-stop:
						return
					}
				case err := <-pc.Errors():
					t.Errorf("sarama partition consumer: %v", err)
					return
				case <-stop:
					return
				}
			}
		})
	}
	var got []event
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case e := <-out:
			got = append(got, e)
		case <-deadline:
			close(stop)
			wg.Wait()
			t.Fatalf("sarama read %d of %d records", len(got), n)
		}
	}
	close(stop)
	wg.Wait()
	for _, pc := range pcs {
		pc.Close()
	}
	return got
}

// saramaMember is a sarama ConsumerGroup that marks and commits (synchronously) each
// message before reporting it.
type saramaMember struct {
	ch     chan event
	cancel context.CancelFunc
	done   chan error
	topic  string
}

func (s *saramaClient) member(t *testing.T, addr, topic, group string) member {
	t.Helper()
	cfg := s.config()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	// Sarama sends fetches and commits on one connection per broker, and a broker answers
	// a connection's requests in order (Kafka too), so each synchronous commit waits for
	// the long poll ahead of it: keep that short.
	cfg.Consumer.MaxWaitTime = 20 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{ch: make(chan event, 4096), cancel: cancel, done: make(chan error, 1), topic: topic}
	go func() {
		for err := range cg.Errors() {
			// A failed commit shows up here; the record it was for was already
			// reported, so the test would see it read twice and fail there.
			t.Logf("sarama group error: %v", err)
		}
	}()
	go func() {
		var err error
		for ctx.Err() == nil {
			if err = cg.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				t.Logf("sarama Consume: %v", err)
				time.Sleep(100 * time.Millisecond)
			}
		}
		m.done <- cg.Close()
	}()
	t.Cleanup(func() { cancel() })
	return m
}

// emit blocks only on the channel (buffered beyond what a test reads), so that a record
// committed while the member is being stopped is still reported.
func (m *saramaMember) emit(e event) { m.ch <- e }

func (m *saramaMember) Setup(sess sarama.ConsumerGroupSession) error {
	ps := slices.Clone(sess.Claims()[m.topic])
	slices.Sort(ps)
	m.emit(event{Ev: "assigned", Partitions: ps})
	return nil
}

func (m *saramaMember) Cleanup(sarama.ConsumerGroupSession) error {
	m.emit(event{Ev: "assigned", Partitions: []int32{}})
	return nil
}

func (m *saramaMember) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			sess.MarkMessage(msg, "")
			sess.Commit()
			m.emit(event{Ev: "record", P: msg.Partition, O: msg.Offset, K: string(msg.Key), V: string(msg.Value)})
		case <-sess.Context().Done():
			return nil
		}
	}
}

func (m *saramaMember) events() <-chan event { return m.ch }

func (m *saramaMember) stop(t *testing.T) []event {
	t.Helper()
	m.cancel()
	var late []event
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-m.ch:
			late = append(late, e)
		case err := <-m.done:
			if err != nil {
				t.Fatalf("sarama consumer group close: %v", err)
			}
			for {
				select {
				case e := <-m.ch:
					late = append(late, e)
				default:
					return late
				}
			}
		case <-timeout:
			t.Fatal("sarama consumer group did not stop within 30s")
		}
	}
}

// saramaModuleVersion is the sarama version this module requires.
func saramaModuleVersion() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/IBM/sarama").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func (s *saramaClient) admin(t *testing.T, addr, topic, group, doomed string) []event {
	t.Helper()
	cl, err := sarama.NewClient([]string{addr}, s.config())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		t.Fatalf("sarama DescribeConfig: %v", err)
	}
	for _, e := range entries {
		evs = append(evs, event{Ev: "config", K: e.Name, V: e.Value})
	}
	groups, err := adm.ListConsumerGroups()
	if err != nil {
		t.Fatalf("sarama ListConsumerGroups: %v", err)
	}
	for g := range groups {
		evs = append(evs, event{Ev: "group", K: g})
	}
	parts, err := cl.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	offs, err := adm.ListConsumerGroupOffsets(group, map[string][]int32{topic: parts})
	if err != nil {
		t.Fatalf("sarama ListConsumerGroupOffsets: %v", err)
	}
	for _, p := range parts {
		b := offs.GetBlock(topic, p)
		if b == nil || b.Err != sarama.ErrNoError {
			t.Fatalf("sarama committed offset of %s-%d: %+v", topic, p, b)
		}
		evs = append(evs, event{Ev: "committed", P: p, O: b.Offset})
		end, err := cl.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("sarama GetOffset newest: %v", err)
		}
		evs = append(evs, event{Ev: "end", P: p, O: end})
		at, err := cl.GetOffset(topic, p, 0) // the first offset with a timestamp >= 0 ms
		if err != nil {
			t.Fatalf("sarama GetOffset(0): %v", err)
		}
		evs = append(evs, event{Ev: "bytime", P: p, O: at})
	}
	// A commit without group membership (generation -1), to the now empty group.
	om, err := sarama.NewOffsetManagerFromClient(group, cl)
	if err != nil {
		t.Fatal(err)
	}
	pom, err := om.ManagePartition(topic, 1)
	if err != nil {
		t.Fatal(err)
	}
	pom.ResetOffset(7, "")
	om.Commit()
	if err := pom.Close(); err != nil {
		t.Fatalf("sarama partition offset manager: %v", err)
	}
	if err := om.Close(); err != nil {
		t.Fatalf("sarama offset manager: %v", err)
	}
	evs = append(evs, event{Ev: "setoffset", P: 1, O: 7})
	v := alterValue
	if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		alterKey: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v},
	}, false); err != nil {
		t.Fatalf("sarama IncrementalAlterConfig: %v", err)
	}
	if err := adm.DeleteRecords(topic, map[int32]int64{0: 10}); err != nil {
		t.Fatalf("sarama DeleteRecords: %v", err)
	}
	evs = append(evs, event{Ev: "deleted", P: 0, O: 10})
	if err := adm.DeleteTopic(doomed); err != nil {
		t.Fatalf("sarama DeleteTopic: %v", err)
	}
	return evs
}

// autocommit: a sarama consumer group with automatic commits (the default) reads n records
// and closes (the offset manager flushes on close).
func (s *saramaClient) autocommit(t *testing.T, addr, topic, group string, n int) []event {
	t.Helper()
	cfg := s.config()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &autoHandler{ch: make(chan event, n+1)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var got []event
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case e := <-h.ch:
			got = append(got, e)
		case err := <-done:
			cancel()
			t.Fatalf("sarama Consume: %v", err)
		case <-deadline:
			cancel()
			t.Fatalf("sarama autocommit member read %d of %d", len(got), n)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := cg.Close(); err != nil {
		t.Fatal(err)
	}
	return got
}

type autoHandler struct{ ch chan event }

func (h *autoHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *autoHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *autoHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		sess.MarkMessage(msg, "")
		select {
		case h.ch <- event{Ev: "record", P: msg.Partition, O: msg.Offset, K: string(msg.Key), V: string(msg.Value)}:
		case <-sess.Context().Done():
			return nil
		}
	}
	return nil
}
