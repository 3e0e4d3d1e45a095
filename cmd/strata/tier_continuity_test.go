package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// TestTierCatRefusesMovedOffsets: a batch whose base offset was damaged in the bucket (the
// batch CRC does not cover it) makes tier cat (and so tier restore) fail naming the object,
// rather than print records at wrong offsets; tier verify reports the segment CORRUPT. The
// segment's SHA-256 block hashes catch the change before the offset continuity check does,
// so nothing of the changed hash block is printed: the records before the segment are.
func TestTierCatRefusesMovedOffsets(t *testing.T) {
	ob := startOpsBroker(t)
	fsDir := "--fs-dir=" + ob.tierDir
	_, entries, err := tiering.ReadPartitionManifest(t.Context(), ob.store, "", opsTopic, ob.topicID, 0)
	if err != nil || len(entries) < 2 {
		t.Fatalf("manifest: %d entries, %v", len(entries), err)
	}
	e := entries[1]
	logPath := filepath.Join(ob.tierDir, e.Log.Key)
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	h, err := segment.DecodeBatchHeader(data)
	if err != nil || h.Size() >= int64(len(data)) {
		t.Fatalf("segment %s: one batch of %d bytes in %d, %v; the test needs two", e.Log.Key, h.Size(), len(data), err)
	}
	second := data[h.Size():]
	binary.BigEndian.PutUint64(second, binary.BigEndian.Uint64(second)+1)
	if err := os.WriteFile(logPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli(t, "", "tier", "cat", opsTopic, fsDir, "--format", `%o\n`)
	if err == nil || !strings.Contains(err.Error(), e.Log.Key) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("tier cat over a moved batch: %v, want an error naming %s", err, e.Log.Key)
	}
	// What was printed before the error: offsets 0, 1, ... up to the segment (its first and
	// only hash block holds the moved batch), no other.
	lines := strings.Fields(out)
	if int64(len(lines)) != e.BaseOffset || e.Size > e.HashBlock {
		t.Fatalf("tier cat printed %d records before failing, want the %d before the segment (of %d bytes, hash block %d)", len(lines), e.BaseOffset, e.Size, e.HashBlock)
	}
	for i, line := range lines {
		if line != strconv.Itoa(i) {
			t.Fatalf("record %d printed at offset %s", i, line)
		}
	}
	out, _, err = cli(t, "", "tier", "verify", opsTopic, fsDir)
	if err == nil || !strings.Contains(out, "CORRUPT  orders-0: segment ") {
		t.Fatalf("tier verify over a moved batch: %v\n%s", err, out)
	}
}
