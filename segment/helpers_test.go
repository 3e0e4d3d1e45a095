package segment_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/strata-io/strata/internal/leakcheck"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// TestMain fails the package when goroutines of a Log outlive the tests.
func TestMain(m *testing.M) { leakcheck.Main(m, "segment.(*Log)") }

const testDir = "/data/topic-0"

func val(i int) []byte { return []byte(fmt.Sprintf("value-%06d", i)) }

// batchOf returns a batch of n records with timestamps from ts.
func batchOf(ts int64, n int) []byte {
	vs := make([][]byte, n)
	for i := range vs {
		vs[i] = val(int(ts) + i)
	}
	return segmenttest.Batch(ts, vs...)
}

func mustOpen(t testing.TB, dir string, cfg segment.Config) *segment.Log {
	t.Helper()
	l, _, err := segment.Open(dir, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

func mustAppend(t testing.TB, l *segment.Log, b []byte) segment.BatchInfo {
	t.Helper()
	info, err := l.Append(b, segment.AppendOptions{})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return info
}

// split cuts a byte range of whole batches into batches.
func split(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("split: %d trailing bytes", len(b))
		}
		n := int(binary.BigEndian.Uint32(b[8:])) + 12
		if n > len(b) {
			t.Fatalf("split: batch of %d bytes, %d left", n, len(b))
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func baseOf(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }
func lastOf(b []byte) int64 { return baseOf(b) + int64(int32(binary.BigEndian.Uint32(b[23:]))) }

// readAll reads every batch from offset to the log end, checking contiguity.
func readAll(t testing.TB, l *segment.Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	off := from
	for off < l.NextOffset() {
		r, err := l.Read(off, 64<<10, true)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		b, err := r.Bytes()
		if err != nil {
			t.Fatalf("read bytes at %d: %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("read %d: empty result below the log end %d", off, l.NextOffset())
		}
		for _, batch := range split(t, b) {
			if len(out) > 0 && baseOf(batch) != lastOf(out[len(out)-1])+1 {
				t.Fatalf("offsets not contiguous: batch at %d after last offset %d", baseOf(batch), lastOf(out[len(out)-1]))
			}
			out = append(out, batch)
			off = lastOf(batch) + 1
		}
	}
	return out
}

func waitDurable(t testing.TB, l *segment.Log) {
	t.Helper()
	if err := l.WaitDurable(context.Background(), l.NextOffset()); err != nil {
		t.Fatalf("wait durable: %v", err)
	}
}

func equalBatches(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d (offset %d) differs", i, baseOf(want[i]))
		}
	}
}

func hasSuffixFile(t testing.TB, fsys *segmenttest.MemFS, dir, suffix string) bool {
	t.Helper()
	es, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.HasSuffix(e.Name(), suffix) {
			return true
		}
	}
	return false
}
