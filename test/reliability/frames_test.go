package reliability

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/test/checker"
)

// procStatus returns a field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("cannot read status of process %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s of process %d: %v", field, pid, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestStalledLargeFramesBoundedMemory repeats issue 15's attack against a broker in a child
// process: rounds of 30 connections that each declare a 104,857,599-byte frame (just under
// socket.request.max.bytes) and stall after sending 1 MiB. Before queued.max.request.bytes,
// the broker allocated every declared frame and held it for connections.max.idle.ms (3.1 GB
// resident after three rounds). Now the broker's peak resident set stays under the budget
// plus a fixed overhead, every stalled connection is closed once
// strata.socket.request.read.timeout.ms passes, and a franz-go producer with acks=all
// keeps producing throughout; afterwards a request of tens of MiB is still served.
func TestStalledLargeFramesBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds strata and runs it as a child process")
	}
	const (
		budget       = 128 << 20
		frameTimeout = 4 * time.Second
		conns        = 30
		rounds       = 3
		declared     = 104857599
		sent         = 1 << 20
		// What the broker may hold besides request bytes (runtime, buffers, indexes); an
		// idle broker has ~20-30 MiB resident.
		overhead = 96 << 20
	)
	ctx := t.Context()
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	bin, err := checker.BuildStrata(bctx, t.TempDir())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	port, err := checker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "strata.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	s := &checker.Strata{Bin: bin, DataDir: t.TempDir(), Port: port, Log: logFile, Args: []string{
		"--set", fmt.Sprintf("queued.max.request.bytes=%d", budget),
		"--set", fmt.Sprintf("strata.socket.request.read.timeout.ms=%d", frameTimeout.Milliseconds()),
	}}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = checker.WaitReady(rctx, s.Addr(), "")
	cancel()
	if err != nil {
		t.Fatalf("strata did not start: %v\n%s", err, checker.Tail(logPath, 40))
	}
	defer func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", checker.Tail(logPath, 60))
		}
	}()
	pid := s.Pid()

	const topic = "frames"
	admin := newClient(t, s.Addr())
	createTopic(t, admin, topic, 1, map[string]string{"max.message.bytes": strconv.Itoa(40 << 20)})
	t.Logf("idle broker: VmRSS %d MiB", procStatus(t, pid, "VmRSS")>>20)

	// A normal producer, acks=all, one record at a time, for the whole attack.
	cl := newClient(t, s.Addr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var acked atomic.Int64
	var prodErr atomic.Pointer[error]
	pctx, stopProducing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; pctx.Err() == nil; i++ {
			rctx, cancel := context.WithTimeout(pctx, 20*time.Second)
			err := cl.ProduceSync(rctx, &kgo.Record{Value: fmt.Appendf(nil, "normal-%d", i)}).FirstErr()
			cancel()
			if err != nil {
				if pctx.Err() == nil {
					prodErr.CompareAndSwap(nil, &err)
				}
				return
			}
			acked.Add(1)
		}
	}()
	defer func() { stopProducing(); wg.Wait() }()

	// The header of a Produce v9 request; the body never arrives in full.
	hdr := make([]byte, 4, 4+sent)
	binary.BigEndian.PutUint32(hdr, declared)
	hdr = append(hdr, 0, 0, 0, 9, 0, 0, 0, 1, 0, 4, 'e', 'v', 'i', 'l')
	payload := append(hdr, make([]byte, sent-len(hdr)+4)...)

	for round := range rounds {
		before := acked.Load()
		start := time.Now()
		var closed sync.WaitGroup
		var late atomic.Int64
		for range conns {
			nc, err := net.DialTimeout("tcp", s.Addr(), 10*time.Second)
			if err != nil {
				t.Fatalf("round %d: dial: %v", round, err)
			}
			closed.Add(1)
			go func() {
				defer closed.Done()
				defer nc.Close()
				// The write may block once the broker stops reading (it waits for budget);
				// the reader below sees the close either way.
				go func() {
					nc.SetWriteDeadline(time.Now().Add(2 * time.Minute))
					nc.Write(payload)
				}()
				nc.SetReadDeadline(time.Now().Add(frameTimeout + 60*time.Second))
				_, err := io.Copy(io.Discard, nc)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					late.Add(1)
				}
			}()
		}
		closed.Wait()
		if n := late.Load(); n > 0 {
			t.Errorf("round %d: %d of %d stalled connections still open %v after the frame deadline", round, n, conns, 60*time.Second)
		}
		if time.Since(start) < frameTimeout/2 {
			t.Errorf("round %d: stalled connections closed after %v, before the frame deadline %v", round, time.Since(start), frameTimeout)
		}
		// The producer went on during the round.
		waitFor(t, 30*time.Second, "the producer to make progress", func() bool { return acked.Load() > before+5 })
		if p := prodErr.Load(); p != nil {
			t.Fatalf("round %d: produce failed: %v", round, *p)
		}
		t.Logf("round %d: %d stalled connections closed after %v; %d records acked meanwhile; VmRSS %d MiB",
			round, conns, time.Since(start).Round(time.Millisecond), acked.Load()-before, procStatus(t, pid, "VmRSS")>>20)
	}
	stopProducing()
	wg.Wait()
	if p := prodErr.Load(); p != nil {
		t.Fatalf("produce failed: %v", *p)
	}

	hwm := procStatus(t, pid, "VmHWM")
	t.Logf("peak RSS %d MiB (budget %d MiB + overhead %d MiB); %d records acked", hwm>>20, budget>>20, overhead>>20, acked.Load())
	if hwm > budget+overhead {
		t.Errorf("peak RSS %d bytes is over the budget %d + overhead %d", hwm, budget, overhead)
	}

	// A large request (a 30 MiB record) is still served after the attack.
	big := newClient(t, s.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(40<<20),
		kgo.MaxBufferedBytes(80<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	rctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := big.ProduceSync(rctx, &kgo.Record{Value: make([]byte, 30<<20)}).FirstErr(); err != nil {
		t.Fatalf("30 MiB record after the attack: %v", err)
	}
}
