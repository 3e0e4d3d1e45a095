package datapath

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// librdkafka (through kcat) produces with every codec and consumes to the end of the
// partition: the consumer must see every record and stop at the high watermark, which
// exercises empty fetch responses (a null record set makes librdkafka fail).
func TestKcatRoundTrip(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not installed: make test installs it (make kcat)")
	}
	tb := startBroker(t, t.TempDir(), nil)
	for _, z := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(z, func(t *testing.T) {
			topic := "kcat-" + z
			var in bytes.Buffer
			for i := range 500 {
				fmt.Fprintf(&in, "%s-%d\n", z, i)
			}
			prod := exec.CommandContext(t.Context(), kcat, "-b", tb.addr, "-P", "-t", topic, "-z", z, "-X", "acks=all")
			prod.Stdin = bytes.NewReader(in.Bytes())
			if out, err := prod.CombinedOutput(); err != nil {
				t.Fatalf("kcat produce: %v\n%s", err, out)
			}
			start := time.Now()
			cons := exec.CommandContext(t.Context(), kcat, "-b", tb.addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
			cons.WaitDelay = time.Second
			done := make(chan struct{})
			var out []byte
			go func() { out, err = cons.Output(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				cons.Process.Kill()
				<-done
				t.Fatalf("kcat consume did not reach the end of the partition")
			}
			if err != nil {
				t.Fatalf("kcat consume: %v", err)
			}
			if got := string(out); got != in.String() {
				t.Fatalf("kcat read %d lines, want 500 (first: %q)", strings.Count(got, "\n"), strings.SplitN(got, "\n", 2)[0])
			}
			t.Logf("%s: consumed to end in %v", z, time.Since(start))
		})
	}
}
