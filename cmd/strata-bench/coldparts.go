package main

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// coldPartitionsPhase replays, for each count in -cold-partitions, a topic of that many
// partitions that lives only in the bucket, on a restarted broker (empty cache), with one
// consumer; and compares it with raw GETs of the same segment objects at the same
// concurrency (one stream per partition). For each count in -rss-partitions it replays
// again with remote.log.cache.bytes at -rss-cache-mib and reports the broker's peak RSS
// against the cache budget + 64 MiB (issue 21, targets 1 and 2).
func (b *bench) coldPartitionsPhase(ctx context.Context, round int, bucket string, child func() *brokerChild,
	restart func(extra map[string]string, topics ...string) error, prof func(string, func() error) error, cacheMiB int64) error {
	counts := map[int]bool{}
	for _, n := range b.o.coldPartitions {
		counts[n] = true
	}
	for _, n := range b.o.rssPartitions {
		counts[n] = true
	}
	topics := map[int]string{}
	one, seg := "1", strconv.FormatInt(b.o.segmentBytes, 10)
	zero, on := "0", "true"
	nCold := b.records(b.o.coldMiB)
	pool := newValuePool(nCold, b.o.recordSize)
	for _, n := range sortedKeys(counts) {
		topic := fmt.Sprintf("cold-r%d-p%d", round, n)
		if err := createTopic(ctx, child().Addr, topic, int32(n), map[string]*string{
			"remote.storage.enable": &on, "segment.bytes": &seg,
			"local.retention.bytes": &one, "local.retention.ms": &zero,
		}); err != nil {
			return err
		}
		if _, err := produceN(ctx, child().Addr, topic, 1, nCold, pool); err != nil {
			return err
		}
		if err := waitOffloaded(ctx, child().Addr, topic, int32(n), 120*time.Second); err != nil {
			return err
		}
		topics[n] = topic
	}
	for _, n := range b.o.coldPartitions {
		topic := topics[n]
		_, rawMBps, err := rawGetTopicParallel(ctx, b.minio.Client, bucket, topic)
		if err != nil {
			return err
		}
		b.rep.add(round, "limit", fmt.Sprintf("raw GET of the cold topic's segments, %d streams (%dp)", n, n), "MB/s", rawMBps)
		if err := restart(nil, topic); err != nil {
			return err
		}
		var res produceResult
		if err := prof(fmt.Sprintf("cold-consume-%dp", n), func() (err error) {
			res, err = consumeAll(ctx, child().Addr, topic, "", int64(nCold))
			return err
		}); err != nil {
			return err
		}
		b.rep.add(round, "strata", fmt.Sprintf("cold consume %dp (MinIO, empty cache)", n), "MB/s", res.mbps())
	}
	for _, n := range b.o.rssPartitions {
		topic := topics[n]
		// A cache smaller than two chunks per partition read at once cannot bound memory:
		// each reader holds the chunk it reads and the one a batch crosses into, cached or
		// not. The cache is raised to that (the metric names the cache used).
		cacheMiB := max(cacheMiB, int64(n)*2*b.o.chunkMiB)
		if err := restart(map[string]string{"remote.log.cache.bytes": strconv.FormatInt(cacheMiB<<20, 10)}, topic); err != nil {
			return err
		}
		c := child()
		idle, _ := c.Stats()
		c.ResetPeakRSS()
		var res produceResult
		if err := prof(fmt.Sprintf("cold-rss-%dp", n), func() (err error) {
			res, err = consumeAll(ctx, c.Addr, topic, "", int64(nCold))
			return err
		}); err != nil {
			return err
		}
		peak, _ := c.Stats()
		name := fmt.Sprintf("cold replay %dp, cache %d MiB", n, cacheMiB)
		b.rep.add(round, "strata", name+": throughput", "MB/s", res.mbps())
		b.rep.add(round, "strata", name+": broker peak RSS", "MiB", float64(peak.VMHWMKiB)/1024)
		b.rep.add(round, "strata", name+": broker peak live heap (GC-marked)", "MiB", float64(peak.PeakLiveHeap)/(1<<20))
		b.rep.add(round, "strata", name+": broker peak heap in use (live + garbage)", "MiB", float64(peak.PeakHeapObjects)/(1<<20))
		b.rep.add(round, "strata", name+": broker RSS before", "MiB", float64(idle.VMRSSKiB)/1024)
		b.rep.add(round, "strata", name+": RSS target (cache + 64 MiB)", "MiB", float64(cacheMiB+64))
	}
	return nil
}

func sortedKeys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// rawGetTopicParallel GETs every segment data object (.log) of topic, one stream per
// partition (each stream GETs its partition's objects one after the other, as a consumer
// reads them), and returns the bytes and the aggregate MB/s.
func rawGetTopicParallel(ctx context.Context, cl *minio.Client, bucket, topic string) (int64, float64, error) {
	byPart := map[string][]string{}
	for obj := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			return 0, 0, obj.Err
		}
		if strings.HasSuffix(obj.Key, ".log") && strings.Contains(obj.Key, topic+"-") {
			dir := path.Dir(obj.Key)
			byPart[dir] = append(byPart[dir], obj.Key)
		}
	}
	if len(byPart) == 0 {
		return 0, 0, fmt.Errorf("no segment objects of %s in bucket %s", topic, bucket)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		first error
	)
	start := time.Now()
	for _, keys := range byPart {
		wg.Go(func() {
			for _, k := range keys { // listed in key order: base offsets ascending
				n, err := getObject(ctx, cl, bucket, k)
				mu.Lock()
				total += n
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, 0, first
	}
	return total, float64(total) / 1e6 / time.Since(start).Seconds(), nil
}
