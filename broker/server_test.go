package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startCoreBroker runs a broker on 127.0.0.1:0 in a temp dir until the test ends.
func startCoreBroker(t testing.TB, props map[string]string) *Broker {
	t.Helper()
	p := map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()}
	for k, v := range props {
		p[k] = v
	}
	cfg, err := ParseConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return b
}

func dialCore(t *testing.T, b *Broker) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// encodeRequest frames req with a request header (v2 when flexible).
func encodeRequest(req kmsg.Request, corr int32, clientID string) []byte {
	buf := []byte{0, 0, 0, 0}
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(clientID)))
	buf = append(buf, clientID...)
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

// readResponse reads one response frame and returns correlation id and body (after the
// header, whose tagged fields are skipped when flexible).
func readResponse(t *testing.T, r io.Reader, flexibleHeader bool) (int32, []byte) {
	t.Helper()
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(r, frame); err != nil {
		t.Fatalf("read response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	if flexibleHeader {
		if body[0] != 0 {
			t.Fatalf("response header tags: %d", body[0])
		}
		body = body[1:]
	}
	return corr, body
}

// expectClosed asserts that the broker closes c without sending anything.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var one [1]byte
	n, err := c.Read(one[:])
	if n != 0 || err == nil {
		t.Fatalf("connection not closed: read %d bytes, err %v", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after 5s")
	}
}

func TestServerApiVersionsEveryVersion(t *testing.T) {
	b := startCoreBroker(t, nil)
	c := dialCore(t, b)
	br := bufio.NewReader(c)
	for v := int16(0); v <= 5; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		c.Write(encodeRequest(req, int32(100+v), "cli"))
		corr, body := readResponse(t, br, false) // ApiVersions: response header v0 always
		if corr != int32(100+v) {
			t.Fatalf("v%d: correlation id %d", v, corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(v)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apiTable()) {
			t.Fatalf("v%d: error %d, %d keys", v, resp.ErrorCode, len(resp.ApiKeys))
		}
	}
}

func TestServerApiVersionsTooNewAnswersV0(t *testing.T) {
	b := startCoreBroker(t, nil)
	c := dialCore(t, b)
	br := bufio.NewReader(c)
	// Version 99 with a body this broker cannot know: answered with v0 UNSUPPORTED_VERSION.
	frame := []byte{0, 0, 0, 0, 0, 18, 0, 99, 0, 0, 0, 7, 0, 0, 0, 0xde, 0xad}
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	c.Write(frame)
	corr, body := readResponse(t, br, false)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body); err != nil || corr != 7 {
		t.Fatal(err, corr)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != len(apiTable()) {
		t.Fatalf("got error %d with %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	// The connection stays usable: the client retries with a version we know.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "x", "1"
	c.Write(encodeRequest(req, 8, ""))
	if corr, _ := readResponse(t, br, false); corr != 8 {
		t.Fatalf("correlation %d", corr)
	}
}

func TestServerApiVersionsV5ClusterCheck(t *testing.T) {
	b := startCoreBroker(t, nil)
	c := dialCore(t, b)
	br := bufio.NewReader(c)
	f := func(cluster *string, node int32, want int16) {
		t.Helper()
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(5)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "x", "1"
		req.ClusterID, req.NodeID = cluster, node
		c.Write(encodeRequest(req, 1, ""))
		_, body := readResponse(t, br, false)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(5)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != want {
			t.Errorf("cluster %v node %d: error %d, want %d", cluster, node, resp.ErrorCode, want)
		}
	}
	f(nil, -1, 0)
	f(kmsg.StringPtr(b.ClusterID()), 0, 0)
	f(kmsg.StringPtr("other"), 0, kerr.RebootstrapRequired.Code)
	f(kmsg.StringPtr(b.ClusterID()), 3, kerr.RebootstrapRequired.Code)
	f(kmsg.StringPtr(b.ClusterID()), -1, kerr.InvalidRequest.Code)
}

func TestServerPipelinedResponsesInOrder(t *testing.T) {
	b := startCoreBroker(t, nil)
	c := dialCore(t, b)
	br := bufio.NewReader(c)
	var all []byte
	const n = 50
	for i := range n {
		var req kmsg.Request
		if i%2 == 0 {
			m := kmsg.NewPtrMetadataRequest()
			m.SetVersion(int16(i % 14))
			req = m
		} else {
			a := kmsg.NewPtrApiVersionsRequest()
			a.SetVersion(int16(i % 4))
			req = a
		}
		all = append(all, encodeRequest(req, int32(i), "p")...)
	}
	c.Write(all) // one write: the broker sees them pipelined
	for i := range n {
		flexible := i%2 == 0 && i%14 >= 9
		corr, body := readResponse(t, br, flexible)
		if corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		if i%2 == 0 {
			resp := kmsg.NewPtrMetadataResponse()
			resp.SetVersion(int16(i % 14))
			if err := resp.ReadFrom(body); err != nil || len(resp.Brokers) != 1 || resp.Brokers[0].Port == 0 {
				t.Fatalf("metadata v%d: %v %+v", i%14, err, resp)
			}
		}
	}
}

func TestServerClosesOnBadInput(t *testing.T) {
	b := startCoreBroker(t, map[string]string{"socket.request.max.bytes": "1048576"})
	frame := func(key, version int16, rest ...byte) []byte {
		buf := binary.BigEndian.AppendUint32(nil, 0)
		buf = binary.BigEndian.AppendUint16(buf, uint16(key))
		buf = binary.BigEndian.AppendUint16(buf, uint16(version))
		buf = binary.BigEndian.AppendUint32(buf, 1)
		buf = append(buf, rest...)
		binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
		return buf
	}
	cases := map[string][]byte{
		"oversized frame":         {0x00, 0x10, 0x00, 0x01}, // 1 MiB + 1
		"huge frame":              {0x7f, 0xff, 0xff, 0xff}, // 2 GiB
		"negative size":           {0xff, 0xff, 0xff, 0xfe}, // -2
		"tiny frame":              {0, 0, 0, 3, 0, 3, 0},    // shorter than a header
		"unknown api key":         frame(9999, 0, 0, 0),
		"unimplemented api key":   frame(int16(kmsg.ShareFetch), 0, 0, 0),
		"unsupported version":     frame(int16(kmsg.Metadata), 14, 0, 0),
		"negative version":        frame(int16(kmsg.Metadata), -1, 0, 0),
		"truncated client id":     frame(int16(kmsg.Metadata), 1, 0, 9, 'a'),
		"truncated body":          frame(int16(kmsg.Metadata), 1, 0, 0, 0, 0, 0, 5),
		"bad flexible tags":       frame(int16(kmsg.Metadata), 12, 0, 0, 0x05),
		"produce array too large": frame(int16(kmsg.Produce), 3, 0, 0, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			c := dialCore(t, b)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			c.Write(data)
			expectClosed(t, c)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > 512<<10 {
				t.Errorf("broker allocated %d bytes for a rejected frame", d)
			}
		})
	}
	// The broker still serves new connections afterwards.
	c := dialCore(t, b)
	req := kmsg.NewPtrApiVersionsRequest()
	c.Write(encodeRequest(req, 5, ""))
	if corr, _ := readResponse(t, c, false); corr != 5 {
		t.Fatalf("correlation %d", corr)
	}
}

func TestServerClosesIdleConnections(t *testing.T) {
	b := startCoreBroker(t, map[string]string{"connections.max.idle.ms": "200"})
	c := dialCore(t, b)
	c.Write(encodeRequest(kmsg.NewPtrApiVersionsRequest(), 1, ""))
	readResponse(t, c, false)
	start := time.Now()
	expectClosed(t, c)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
}

func TestServerCloseWithIdleAndBusyConnections(t *testing.T) {
	baseline := runtime.NumGoroutine()
	cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	conns := make([]net.Conn, 5)
	for i := range conns {
		conns[i] = dialCore(t, b)
	}
	conns[0].Write([]byte{0, 0, 1}) // half a size header: the reader is mid-frame
	time.Sleep(20 * time.Millisecond)
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		expectClosed(t, c)
	}
	// Every goroutine the broker started is gone.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	}
}

func TestServerLongPollDoesNotStallOtherConnections(t *testing.T) {
	b := startCoreBroker(t, nil)
	tp, err := b.createTopic("waits", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	a, other := dialCore(t, b), dialCore(t, b)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.MaxWaitMillis = 3000
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = tp.Name
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	start := time.Now()
	// On connection a: a long poll, then an ApiVersions that must wait its turn.
	a.Write(append(encodeRequest(fetch, 1, ""), encodeRequest(kmsg.NewPtrApiVersionsRequest(), 2, "")...))
	// Connection other is served meanwhile.
	other.Write(encodeRequest(kmsg.NewPtrApiVersionsRequest(), 9, ""))
	if corr, _ := readResponse(t, other, false); corr != 9 {
		t.Fatalf("correlation %d", corr)
	}
	// Answered while the long poll is still waiting (not a wall-clock bound, which a loaded
	// machine can exceed: nothing has come back on a yet).
	br := bufio.NewReader(a)
	a.SetReadDeadline(time.Now().Add(time.Millisecond))
	if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("other connection answered only after the long poll (%v): after %v", err, time.Since(start))
	}
	a.SetReadDeadline(time.Now().Add(10 * time.Second))
	if corr, _ := readResponse(t, br, false); corr != 1 {
		t.Fatalf("first response on a has correlation %d", corr)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("long poll returned after %v, want its max wait of 3s", d)
	}
	if corr, _ := readResponse(t, br, false); corr != 2 {
		t.Fatalf("second response on a has correlation %d", corr)
	}
}

// BenchmarkServerPipelinedMetadata measures request framing, decoding, dispatch and
// response writing: 64 pipelined Metadata v12 requests per round trip on one connection.
func BenchmarkServerPipelinedMetadata(b *testing.B) {
	cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	br, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	go br.Run(context.Background())
	defer br.Close()
	if _, err := br.createTopic("bench", 8, nil, false); err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", br.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("bench")}}
	const depth = 64
	var batch []byte
	for i := range depth {
		batch = append(batch, encodeRequest(req, int32(i), "bench")...)
	}
	rd := bufio.NewReaderSize(c, 1<<20)
	var sz [4]byte
	b.ResetTimer()
	for i := 0; i < b.N; i += depth {
		if _, err := c.Write(batch); err != nil {
			b.Fatal(err)
		}
		for range depth {
			if _, err := io.ReadFull(rd, sz[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := rd.Discard(int(binary.BigEndian.Uint32(sz[:]))); err != nil {
				b.Fatal(err)
			}
		}
	}
}
