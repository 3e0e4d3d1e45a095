package reliability

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering/s3store"
)

// lockedBuffer collects a broker's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// remoteObject is one uploaded segment data object.
type remoteObject struct {
	key        string
	base       int64
	data       []byte
	batchPos   []int64 // position of each batch
	batchBase  []int64 // base offset of each batch
	lastOffset int64
}

// TestCorruptRemoteBatchHeaderMinIO damages one header field of a batch in the middle of
// an uploaded segment object - each field the batch CRC-32C does not cover, and some it
// does - by rewriting the object through the S3 API of a real MinIO, one segment per
// damage. A franz-go consumer reading each segment from its base offset gets exactly the
// records before the damaged batch, each at its own offset, and nothing after; a fetch at
// the damaged offset is answered with the retriable KAFKA_STORAGE_ERROR, and the broker
// logs an ERROR naming the topic, the object and the offset.
func TestCorruptRemoteBatchHeaderMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	damages := []struct {
		name string
		hit  func(b []byte) // b starts at the damaged batch
	}{
		{"base offset +1", func(b []byte) { binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(b)+1) }},
		{"base offset -2", func(b []byte) { binary.BigEndian.PutUint64(b, binary.BigEndian.Uint64(b)-2) }},
		{"base offset high byte", func(b []byte) { b[0] ^= 0x01 }},
		{"batch length", func(b []byte) { b[11] ^= 0x04 }},
		{"partition leader epoch", func(b []byte) { b[12] ^= 0x7f }},
		{"magic", func(b []byte) { b[16] ^= 0x03 }},
		{"crc", func(b []byte) { b[19] ^= 0x10 }},
		{"last offset delta", func(b []byte) { b[26] ^= 0x01 }},
		{"record value", func(b []byte) { b[len(b)/2] ^= 0x01 }}, // the case the CRC always caught
	}

	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	store, err := s3store.New(t.Context(), s3store.Config{
		Bucket: bucket, Region: miniotest.Region, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	tb := startBroker(t, t.TempDir(), map[string]string{
		"log.retention.check.interval.ms": "50",
		"remote.log.upload.interval.ms":   "50",
		// The header and CRC checks are what is tested: the SHA-256 check would refuse
		// the whole chunk holding the damage first (TestTierTamperDetectedMinIO in
		// cmd/strata covers it); these checks protect segments uploaded before the hashes.
		"strata.remote.log.verify.hashes": "false",
	}, func(c *broker.Config) {
		c.RemoteStore = store
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	const topic = "rot-header"
	cl := newClient(t, tb.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(t, cl, topic, 1, map[string]string{
		"remote.storage.enable": "true",
		"segment.bytes":         "16384", // seven batches of ten ~210-byte records
		"local.retention.bytes": "1",
		"retention.ms":          "-1",
	})
	segs := len(damages) + 3 // one good segment first, spares, the active one
	produceValues(t, cl, topic, segs*70)

	// The objects of sealed segments with a batch in the middle (all of them but a few
	// cut short by a roll), once none of those is local any more.
	var objs []remoteObject
	waitFor(t, 60*time.Second, "the segments to damage to be remote only", func() bool {
		objs = objs[:0]
		for _, o := range listSegmentObjects(t, srv, bucket) {
			if len(o.batchPos) >= 3 {
				objs = append(objs, o)
			}
		}
		ps := tb.Snapshot(context.Background()).Topics[0].Partitions[0]
		return len(objs) >= len(damages)+1 && ps.LocalStartOffset > objs[len(damages)].lastOffset
	})
	// Damage every object before any read, so that no chunk of them is cached intact.
	damaged := func(o remoteObject, hit func([]byte)) int {
		k := len(o.batchPos) / 2
		b := bytes.Clone(o.data)
		hit(b[o.batchPos[k]:o.batchPos[k+1]])
		if _, err := srv.Client.PutObject(t.Context(), bucket, o.key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	ks := make([]int, len(damages))
	for i, d := range damages {
		ks[i] = damaged(objs[i+1], d.hit)
	}

	// The segment before the damaged ones is served whole.
	if got := consumeRange(t, tb.addr, topic, objs[0].base, objs[0].lastOffset+1, 0); got.next <= objs[0].lastOffset {
		t.Fatalf("the intact segment [%d, %d] was served up to %d (errors %v)", objs[0].base, objs[0].lastOffset, got.next, got.errs)
	}
	raw := rawClient(t, tb.addr)
	for i, d := range damages {
		o, k := objs[i+1], ks[i]
		bad := o.batchBase[k]
		t.Run(d.name, func(t *testing.T) {
			// franz-go retries KAFKA_STORAGE_ERROR without reporting it: it is given the
			// records before the damage and then nothing, however long it waits.
			got := consumeRange(t, tb.addr, topic, o.base, bad, 2*time.Second)
			t.Logf("segment %d, damaged batch at offset %d: served [%d, %d), errors %v", o.base, bad, o.base, got.next, got.errs)
			if got.next != bad {
				t.Fatalf("the records before the damaged batch were served up to %d, want up to %d", got.next, bad)
			}
			if code, n := fetchOnce(t, raw, topic, 0, bad); code != kerr.KafkaStorageError.Code || n != 0 {
				t.Fatalf("fetch at the damaged batch's offset %d: code %d with %d bytes, want KAFKA_STORAGE_ERROR", bad, code, n)
			}
			waitFor(t, 10*time.Second, "an ERROR log line naming the object and offset", func() bool {
				for _, line := range strings.Split(logs.String(), "\n") {
					if strings.Contains(line, "level=ERROR") && strings.Contains(line, "object="+o.key) &&
						strings.Contains(line, fmt.Sprintf("offset=%d", bad)) && strings.Contains(line, "topic="+topic) {
						return true
					}
				}
				return false
			})
		})
	}
}

// listSegmentObjects returns the segment data objects in the bucket, by base offset, with
// their batches.
func listSegmentObjects(t *testing.T, srv *miniotest.Server, bucket string) []remoteObject {
	t.Helper()
	var objs []remoteObject
	for info := range srv.Client.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if info.Err != nil {
			t.Fatal(info.Err)
		}
		name := path.Base(info.Key)
		if !strings.HasSuffix(name, ".log") || len(name) < 21 {
			continue
		}
		base, err := strconv.ParseInt(name[:20], 10, 64)
		if err != nil {
			continue
		}
		r, err := srv.Client.GetObject(t.Context(), bucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		o := remoteObject{key: info.Key, base: base, data: data}
		for pos := int64(0); pos < int64(len(data)); {
			h, err := segment.DecodeBatchHeader(data[pos:])
			if err != nil {
				t.Fatalf("%s at %d: %v", info.Key, pos, err)
			}
			o.batchPos, o.batchBase, o.lastOffset = append(o.batchPos, pos), append(o.batchBase, h.BaseOffset), h.LastOffset()
			pos += h.Size()
		}
		objs = append(objs, o)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].base < objs[j].base })
	return objs
}

type consumed struct {
	next int64   // the offset after the contiguous records served from the start
	errs []error // fetch errors the client reported
}

// consumeRange consumes partition 0 of topic with franz-go from offset from until it was
// served every offset below to, then for grace more (to see that nothing else comes). It
// fails t after 30 seconds without reaching to, and on any record that is not at the next
// offset or does not hold its own value ("v<offset>-").
func consumeRange(t *testing.T, addr, topic string, from, to int64, grace time.Duration) consumed {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchMaxPartitionBytes(4096))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := consumed{next: from}
	reached := false
	for ctx.Err() == nil {
		if c.next >= to && !reached {
			reached = true
			var stop context.CancelFunc
			ctx, stop = context.WithTimeout(context.Background(), grace)
			defer stop()
		}
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && len(c.errs) < 3 {
				c.errs = append(c.errs, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != c.next {
				t.Errorf("record at offset %d, expected %d: offsets moved", r.Offset, c.next)
			}
			if want := fmt.Sprintf("v%d-", r.Offset); !strings.HasPrefix(string(r.Value), want) {
				t.Errorf("offset %d served with value %.20q: corruption reached the consumer", r.Offset, r.Value)
			}
			c.next = max(c.next, r.Offset+1)
		})
	}
	if !reached {
		t.Fatalf("consumer from %d reached only %d in 30 s, want %d (errors %v)", from, c.next, to, c.errs)
	}
	return c
}
