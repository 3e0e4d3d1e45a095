package group

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The restart property of issue 4: opening the group store after a long stream of offset
// commits reads the live state (one record per group/topic/partition) plus a log tail
// bounded by the compaction threshold, never the whole commit history.

const (
	restartGroups     = 100
	restartPartitions = 50
	restartTopic      = "events"
)

// restartFrameBytes is the size of one commit's log frame: every field fillCommits
// varies has a fixed width.
var restartFrameBytes = int64(frameHeaderLen + len(appendRecord(nil, 0, offsetRec("group-000", restartTopic, 0, 0))))

// fillCommits appends n offset commits to s the way OffsetCommit requests do: every
// request is one group committing all of its partitions (one Append); the groups commit
// concurrently, so they share fsyncs. Commit i of partition p of group g has offset i.
// It returns the number of bytes the commits took in the log (frames, before compaction).
func fillCommits(tb testing.TB, s *FileStore, n int) (logBytes int64) {
	tb.Helper()
	perGroup := n / restartGroups
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		first error
	)
	for g := range restartGroups {
		wg.Go(func() {
			name := fmt.Sprintf("group-%03d", g)
			var bytes int64
			recs := make([]Record, 0, restartPartitions)
			for done := 0; done < perGroup; {
				round := int64(done / restartPartitions)
				recs = recs[:0]
				for p := 0; p < restartPartitions && done < perGroup; p++ {
					r := offsetRec(name, restartTopic, int32(p), round)
					r.Offset.CommitTime = 1_700_000_000_000 + round
					recs = append(recs, r)
					done++
				}
				bytes += int64(len(recs)) * restartFrameBytes
				if err := s.Append(recs); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			total += bytes
			mu.Unlock()
		})
	}
	wg.Wait()
	if first != nil {
		tb.Fatal(first)
	}
	return total
}

// onDiskBytes is what OpenFileStore reads: the snapshot and the log, whole.
func onDiskBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	for _, name := range []string{snapshotName, logName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestFileStoreRestartBoundedByLiveState: after 200k commits over 100 groups × 50
// partitions and a kill -9 (the store is never closed), recovery loads at most one
// snapshot record per key and replays a tail bounded by the compaction threshold; the
// bytes read at open do not depend on how many commits were made. Every partition comes
// back with its last committed offset.
func TestFileStoreRestartBoundedByLiveState(t *testing.T) {
	const (
		commits = 200_000
		compact = 1 << 20
		keys    = restartGroups * restartPartitions
	)
	dir := t.TempDir()
	s := openStore(t, dir, compact)
	written := fillCommits(t, s, commits)
	// kill -9: s is abandoned without Close.

	read := onDiskBytes(t, dir)
	start := time.Now()
	s2 := openStore(t, dir, compact)
	openTime := time.Since(start)
	defer s2.Close()
	rep := s2.Report()

	frame := restartFrameBytes
	// One request's batch may land after the log crossed the threshold.
	maxTail := (compact + restartPartitions*frame) / frame
	maxSnap := int64(keys)*frame + snapHeaderLen
	t.Logf("%d commits (%d log bytes): open read %d bytes in %v; snapshot %d records, replayed %d, skipped %d",
		commits, written, read, openTime, rep.SnapshotRecords, rep.ReplayedRecords, rep.SkippedRecords)

	if rep.SnapshotRecords > keys {
		t.Fatalf("snapshot holds %d records for %d keys", rep.SnapshotRecords, keys)
	}
	if int64(rep.ReplayedRecords+rep.SkippedRecords) > maxTail {
		t.Fatalf("log tail of %d records exceeds the compaction bound %d", rep.ReplayedRecords+rep.SkippedRecords, maxTail)
	}
	if read > maxSnap+compact+restartPartitions*frame+logHeaderLen {
		t.Fatalf("open read %d bytes; bound is %d (snapshot) + %d (tail)", read, maxSnap, compact)
	}
	// The open's bound must be far below what was written, or the test shows nothing. (It
	// compares the bound, not the bytes read: those land anywhere under it, depending on
	// where the last compaction left the tail.)
	if bound := maxSnap + compact; written < 8*bound {
		t.Fatalf("test too small to show compaction: %d bytes written, open bound %d", written, bound)
	}
	if rep.TruncatedBytes != 0 {
		t.Fatalf("clean log truncated: %+v", rep)
	}

	st := loadAll(t, s2)
	if len(st.offsets) != restartGroups {
		t.Fatalf("%d groups after restart, want %d", len(st.offsets), restartGroups)
	}
	const rounds = commits / keys
	for g := range restartGroups {
		name := fmt.Sprintf("group-%03d", g)
		for p := range restartPartitions {
			v, ok := st.offsets[name][tp{restartTopic, int32(p)}]
			if !ok || v.Offset != rounds-1 || v.LeaderEpoch != 1 || v.Metadata != "m" {
				t.Fatalf("%s/%d after restart: %+v (present %v), want offset %d", name, p, v, ok, rounds-1)
			}
		}
	}

	// The bound does not move with more commits: another 100k leave the open as small.
	s3 := openStore(t, dir, compact)
	fillCommits(t, s3, commits/2)
	if again := onDiskBytes(t, dir); again > maxSnap+compact+restartPartitions*frame+logHeaderLen {
		t.Fatalf("after %d more commits open would read %d bytes", commits/2, again)
	}
	s3.Close()
}

// openGroups is the restart being measured: open the store and load the coordinator.
func openGroups(tb testing.TB, dir string) (*FileStore, *Coordinator) {
	s, err := OpenFileStore(FileConfig{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := New(Config{}, s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s, c
}

// BenchmarkGroupRestart measures the group subsystem's restart (OpenFileStore with the
// broker's default configuration plus coordinator load) on an empty directory and after
// 100k and 1M offset commits over 100 groups × 50 partitions; x-fresh is the ratio of a
// restart to the fresh start, ms-over-fresh the difference. (Run fresh first: with
// -bench matching only a commits=N case the ratios are left out.)
// Run with: go test -run '^$' -bench GroupRestart ./broker/group/
func BenchmarkGroupRestart(b *testing.B) {
	var freshNs float64 // ns/op of the fresh start, for the ratios
	b.Run("fresh", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dir, err := os.MkdirTemp(b.TempDir(), "fresh")
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			s, c := openGroups(b, dir)
			b.StopTimer()
			c.stop()
			s.Close()
			b.StartTimer()
		}
		freshNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	for _, commits := range []int{100_000, 1_000_000} {
		// Filled once, outside the sub-benchmark (which runs several times); the
		// store is abandoned without Close, as after kill -9.
		dir := b.TempDir()
		s, err := OpenFileStore(FileConfig{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		written := fillCommits(b, s, commits)
		read := onDiskBytes(b, dir)
		b.Run(fmt.Sprintf("commits=%d", commits), func(b *testing.B) {
			var rep RecoveryReport
			for b.Loop() {
				s, c := openGroups(b, dir)
				b.StopTimer()
				rep = s.Report()
				c.stop()
				s.Close()
				b.StartTimer()
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if fresh := freshNs; fresh > 0 {
				b.ReportMetric(ns/fresh, "x-fresh")
				b.ReportMetric((ns-fresh)/1e6, "ms-over-fresh")
			}
			b.ReportMetric(float64(read), "bytes-read/op")
			b.ReportMetric(float64(rep.SnapshotRecords+rep.ReplayedRecords+rep.SkippedRecords), "records-read/op")
			b.Logf("%d commits wrote %d log bytes; open reads %d bytes (snapshot %d records, log replayed %d, skipped %d)",
				commits, written, read, rep.SnapshotRecords, rep.ReplayedRecords, rep.SkippedRecords)
		})
	}
}

// Offset expiry (offsets.retention.minutes) and the removal of a deleted topic's offsets
// are written to the store: after a kill -9 and reopen of the FileStore they stay gone,
// and an Empty group's retention clock (the time it became empty) survives the restart.
func TestRetentionAndTopicDeletionSurviveFileStoreRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{OffsetsRetention: time.Hour}
		s := openStore(t, dir, 0)
		c := newTestCoordinator(t, s, cfg)
		commit(c, "old", "", -1, "t", 0, 1)
		commit(c, "keep", "", -1, "t", 0, 1)
		// A consumer group that commits, then its only member leaves: Empty from now on.
		resps := stableGroup(t, c, "left", joinOpts{})
		commit(c, "left", resps[0].MemberID, 1, "t", 0, 3)
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version, leave.Group = 5, "left"
		leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: resps[0].MemberID}}
		c.LeaveGroup(t.Context(), leave)
		synctest.Wait()
		if st := state(c, "left"); st != Empty {
			t.Fatalf("group after leave: %v", st)
		}
		time.Sleep(50 * time.Minute)
		commit(c, "keep", "", -1, "t", 0, 2)
		commit(c, "keep", "", -1, "gone", 0, 7)
		commit(c, "keep", "", -1, "gone", 1, 8)
		time.Sleep(11 * time.Minute)
		if n := c.ExpireOffsets(); n != 2 {
			t.Fatalf("expired %d, want 2 (old/t/0, left/t/0)", n)
		}
		if got := fetchOffset(c, "keep", "gone", 1).Offset; got != 8 {
			t.Fatalf("recent offset expired: %d", got)
		}
		c.TopicDeleted("gone")
		c.stop() // store abandoned without Close (kill -9)

		s2 := openStore(t, dir, 0)
		c2 := newTestCoordinator(t, s2, cfg)
		for _, g := range []string{"old", "left"} {
			if _, ok := c2.Describe(g); ok {
				t.Fatalf("expired group %q came back after restart", g)
			}
			if got := fetchOffset(c2, g, "t", 0).Offset; got != -1 {
				t.Fatalf("expired offset of %q came back: %d", g, got)
			}
		}
		for p := int32(0); p < 2; p++ {
			if got := fetchOffset(c2, "keep", "gone", p).Offset; got != -1 {
				t.Fatalf("offset of deleted topic came back: partition %d = %d", p, got)
			}
		}
		if got := fetchOffset(c2, "keep", "t", 0).Offset; got != 2 {
			t.Fatalf("live offset after restart: %d, want 2", got)
		}
		c2.stop()
		s2.Close()

		// Retention clock across restart: a consumer group that became Empty expires
		// offsets.retention after it became empty (Kafka's currentStateTimestamp), a time
		// that must survive the restart: neither the commit time nor the restart time.
		dir2 := filepath.Join(dir, "clock")
		s3 := openStore(t, dir2, 0)
		c3 := newTestCoordinator(t, s3, cfg)
		resps = stableGroup(t, c3, "g", joinOpts{})
		commit(c3, "g", resps[0].MemberID, 1, "t", 0, 9)
		// The member stays for 30 more minutes, so the commit is 30 min older than the
		// moment the group becomes Empty.
		for range 360 {
			time.Sleep(5 * time.Second)
			if code := heartbeat(c3, "g", resps[0].MemberID, 1, ""); code != 0 {
				t.Fatalf("heartbeat: %d", code)
			}
		}
		leave.Group = "g"
		leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: resps[0].MemberID}}
		c3.LeaveGroup(t.Context(), leave)
		synctest.Wait()
		if st := state(c3, "g"); st != Empty {
			t.Fatalf("group after leave: %v", st)
		}
		time.Sleep(45 * time.Minute) // commit 75 min old, group Empty for 45
		c3.stop()

		s4 := openStore(t, dir2, 0)
		c4 := newTestCoordinator(t, s4, cfg)
		if n := c4.ExpireOffsets(); n != 0 {
			t.Fatalf("expired %d offsets 45 min after the group emptied", n)
		}
		time.Sleep(16 * time.Minute)
		if n := c4.ExpireOffsets(); n != 1 {
			t.Fatalf("expired %d offsets 61 min after the group emptied (restart at 45), want 1", n)
		}
		c4.stop()
		s4.Close()
		s5 := openStore(t, dir2, 0)
		c5 := newTestCoordinator(t, s5, cfg)
		if _, ok := c5.Describe("g"); ok {
			t.Fatal("expired empty group came back after a second restart")
		}
		c5.stop()
		s5.Close()
	})
}
