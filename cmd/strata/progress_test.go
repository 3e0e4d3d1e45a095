package main

import (
	"strings"
	"testing"
	"time"
)

// Issue 14: the progress bar started at "0 rec/hr". No rate is shown before there is one.
func TestProgressDescribe(t *testing.T) {
	p := &progress{}
	if d := p.describe(10*time.Millisecond, false); d != "0 B" {
		t.Fatalf("at start: %q", d)
	}
	p.records, p.bytes = 5000, 3<<20
	if d := p.describe(100*time.Millisecond, false); strings.Contains(d, "rec/") {
		t.Fatalf("rate after 100 ms: %q", d)
	}
	if d := p.describe(2*time.Second, false); d != "3.0 MiB, 2.5k rec/s" {
		t.Fatalf("after 2 s: %q", d)
	}
	if d := p.describe(100*time.Millisecond, true); d != "3.0 MiB, 50.0k rec/s" {
		t.Fatalf("final: %q", d)
	}
}
