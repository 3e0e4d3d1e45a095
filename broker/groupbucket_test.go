package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/memstore"
)

// A clean stop uploads the groups' last state whatever the interval, and a broker started
// on an empty data dir with the same bucket has the committed offsets and the topic (not
// tiered: restored empty, with its configs).
func TestGroupsUploadedOnStopAndRestored(t *testing.T) {
	store := memstore.New()
	open := func(dir string) *Broker {
		t.Helper()
		bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir,
			"strata.remote.groups.upload.interval.ms": "3600000"})
		if err != nil {
			t.Fatal(err)
		}
		bc.RemoteStore = store
		b, err := New(bc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open(t.TempDir())
	done := make(chan error, 1)
	go func() { done <- b.Run(t.Context()) }()
	ret := "3600000"
	tp, err := b.createTopic("plain", 2, map[string]string{"retention.ms": ret}, false)
	if err != nil {
		t.Fatal(err)
	}
	// Not tiered: its topic.json is written in the background.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := store.Stat(t.Context(), tiering.TopicManifestKey("", "plain", tp.ID)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no topic.json for the local-only topic")
		}
	}
	// Five records in partition 1: a clean stop records its exact end for the restore.
	bt := testBatch(t, codecNone, 1000, make([]int64, 5), false)
	h, _ := segment.DecodeBatchHeader(bt)
	if _, err := tp.partition(1).Append(bt, h, time.Now(), true); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation = 8, "g", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "plain"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 1, 42
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if code := b.groups.OffsetCommit(t.Context(), req).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit: error %d", code)
	}
	if _, err := store.Stat(t.Context(), tiering.GroupsSnapshotKey("")); err == nil {
		t.Fatal("uploaded before the interval or the stop")
	}
	b.Close()
	<-done
	if _, err := store.Stat(t.Context(), tiering.GroupsSnapshotKey("")); err != nil {
		t.Fatalf("not uploaded on a clean stop: %v", err)
	}

	b = open(t.TempDir())
	defer b.Close()
	fr := kmsg.NewPtrOffsetFetchRequest()
	fr.Version, fr.Group = 7, "g"
	got := b.groups.OffsetFetch(t.Context(), fr)
	var off int64 = -1
	for _, t := range got.Topics {
		for _, p := range t.Partitions {
			if t.Topic == "plain" && p.Partition == 1 {
				off = p.Offset
			}
		}
	}
	if off != 42 {
		t.Fatalf("restored group offset %d, want 42 (%+v)", off, got)
	}
	tp = b.lookupTopic("plain")
	if tp == nil || tp.numPartitions() != 2 || tp.configOverrides()["retention.ms"] != ret {
		t.Fatalf("restored topic: %+v", tp)
	}
	// Empty, and partition 1 continues after the offsets it had handed out.
	for i, want := range []int64{0, 5} {
		if p := tp.partition(int32(i)); p.HighWatermark() != want || p.LogStartOffset() != want {
			t.Errorf("restored partition %d: start %d, end %d; want both %d", i, p.LogStartOffset(), p.HighWatermark(), want)
		}
	}
}

// The recorded log end of a partition that is not tiered reserves twice what was appended
// since the last record (as tiered partitions' watermarks do), never less than before, and
// a clean stop records the exact end.
func TestLocalWatermarkReservation(t *testing.T) {
	store := memstore.New()
	bc, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bc.RemoteStore = store
	b, err := New(bc)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tp, err := b.createTopic("lw", 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	f := func(appendN int, final bool, wantEnd, wantReserved int64) {
		t.Helper()
		if appendN > 0 {
			bt := testBatch(t, codecNone, 1000, make([]int64, appendN), false)
			h, _ := segment.DecodeBatchHeader(bt)
			if _, err := tp.partition(0).Append(bt, h, time.Now(), true); err != nil {
				t.Fatal(err)
			}
		}
		b.writeLocalWatermarks(t.Context(), final)
		w, err := tiering.ReadWatermark(t.Context(), store, tiering.PartitionPrefix("", "lw", tp.ID, 0))
		if err != nil || w.LogEnd != wantEnd || w.ReservedEnd != wantReserved {
			t.Fatalf("watermark %+v, %v; want end %d reserved %d", w, err, wantEnd, wantReserved)
		}
	}
	f(10, false, 10, 30)
	f(5, false, 15, 30)
	f(20, false, 35, 75)
	f(0, false, 35, 75) // unchanged: not rewritten
	f(0, true, 35, 35)
}
