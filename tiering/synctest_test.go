package tiering_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/tiering"
)

// memLog is an in-memory local log of sealed segments (the tier only reads it).
type memLog struct {
	segs []segment.SegmentInfo
	data map[int64][]byte
}

func newMemLog(nsegs, batches int) *memLog {
	l := &memLog{data: make(map[int64][]byte)}
	off := int64(0)
	for range nsegs {
		base := off
		var buf []byte
		for range batches {
			b := segmenttest.Batch(1000+off, []byte("v"))
			binary.BigEndian.PutUint64(b, uint64(off))
			buf = append(buf, b...)
			off++
		}
		l.data[base] = buf
		l.segs = append(l.segs, segment.SegmentInfo{BaseOffset: base, NextOffset: off, Size: int64(len(buf)), Sealed: true})
	}
	l.segs = append(l.segs, segment.SegmentInfo{BaseOffset: off, NextOffset: off}) // active
	return l
}

func (l *memLog) Segments() []segment.SegmentInfo { return l.segs }
func (l *memLog) LogStartOffset() int64           { return 0 }
func (l *memLog) NextOffset() int64               { return l.segs[len(l.segs)-1].BaseOffset }
func (l *memLog) Dir() string                     { return "" }
func (l *memLog) SegmentsFrom(offset int64) []segment.SegmentInfo {
	for i, s := range l.segs {
		if s.NextOffset > offset || i == len(l.segs)-1 {
			return l.segs[i:]
		}
	}
	return nil
}
func (l *memLog) Read(offset int64, maxBytes int, minOneBatch bool) (segment.ReadResult, error) {
	b := l.data[offset]
	return segment.ReadResult{File: bytes.NewReader(b), Size: int64(len(b)), FirstOffset: offset}, nil
}

// putCounter fails every Put until healed, counting attempts on data objects.
type putCounter struct {
	tiering.ObjectStore
	healed   atomic.Bool
	attempts atomic.Int64
}

func (s *putCounter) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if !s.healed.Load() {
		if strings.HasSuffix(key, ".log") { // one per upload attempt (its objects go up concurrently)
			s.attempts.Add(1)
		}
		return errInjected
	}
	return s.ObjectStore.Put(ctx, key, r, size)
}

func (s *putCounter) PutIf(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) (string, error) {
	return s.ObjectStore.(tiering.ConditionalPutter).PutIf(ctx, key, r, size, ifMatch)
}

// The uploader backs off exponentially (RetryBackoff doubling up to RetryMaxBackoff) while
// the bucket is down, forever, and uploads everything once it is back; in virtual time.
func TestUploadRetryBackoffInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &putCounter{ObjectStore: newMem()}
		c, err := cache.New(cache.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cfg := tiering.Config{RetryBackoff: 100 * time.Millisecond, RetryMaxBackoff: 3200 * time.Millisecond,
			CheckInterval: time.Hour, OrphanSweepInterval: -1}
		m, err := tiering.NewManager(cfg, st, c, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		l := newMemLog(3, 20)
		p, err := m.OpenPartitionLocal(t.Context(), "vt", testTopicID, 0, l, tiering.PartitionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx) }()

		// Attempts at 0, .1, .3, .7, 1.5, 3.1, 6.3, 9.5, 12.7 ... (backoff 100ms doubling, capped at 3.2s).
		time.Sleep(6400 * time.Millisecond)
		synctest.Wait()
		if n := st.attempts.Load(); n != 7 {
			t.Fatalf("%d upload attempts in 6.4s of outage, want 7 (exponential backoff)", n)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := st.attempts.Load(); n < 7+180 || n > 7+190 {
			t.Fatalf("%d attempts after 10 more minutes, want one per 3.2s cap", n)
		}
		for _, s := range l.segs[:3] {
			if p.Uploaded(s) {
				t.Fatal("uploaded during the outage")
			}
		}
		st.healed.Store(true)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		for _, s := range l.segs[:3] {
			if !p.Uploaded(s) {
				t.Fatalf("segment %d not uploaded after the outage", s.BaseOffset)
			}
		}
		cancel()
		<-done
	})
}
