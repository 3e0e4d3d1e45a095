package reliability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering/fsstore"
)

// flipBit inverts one bit of the file at off.
func flipBit(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// produceValues produces n records "v<i>" of about 200 bytes to topic partition 0, ten per
// batch, acks=-1.
func produceValues(t testing.TB, cl *kgo.Client, topic string, n int) {
	t.Helper()
	for i := 0; i < n; i += 10 {
		var recs []*kgo.Record
		for j := i; j < min(i+10, n); j++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d-%s", j, strings.Repeat("x", 200))})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// consumeCheck reads partition 0 of topic from offset 0 for d with franz-go and returns
// the offsets it was given as data (each checked to hold its own value) and the errors
// the client reported.
func consumeCheck(t testing.TB, addr, topic string, d time.Duration) (offsets []int64, errs []error) {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchMaxPartitionBytes(4096))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && len(errs) < 3 {
				errs = append(errs, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("v%d-", r.Offset)
			if !strings.HasPrefix(string(r.Value), want) {
				t.Errorf("offset %d served as data with value %.20q: corruption reached the consumer", r.Offset, r.Value)
			}
			offsets = append(offsets, r.Offset)
		})
	}
	return offsets, errs
}

// TestCorruptLocalSegmentIsNotServed flips a bit inside a record of a sealed local
// segment. The consumer must not get the batch as data: franz-go reads the records before
// it and reports an error for the rest instead. The check that catches it is the
// client's CRC validation of fetched batches: the local hot path (sendfile) does not
// re-verify CRCs, as Kafka does not; the uploader does verify before uploading, so a
// rotten local segment never reaches the bucket. Clients that skip CRC checks
// (librdkafka's check.crcs=false default) are not protected by this test.
func TestCorruptLocalSegmentIsNotServed(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir, nil, nil)
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("rot"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(t, cl, "rot", 1, map[string]string{"segment.bytes": "8192"})
	produceValues(t, cl, "rot", 200)
	seg := filepath.Join(dir, "rot-0", "00000000000000000000.log")
	// Batch 0 holds offsets 0-9; bytes 61.. are its records. Flip a bit in the second
	// batch's records (the first batch is ~2 KiB): find its start from the batch length.
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	second := 12 + int64(uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11]))
	flipBit(t, seg, second+61+100)

	offsets, errs := consumeCheck(t, tb.addr, "rot", 3*time.Second)
	t.Logf("read %d records; errors: %v", len(offsets), errs)
	for _, o := range offsets {
		if o >= 10 && o < 20 {
			t.Fatalf("offset %d of the corrupted batch was served as data", o)
		}
	}
	if len(errs) == 0 {
		t.Fatalf("the consumer got no error for the corrupted batch")
	}
	if len(offsets) < 10 {
		t.Errorf("the records before the corrupted batch were not served (%d)", len(offsets))
	}
}

// TestCorruptRemoteObjectIsNotServed flips a bit in the record bytes of an uploaded
// segment object (fs store) after the local copy was deleted. The remote reader checks
// every batch's CRC: the consumer gets KAFKA_STORAGE_ERROR, never the batch.
func TestCorruptRemoteObjectIsNotServed(t *testing.T) {
	root := t.TempDir()
	store, err := fsstore.New(root)
	if err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, t.TempDir(), map[string]string{
		"log.retention.check.interval.ms": "50",
		"remote.log.upload.interval.ms":   "50",
	}, func(c *broker.Config) { c.RemoteStore = store })
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic("rot-remote"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(t, cl, "rot-remote", 1, map[string]string{
		"remote.storage.enable": "true",
		"segment.bytes":         "8192",
		"local.retention.bytes": "1",
		"retention.ms":          "-1",
	})
	produceValues(t, cl, "rot-remote", 300)
	waitFor(t, 20*time.Second, "offset 0 to be remote only", func() bool {
		ps := tb.Snapshot(context.Background()).Topics[0].Partitions[0]
		return ps.LocalStartOffset > 20 && ps.RemoteStartOffset == 0
	})
	var obj string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), "00000000000000000000-") && strings.HasSuffix(d.Name(), ".log") {
			obj = p
		}
		return nil
	})
	if obj == "" {
		t.Fatal("no object for segment 0 in the fs store")
	}
	flipBit(t, obj, 61+100) // a record of the first batch (offsets 0-9)

	raw := rawClient(t, tb.addr)
	var code int16
	waitFor(t, 10*time.Second, "an answer for offset 0", func() bool {
		c, n := fetchOnce(t, raw, "rot-remote", 0, 0)
		if c == 0 && n > 0 {
			t.Fatalf("the corrupted remote batch was served as data")
		}
		code = c
		return c != 0
	})
	if code != kerr.KafkaStorageError.Code {
		t.Fatalf("fetch of the corrupted remote batch: code %d, want KAFKA_STORAGE_ERROR", code)
	}
	offsets, errs := consumeCheck(t, tb.addr, "rot-remote", 2*time.Second)
	if len(offsets) > 0 {
		t.Fatalf("franz-go was served %d records starting in the corrupted batch (first %d)", len(offsets), offsets[0])
	}
	t.Logf("franz-go consumer: no records, errors %v", errs)
	// Offsets past the corrupted object are still readable.
	if c, n := fetchOnce(t, raw, "rot-remote", 0, 250); c != 0 || n == 0 {
		t.Fatalf("fetch past the corruption: code %d, %d bytes", c, n)
	}
}
