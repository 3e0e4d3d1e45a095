package reliability

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/admin"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory, or skips the test when
// that is not allowed here (not root, no mount namespace).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); segment's TestUnfenceAfterNoSpace covers the fault seam", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk produces 100 KiB batches to topic until the broker refuses one, and returns
// the log end and the refusal's error code.
func fillDisk(t *testing.T, cl *kgo.Client, topic string) (int64, int16) {
	t.Helper()
	var end int64
	for i := 0; i < 2000; i++ {
		code, off := produceRaw(t, cl, topic, 0, 10, 10<<10)
		if code != 0 {
			return end, code
		}
		end = off + 10
	}
	t.Fatalf("the disk did not fill after 2000 batches")
	return 0, 0
}

// readRange consumes topic partition 0 from its start and checks that it holds exactly the
// offsets [start, end).
func readRange(t *testing.T, addr, topic string, start, end int64) {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	next := start
	for next < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s stopped at %d of [%d, %d): %v", topic, next, start, end, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				t.Fatalf("read %s offset %d, want %d", topic, r.Offset, next)
			}
			next++
		})
	}
}

// TestFullDiskRecoversWithoutRestart fills a 64 MiB tmpfs under a broker with no disk
// budget (issue 15): ENOSPC fences the partition, produce gets the retriable
// KAFKA_STORAGE_ERROR and readiness says why. Then, each time with the disk full again,
// the three ways to free space work: changing a topic config (topics.json, written in the
// reserve's space), DeleteRecords (segments deleted before the checkpoint) and deleting a
// topic (its data deleted before topics.json); and each time the space comes back, the
// fenced partition becomes writable by itself, with every acknowledged record readable.
func TestFullDiskRecoversWithoutRestart(t *testing.T) {
	mnt := mountTmpfs(t, "64m")
	tb := startBroker(t, filepath.Join(mnt, "data"), map[string]string{
		"log.retention.check.interval.ms": "100",
	}, nil)
	cl := rawClient(t, tb.addr)
	adm := kadm.NewClient(cl)
	topicCfg := map[string]string{"segment.bytes": "1048576", "retention.ms": "-1", "retention.bytes": "-1"}
	createTopic(t, cl, "fill", 1, topicCfg)
	createTopic(t, cl, "spare", 1, topicCfg)
	for range 120 { // 12 MiB that deleting the topic gives back
		if code, _ := produceRaw(t, cl, "spare", 0, 10, 10<<10); code != 0 {
			t.Fatalf("produce to spare: code %d", code)
		}
	}
	ready := func() admin.Readiness { return admin.Evaluate(tb.Health(t.Context()), admin.Config{}) }
	hasReason := func(r admin.Readiness, s string) bool {
		for _, x := range r.Reasons {
			if strings.Contains(x, s) {
				return true
			}
		}
		return false
	}
	// full fills the disk and checks what the broker says while it is full.
	full := func(round string) int64 {
		t.Helper()
		end, code := fillDisk(t, cl, "fill")
		if code != kerr.KafkaStorageError.Code {
			t.Fatalf("%s: produce on a full disk: code %d, want KAFKA_STORAGE_ERROR", round, code)
		}
		waitFor(t, 10*time.Second, round+": readiness to report the full disk", func() bool {
			r := ready()
			return r.Status == admin.StatusDegraded && hasReason(r, "partitions fenced by a full disk")
		})
		time.Sleep(1500 * time.Millisecond) // a few checks: still full, still fenced
		if code, _ := produceRaw(t, cl, "fill", 0, 1, 10); code != kerr.KafkaStorageError.Code {
			t.Fatalf("%s: produce while still full: code %d", round, code)
		}
		t.Logf("%s: disk full at offset %d: %v", round, end, ready().Reasons)
		return end
	}
	// resumes waits until produce is accepted again, without a restart.
	resumes := func(round string) int64 {
		t.Helper()
		var end int64
		waitFor(t, 30*time.Second, round+": produce to resume by itself", func() bool {
			code, off := produceRaw(t, cl, "fill", 0, 1, 10)
			end = off + 1
			return code == 0
		})
		waitFor(t, 10*time.Second, round+": readiness to clear the full disk", func() bool {
			return !hasReason(ready(), "partitions fenced by a full disk")
		})
		return end
	}

	end1 := full("round 1")
	// alter-config: topics.json needs a few KiB, which the reserve gives.
	if _, err := adm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("86400000")}}, "spare"); err != nil {
		t.Fatalf("alter-config on a full disk: %v", err)
	}
	if rs, err := adm.DescribeTopicConfigs(t.Context(), "spare"); err != nil || rs[0].Err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	resumes("round 1")

	end := full("round 2")
	if fitted := end - end1; fitted < 400 { // 10 KiB records: the 8 MiB reserve was released
		t.Errorf("after the reserve was released only %d more records fitted", fitted)
	}
	// DeleteRecords with the reserve spent: the segments below go first.
	half := end / 2
	resp, err := adm.DeleteRecords(t.Context(), kadm.Offsets{"fill": {0: {Topic: "fill", Partition: 0, At: half}}})
	if err != nil || resp.Error() != nil {
		t.Fatalf("DeleteRecords on a full disk: %v %v", err, resp.Error())
	}
	resumes("round 2")

	end3 := full("round 3")
	if freed := end3 - end; freed < half/2 {
		t.Errorf("after DeleteRecords below %d, only %d more records fitted: the deleted segments' space did not come back", half, freed)
	}
	// Deleting a topic with the disk full and no reserve: its data goes first.
	if rs, err := adm.DeleteTopics(t.Context(), "spare"); err != nil || rs.Error() != nil {
		t.Fatalf("delete topic on a full disk: %v %v", err, rs.Error())
	}
	end = resumes("round 3")

	// Everything acknowledged above the DeleteRecords offset reads back, after a restart too.
	start := tb.Snapshot(t.Context()).Topics[0].Partitions[0].LocalStartOffset
	if start > half {
		t.Fatalf("log start %d beyond the DeleteRecords offset %d", start, half)
	}
	readRange(t, tb.addr, "fill", start, end)
	tb.stop(t)
	tb = startBroker(t, filepath.Join(mnt, "data"), nil, nil)
	names := []string{}
	for _, tp := range tb.Snapshot(t.Context()).Topics {
		names = append(names, tp.Name)
	}
	if len(names) != 1 || names[0] != "fill" {
		t.Fatalf("topics after a restart: %v, want [fill]", names)
	}
	readRange(t, tb.addr, "fill", tb.Snapshot(t.Context()).Topics[0].Partitions[0].LocalStartOffset, end)
}
