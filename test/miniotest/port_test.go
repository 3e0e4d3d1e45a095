package miniotest

import (
	"fmt"
	"net"
	"testing"
)

// FreePort gives a port that can be listened on, outside the ephemeral range when there is
// room below it.
func TestFreePort(t *testing.T) {
	for range 20 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if lo := ephemeralLow(); lo > 11000 && port >= lo {
			t.Fatalf("port %d is in the ephemeral range (from %d)", port, lo)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("listen on the free port %d: %v", port, err)
		}
		l.Close()
	}
}
