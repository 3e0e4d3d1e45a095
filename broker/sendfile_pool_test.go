package broker

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// The pooled writers of writeSplicedBuffered (connections without writev: TLS) carry
// nothing from one response to the next: not the bytes of a response whose write failed,
// not its connection.
func TestBufferedSplicedWritesShareNoState(t *testing.T) {
	pieces := func(fill byte, n int) []splicePiece {
		big := bytes.Repeat([]byte{fill}, n)
		return []splicePiece{
			{b: []byte{fill, fill}},
			{sec: &recordSection{bufs: [][]byte{big[:n/2], big[n/2:]}, n: int64(n)}},
			{b: []byte{fill}},
		}
	}
	want := func(fill byte, n int) []byte { return bytes.Repeat([]byte{fill}, n+3) }

	// A write that fails part-way (the reader goes away) leaves its writer in the pool
	// with unflushed bytes.
	server, client := net.Pipe()
	go func() { io.ReadFull(client, make([]byte, 10)); client.Close() }()
	if err := writeSplicedBuffered(server, pieces('x', 1000)); err == nil {
		t.Fatal("write to a closed pipe succeeded")
	}
	server.Close()

	for i, n := range []int{10, 200 << 10, 1000} { // below, above and within the buffer
		fill := byte('a' + i)
		server, client := net.Pipe()
		got := make(chan []byte)
		go func() { b, _ := io.ReadAll(client); got <- b }()
		if err := writeSplicedBuffered(server, pieces(fill, n)); err != nil {
			t.Fatal(err)
		}
		server.Close()
		if b := <-got; !bytes.Equal(b, want(fill, n)) {
			t.Fatalf("response %d: %d bytes, want %d bytes of %q only", i, len(b), n+3, fill)
		}
	}
}
