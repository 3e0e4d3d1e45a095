package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSVersion is the nats-server the Makefile installs into bin/ for `make bench`.
const NATSVersion = "v2.15.2"

// natsServer is a nats-server child with JetStream on file storage in a temp dir.
type natsServer struct {
	url string
	cmd *exec.Cmd
	dir string
}

func startNATS(bin, parent string) (*natsServer, error) {
	dir, err := tempDirIn(parent, "nats-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", dir)
	log, err := os.Create(filepath.Join(dir, "nats.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", bin, err)
	}
	s := &natsServer{url: fmt.Sprintf("nats://127.0.0.1:%d", port), cmd: cmd, dir: dir}
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := nats.Connect(s.url)
		if err == nil {
			nc.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("nats-server not ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *natsServer) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}

// natsProduceConsume publishes n records of pool's size to a fresh file-storage stream with
// asynchronous publishes (each acknowledged by the server once stored), then reads them all
// back with an ordered consumer.
func natsProduceConsume(ctx context.Context, url, stream string, n int, pool *valuePool) (prod, cons produceResult, err error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return prod, cons, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return prod, cons, err
	}
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{stream + ".>"}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return prod, cons, fmt.Errorf("create stream: %w", err)
	}
	defer js.DeleteStream(context.Background(), stream)
	subj := stream + ".data"
	// The default stall wait (200 ms) fails a publish on a loaded machine.
	stallWait := jetstream.WithStallWait(30 * time.Second)
	start := time.Now()
	for i := range n {
		if _, err := js.PublishAsync(subj, pool.value(i), stallWait); err != nil {
			return prod, cons, fmt.Errorf("publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return prod, cons, ctx.Err()
	case <-time.After(5 * time.Minute):
		return prod, cons, fmt.Errorf("nats publish acks timed out")
	}
	prod = produceResult{records: int64(n), bytes: int64(n) * int64(pool.size), seconds: time.Since(start).Seconds()}

	oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return prod, cons, err
	}
	start = time.Now()
	it, err := oc.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return prod, cons, err
	}
	defer it.Stop()
	var got, bytes int64
	for got < int64(n) {
		m, err := it.Next()
		if err != nil {
			return prod, cons, fmt.Errorf("nats consume %d of %d: %w", got, n, err)
		}
		got++
		bytes += int64(len(m.Data()))
	}
	cons = produceResult{records: got, bytes: bytes, seconds: time.Since(start).Seconds()}
	return prod, cons, nil
}

// natsLatency publishes synchronously (wait for the stored ack) at rate for dur and returns the
// ack latency p50/p99/p999 in ms.
func natsLatency(ctx context.Context, url, stream string, rate float64, dur time.Duration, size int) (latencyResult, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return latencyResult{}, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return latencyResult{}, err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{stream + ".>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		return latencyResult{}, err
	}
	defer js.DeleteStream(context.Background(), stream)
	n := int(rate * dur.Seconds())
	pool := newValuePool(n, size)
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		t0 := time.Now()
		if _, err := js.Publish(ctx, stream+".lat", pool.value(i)); err != nil {
			return latencyResult{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return latencyResult{ackP50: ms(percentile(lat, 0.5)), ackP99: ms(percentile(lat, 0.99)),
		ackP999: ms(percentile(lat, 0.999)), records: n}, nil
}
