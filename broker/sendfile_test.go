package broker

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

// sendfileFixture is a partition with ~n MiB of data and a loopback TCP pair whose reader
// collects (or discards) what is written.
func sendfileFixture(tb testing.TB, batches int) (*partition.Partition, *net.TCPConn, net.Conn) {
	tb.Helper()
	p := testPartition(tb, nil)
	batch := testBatch(tb, codecNone, 1000, make([]int64, 160), false)
	for range batches {
		c := append([]byte(nil), batch...)
		h, err := segment.DecodeBatchHeader(c)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := p.Append(c, h, time.Time{}, true); err != nil {
			tb.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close(); server.Close() })
	return p, server.(*net.TCPConn), client
}

func fetchResponseFor(version int16, partitions int) *kmsg.FetchResponse {
	resp := &kmsg.FetchResponse{Version: version}
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	for i := range partitions {
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition = int32(i)
		sp.HighWatermark = 42
		rt.Partitions = append(rt.Partitions, sp)
	}
	resp.Topics = append(resp.Topics, rt)
	return resp
}

// The spliced response is byte for byte what the copying path sends, for flexible and
// non-flexible versions.
func TestSplicedFetchMatchesCopy(t *testing.T) {
	for _, version := range []int16{11, 12, 16} {
		p, server, client := sendfileFixture(t, 300)
		data, _, err := p.ReadLocal(10, 200_000, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := fetchResponseFor(version, 2)
		want.Topics[0].Partitions[0].RecordBatches = data
		want.Topics[0].Partitions[1].RecordBatches = []byte{}
		wantBytes := appendResponse(nil, 7, want)

		sec, _, _, err := readLocalSection(p, 10, 200_000, true)
		if err != nil || sec == nil {
			t.Fatal(sec, err)
		}
		got := fetchResponseFor(version, 2)
		got.Topics[0].Partitions[1].RecordBatches = []byte{}
		pieces, size, err := encodeSplicedFetch(got, 7, map[*kmsg.FetchResponseTopicPartition]*recordSection{&got.Topics[0].Partitions[0]: sec})
		if err != nil {
			t.Fatal(err)
		}
		if size != int64(len(wantBytes)) {
			t.Fatalf("v%d: spliced size %d, copy size %d", version, size, len(wantBytes))
		}
		done := make(chan []byte)
		go func() {
			b := make([]byte, size)
			io.ReadFull(client, b)
			done <- b
		}()
		if err := writeSplicedFetch(server, pieces); err != nil {
			t.Fatal(err)
		}
		if gotBytes := <-done; !bytes.Equal(gotBytes, wantBytes) {
			t.Fatalf("v%d: spliced bytes differ from the copy path", version)
		}
	}
}

// BenchmarkFetchResponseWrite compares writing a 1 MiB fetch response (page-cache hot)
// over loopback TCP by copying (pread into memory, encode, write), copying into pooled
// read buffers (recordbufs.go, the live path for TLS) and by sendfile.
func BenchmarkFetchResponseWrite(b *testing.B) {
	p, server, client := sendfileFixture(b, 2000)
	go io.Copy(io.Discard, client)
	const maxBytes = 1 << 20
	b.Run("copy", func(b *testing.B) {
		var buf []byte
		var total int64
		for b.Loop() {
			data, _, err := p.ReadLocal(0, maxBytes, true, nil)
			if err != nil {
				b.Fatal(err)
			}
			resp := fetchResponseFor(12, 1)
			resp.Topics[0].Partitions[0].RecordBatches = data
			buf = appendResponse(buf[:0], 1, resp)
			if _, err := server.Write(buf); err != nil {
				b.Fatal(err)
			}
			total += int64(len(buf))
		}
		b.SetBytes(total / int64(b.N))
	})
	b.Run("copy-pooled", func(b *testing.B) {
		var buf []byte
		var total int64
		rb := &recordBufs{}
		for b.Loop() {
			data, _, err := p.ReadLocal(0, maxBytes, true, rb.get)
			if err != nil {
				b.Fatal(err)
			}
			resp := fetchResponseFor(12, 1)
			resp.Topics[0].Partitions[0].RecordBatches = data
			buf = appendResponse(buf[:0], 1, resp)
			if _, err := server.Write(buf); err != nil {
				b.Fatal(err)
			}
			rb.release()
			total += int64(len(buf))
		}
		b.SetBytes(total / int64(b.N))
	})
	b.Run("sendfile", func(b *testing.B) {
		var total int64
		for b.Loop() {
			sec, _, _, err := readLocalSection(p, 0, maxBytes, true)
			if err != nil {
				b.Fatal(err)
			}
			resp := fetchResponseFor(12, 1)
			pieces, size, err := encodeSplicedFetch(resp, 1, map[*kmsg.FetchResponseTopicPartition]*recordSection{&resp.Topics[0].Partitions[0]: sec})
			if err != nil {
				b.Fatal(err)
			}
			if err := writeSplicedFetch(server, pieces); err != nil {
				b.Fatal(err)
			}
			total += size
		}
		b.SetBytes(total / int64(b.N))
	})
}

// A response mixing a file section, a remote record set in chunk slices (partition.ReadRemote)
// and plain bytes is written byte for byte as the copying path writes it: on TCP
// (sendfile + writev) and on a connection without either (net.Pipe, as TLS: buffered).
func TestSplicedRemoteRecordsMatchCopy(t *testing.T) {
	for _, version := range []int16{11, 12, 16} {
		for _, tcp := range []bool{true, false} {
			p, server, client := sendfileFixture(t, 300)
			local, _, err := p.ReadLocal(10, 100_000, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			remote, _, err := p.ReadLocal(50, 150_000, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The remote set as the tier returns it: slices of 4000-byte "chunks".
			var bufs [][]byte
			for rest := remote; len(rest) > 0; rest = rest[min(4000, len(rest)):] {
				bufs = append(bufs, rest[:min(4000, len(rest))])
			}
			shared := slices.Clone(bufs)

			want := fetchResponseFor(version, 3)
			want.Topics[0].Partitions[0].RecordBatches = local
			want.Topics[0].Partitions[1].RecordBatches = remote
			want.Topics[0].Partitions[2].RecordBatches = []byte{}
			wantBytes := appendResponse(nil, 9, want)

			sec, _, _, err := readLocalSection(p, 10, 100_000, true)
			if err != nil || sec == nil {
				t.Fatal(sec, err)
			}
			rb := &recordBufs{splice: tcp}
			got := fetchResponseFor(version, 3)
			got.Topics[0].Partitions[0].RecordBatches = rb.mark(sec)
			got.Topics[0].Partitions[1].RecordBatches = rb.mark(&recordSection{bufs: bufs, n: int64(len(remote))})
			got.Topics[0].Partitions[2].RecordBatches = []byte{}
			if n := rb.recordLen(got.Topics[0].Partitions[1].RecordBatches); n != len(remote) {
				t.Fatalf("recordLen of the remote set %d, want %d", n, len(remote))
			}

			var conn, peer net.Conn = server, client
			if !tcp {
				conn, peer = net.Pipe()
			}
			done := make(chan []byte)
			go func() {
				b := make([]byte, len(wantBytes))
				n, _ := io.ReadFull(peer, b)
				done <- b[:n]
			}()
			if err := writeSplicedResponse(conn, 9, got, rb); err != nil {
				t.Fatal(err)
			}
			if gotBytes := <-done; !bytes.Equal(gotBytes, wantBytes) {
				t.Fatalf("v%d tcp=%v: spliced bytes (%d) differ from the copy path (%d)", version, tcp, len(gotBytes), len(wantBytes))
			}
			if !slices.EqualFunc(bufs, shared, func(a, b []byte) bool { return len(a) == len(b) && &a[0] == &b[0] }) {
				t.Fatal("writing changed the record set's slices (they may be shared)")
			}
			rb.release()
			if !tcp {
				conn.Close()
			}
		}
	}
}

// Remote record sets written with writev survive partial writes and EAGAIN: a response of
// 6 MiB in 3000 slices (more than IOV_MAX per writev) to a small-buffered socket whose
// reader is slow arrives byte for byte as the copy path encodes it; a reader that hangs
// up mid-response makes the write fail rather than hang or panic.
func TestWritevRemoteRecordsPartialWrites(t *testing.T) {
	const slices, sliceLen = 3000, 2048
	remote := make([]byte, slices*sliceLen)
	for i := range remote {
		remote[i] = byte(i*7 + i/sliceLen)
	}
	var bufs [][]byte
	for rest := remote; len(rest) > 0; rest = rest[sliceLen:] {
		bufs = append(bufs, rest[:sliceLen:sliceLen])
	}
	want := fetchResponseFor(12, 2)
	want.Topics[0].Partitions[0].RecordBatches = remote
	want.Topics[0].Partitions[1].RecordBatches = []byte{}
	wantBytes := appendResponse(nil, 5, want)
	response := func() (*kmsg.FetchResponse, *recordBufs) {
		rb := &recordBufs{splice: true}
		got := fetchResponseFor(12, 2)
		got.Topics[0].Partitions[0].RecordBatches = rb.mark(&recordSection{bufs: bufs, n: int64(len(remote))})
		got.Topics[0].Partitions[1].RecordBatches = []byte{}
		return got, rb
	}

	// (Socket buffers are left as they are: shrunk to a few kB, plain writes stall on
	// this machine's loopback too.)
	_, server, client := sendfileFixture(t, 1)
	server.SetWriteDeadline(time.Now().Add(30 * time.Second))
	done := make(chan []byte)
	go func() {
		var got []byte
		b := make([]byte, 1000)
		time.Sleep(50 * time.Millisecond) // the socket fills: writev writes part, then EAGAIN
		for i := 1; len(got) < len(wantBytes); i++ {
			n, err := client.Read(b)
			got = append(got, b[:n]...)
			if err != nil {
				break
			}
			if i%256 == 0 {
				time.Sleep(time.Millisecond) // and again
			}
		}
		done <- got
	}()
	resp, rb := response()
	if err := writeSplicedResponse(server, 5, resp, rb); err != nil {
		t.Fatal(err)
	}
	if got := <-done; !bytes.Equal(got, wantBytes) {
		t.Fatalf("received %d bytes, not the %d the copy path encodes", len(got), len(wantBytes))
	}
	for i, b := range bufs {
		if len(b) != sliceLen || &b[0] != &remote[i*sliceLen] {
			t.Fatalf("slice %d changed by the write", i)
		}
	}

	// The reader hangs up after 100 kB.
	_, server, client = sendfileFixture(t, 1)
	server.SetWriteDeadline(time.Now().Add(30 * time.Second))
	go func() {
		io.CopyN(io.Discard, client, 100_000)
		client.(*net.TCPConn).SetLinger(0) // reset: the writer sees the hang-up at once
		client.Close()
	}()
	resp, rb = response()
	if err := writeSplicedResponse(server, 5, resp, rb); err == nil {
		t.Fatal("a write to a closed connection succeeded")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the write hung until its deadline: %v", err)
	}
}
