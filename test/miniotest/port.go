package miniotest

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePort returns a loopback TCP port that is free now, for a server that listens on a
// fixed address across restarts (MinIO stopped and started again, a child broker killed
// and restarted). It is picked below the kernel's ephemeral port range when there is room
// for it: neither outgoing connections nor listeners on port 0 (of this process, other
// test processes running in parallel, or anything else on the machine) are given ports
// there, so none of them can take the port between the probe and the server's bind, or
// while the server is down. A port from listening on port 0 can be taken by any of them.
func FreePort() (int, error) {
	const from = 10000
	if lo := ephemeralLow(); lo > from+1000 {
		for range 100 {
			port := from + mrand.IntN(lo-from)
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				l.Close()
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("cannot find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow returns the first port of the kernel's ephemeral range (Linux), or 0.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}
