package reliability

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rssBytes returns this process's resident set size (the broker runs in-process).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func heapInuse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// frame encodes req as a request frame (header v1/v2) with the given correlation id.
func frame(req kmsg.Request, corr int32) []byte {
	var b []byte
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "evil"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// roundTrip measures produce+consume of n records by a fresh franz-go client.
func roundTrip(t testing.TB, addr, topic string, n int) time.Duration {
	t.Helper()
	start := time.Now()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtEnd()}}))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "rt-%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce while overloaded: %v", err)
		}
	}
	return time.Since(start)
}

// TestManyIdleConnections opens 2,000 connections that each did one ApiVersions round
// trip and then stay idle, and checks that a real client is still served promptly; it
// reports the memory cost per idle connection and bounds it.
func TestManyIdleConnections(t *testing.T) {
	n := 2000
	if soak() {
		n = 10000
	}
	tb := startBroker(t, t.TempDir(), nil, nil)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "busy", 1, nil)
	base := roundTrip(t, tb.addr, "busy", 20)

	heap0, rss0 := heapInuse(), rssBytes()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "idle", "1"
	req := frame(av, 1)
	buf := make([]byte, 4096)
	for i := range n {
		c, err := net.Dial("tcp", tb.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf[:4]); err != nil {
			t.Fatalf("ApiVersions on connection %d: %v", i, err)
		}
		size := binary.BigEndian.Uint32(buf[:4])
		if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the broker to track every connection", func() bool {
		return tb.Health(context.Background()).Connections >= n
	})
	heap1, rss1 := heapInuse(), rssBytes()
	busy := roundTrip(t, tb.addr, "busy", 20)
	perConn := (heap1 - heap0) / int64(n)
	t.Logf("%d idle connections: heap+stacks %+d KiB (%d bytes each), RSS %+d KiB; 20 produce round trips %s before, %s with them open",
		n, (heap1-heap0)>>10, perConn, (rss1-rss0)>>10, base.Round(time.Millisecond), busy.Round(time.Millisecond))
	if perConn > 32<<10 {
		t.Errorf("an idle connection costs %d bytes of heap and stack; want <= 32 KiB", perConn)
	}
	if busy > 10*base+2*time.Second {
		t.Errorf("with %d idle connections 20 round trips took %s (vs %s without)", n, busy, base)
	}
}
