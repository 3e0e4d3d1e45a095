package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/strata-io/strata/test/miniotest"
)

// bench holds what lives for the whole run: MinIO, kfake, nats-server, the scratch dir.
type bench struct {
	o       options
	rep     *report
	minio   *miniotest.Server
	fake    *kfake.Cluster
	natsSrv *natsServer
	natsBin string
	scratch string // broker data dirs, disk-limit file, NATS store: all on one filesystem
	pool    *valuePool

	kafkaPeer *kafkaPeer // Apache Kafka (kafkapeer.go); nil: skipped
	kafkaJava string     // test/java, when its Kafka jars and java are there ("": no perf tools)
	lastCPU   float64    // broker CPU seconds of the last phase measured (measured)
}

func newBench(ctx context.Context, o options, rep *report) (*bench, error) {
	b := &bench{o: o, rep: rep}
	var err error
	if b.scratch, err = os.MkdirTemp("", "strata-bench-"); err != nil {
		return nil, err
	}
	if b.minio, err = miniotest.New(); err != nil {
		b.Close()
		return nil, err
	}
	if !o.skipKfake {
		if b.fake, err = kfake.NewCluster(kfake.NumBrokers(1)); err != nil {
			b.Close()
			return nil, fmt.Errorf("cannot start kfake: %w", err)
		}
	}
	if o.natsBin != "" {
		if _, err := os.Stat(o.natsBin); err != nil {
			fmt.Fprintf(os.Stderr, "strata-bench: no %s (GOBIN=$PWD/bin go install github.com/nats-io/nats-server/v2@%s); skipping the NATS peer\n", o.natsBin, NATSVersion)
		} else {
			b.natsBin = o.natsBin
			if b.natsSrv, err = startNATS(o.natsBin, b.scratch); err != nil {
				b.Close()
				return nil, err
			}
		}
	}
	if o.kafkaJavaDir != "" {
		if err := kafkaTools(o.kafkaJavaDir); err != nil {
			fmt.Fprintf(os.Stderr, "strata-bench: %v; skipping the Apache Kafka peer and its perf tools\n", err)
		} else {
			b.kafkaJava = o.kafkaJavaDir
			t0 := time.Now()
			if b.kafkaPeer, err = startKafkaPeer(ctx, o.kafkaJavaDir, b.scratch, o.kafkaHeap); err != nil {
				b.Close()
				return nil, err
			}
			rep.add(1, "kafka", "start-up (process start to Metadata answered)", "ms", ms(time.Since(t0)))
		}
	}
	b.pool = newValuePool(b.records(o.mib), o.recordSize)
	return b, nil
}

func (b *bench) Close() {
	if b.kafkaPeer != nil {
		b.kafkaPeer.Stop()
	}
	if b.natsSrv != nil {
		b.natsSrv.Stop()
	}
	if b.fake != nil {
		b.fake.Close()
	}
	if b.minio != nil {
		b.minio.Close()
	}
	if b.scratch != "" {
		os.RemoveAll(b.scratch)
	}
}

func (b *bench) records(mib float64) int {
	return max(1, int(mib*(1<<20)/float64(b.o.recordSize)))
}

func (b *bench) limits(ctx context.Context, round int) error {
	if b.o.phase("latency") {
		rate := strconv.FormatFloat(b.o.latencyRate, 'f', 0, 64)
		p50, p99, p999, err := fsyncLatency(b.scratch, b.o.recordSize+70, b.o.latencyRate, min(b.o.latencyDur, 3*time.Second))
		if err != nil {
			return fmt.Errorf("fsync latency: %w", err)
		}
		b.rep.add(round, "limit", "produce ack p50 @"+rate+"/s acks=-1", "ms", p50)
		b.rep.add(round, "limit", "produce ack p99 @"+rate+"/s acks=-1", "ms", p99)
		b.rep.add(round, "limit", "produce ack p999 @"+rate+"/s acks=-1", "ms", p999)
	}
	if !b.o.phase("limits") {
		return nil
	}
	disk, err := diskLimit(b.scratch, b.o.diskMiB<<20)
	if err != nil {
		return fmt.Errorf("disk limit: %w", err)
	}
	b.rep.add(round, "limit", "disk write, fdatasync per MiB", "MB/s", disk)
	tcp, err := tcpLimit(b.o.tcpMiB << 20)
	if err != nil {
		return fmt.Errorf("tcp limit: %w", err)
	}
	b.rep.add(round, "limit", "loopback TCP", "MB/s", tcp)
	put, get, err := s3Limits(ctx, b.minio.Client, b.minio.Bucket, b.o.s3Sizes)
	if err != nil {
		return fmt.Errorf("minio limits: %w", err)
	}
	b.rep.add(round, "limit", "MinIO PUT, 8-64 MiB objects", "MB/s", put)
	b.rep.add(round, "limit", "MinIO GET, 8-64 MiB objects", "MB/s", get)
	return nil
}

// kafkaPhases runs the workloads both Strata and kfake get. prof wraps each phase (Strata's
// child records a profile; kfake's is a no-op).
func (b *bench) kafkaPhases(ctx context.Context, round int, target, addr string, prof func(string, func() error) error) error {
	n := b.records(b.o.mib)
	if err := b.producePhases(ctx, round, target, addr, prof, n); err != nil {
		return err
	}
	if b.o.phase("latency") {
		return b.latencyPhase(ctx, round, target, addr, prof)
	}
	return nil
}

func (b *bench) producePhases(ctx context.Context, round int, target, addr string, prof func(string, func() error) error, n int) error {
	if !b.o.phase("produce") {
		return nil
	}
	for _, c := range []struct {
		parts int32
		acks  int
	}{{1, -1}, {1, 1}, {8, -1}, {8, 1}} {
		topic := fmt.Sprintf("produce-%dp-acks%d-r%d", c.parts, c.acks, round)
		if err := createTopic(ctx, addr, topic, c.parts, nil); err != nil {
			return err
		}
		name := fmt.Sprintf("produce %dp acks=%d", c.parts, c.acks)
		var res produceResult
		err := prof(fmt.Sprintf("produce-%dp-acks%d", c.parts, c.acks), func() (err error) {
			res, err = produceN(ctx, addr, topic, c.acks, n, b.pool)
			return err
		})
		if err != nil {
			return err
		}
		b.rep.add(round, target, name, "MB/s", res.mbps())
		b.addPerCPU(round, target, name, res)
	}
	defer func() {
		for _, c := range []struct{ parts, acks int }{{1, -1}, {1, 1}, {8, -1}, {8, 1}} {
			deleteTopic(ctx, addr, fmt.Sprintf("produce-%dp-acks%d-r%d", c.parts, c.acks, round))
		}
	}()
	for _, parts := range []int{1, 8} {
		if !b.o.phase("consume") {
			break
		}
		topic := fmt.Sprintf("produce-%dp-acks-1-r%d", parts, round)
		var res produceResult
		err := prof(fmt.Sprintf("consume-%dp", parts), func() (err error) {
			res, err = consumeAll(ctx, addr, topic, "", int64(n))
			return err
		})
		if err != nil {
			return err
		}
		b.rep.add(round, target, fmt.Sprintf("hot consume %dp", parts), "MB/s", res.mbps())
		b.addPerCPU(round, target, fmt.Sprintf("hot consume %dp", parts), res)
	}
	if b.o.phase("group") {
		topic := fmt.Sprintf("produce-8p-acks-1-r%d", round)
		var res produceResult
		err := prof("group-catchup-8p", func() (err error) {
			res, err = consumeAll(ctx, addr, topic, fmt.Sprintf("catchup-r%d", round), int64(n))
			return err
		})
		if err != nil {
			return err
		}
		b.rep.add(round, target, "group catch-up 8p (join + read)", "MB/s", res.mbps())
		b.rep.add(round, target, "group catch-up 8p: join to first record", "ms", 1000*res.firstRecord)
	}
	return nil
}

func (b *bench) latencyPhase(ctx context.Context, round int, target, addr string, prof func(string, func() error) error) error {
	topic := fmt.Sprintf("latency-r%d", round)
	if err := createTopic(ctx, addr, topic, 1, nil); err != nil {
		return err
	}
	var lat latencyResult
	err := prof("latency", func() (err error) {
		lat, err = latencyAt(ctx, addr, topic, b.o.latencyRate, b.o.latencyDur, b.o.recordSize)
		return err
	})
	if err != nil {
		return err
	}
	rate := strconv.FormatFloat(b.o.latencyRate, 'f', 0, 64)
	b.rep.add(round, target, "produce ack p50 @"+rate+"/s acks=-1", "ms", lat.ackP50)
	b.rep.add(round, target, "produce ack p99 @"+rate+"/s acks=-1", "ms", lat.ackP99)
	b.rep.add(round, target, "produce ack p999 @"+rate+"/s acks=-1", "ms", lat.ackP999)
	b.rep.add(round, target, "end-to-end p50 @"+rate+"/s acks=-1", "ms", lat.e2eP50)
	b.rep.add(round, target, "end-to-end p99 @"+rate+"/s acks=-1", "ms", lat.e2eP99)
	b.rep.add(round, target, "end-to-end p999 @"+rate+"/s acks=-1", "ms", lat.e2eP999)
	deleteTopic(ctx, addr, topic)
	return nil
}

// addPerCPU reports the MB a phase moved per CPU-second of the broker (b.lastCPU, set by
// measured around the phase).
func (b *bench) addPerCPU(round int, target, name string, res produceResult) {
	if b.lastCPU > 0 {
		b.rep.add(round, target, name+": MB per broker CPU-second", "MB/s/core", float64(res.bytes)/1e6/b.lastCPU)
	}
	b.lastCPU = 0
}

// kfake runs in this process: its "broker CPU" and peak RSS are this process's, the
// franz-go clients of the workload included.
func (b *bench) kfake(ctx context.Context, round int) error {
	return b.kafkaPhases(ctx, round, "kfake", b.fake.ListenAddrs()[0], b.measured(round, "kfake", os.Getpid, nil))
}

func (b *bench) nats(ctx context.Context, round int) error {
	n := b.records(b.o.mib)
	prof := b.measured(round, "nats", func() int { return b.natsSrv.cmd.Process.Pid }, nil)
	if b.o.phase("produce") {
		var prod, cons produceResult
		err := prof("produce-consume-1p", func() (err error) {
			prod, cons, err = natsProduceConsume(ctx, b.natsSrv.url, fmt.Sprintf("bench-r%d", round), n, b.pool)
			return err
		})
		if err != nil {
			return fmt.Errorf("nats: %w", err)
		}
		b.rep.add(round, "nats", "produce 1p acks=-1", "MB/s", prod.mbps())
		b.rep.add(round, "nats", "hot consume 1p", "MB/s", cons.mbps())
	}
	if !b.o.phase("latency") {
		return nil
	}
	var lat latencyResult
	err := prof("latency", func() (err error) {
		lat, err = natsLatency(ctx, b.natsSrv.url, fmt.Sprintf("lat-r%d", round), b.o.latencyRate, b.o.latencyDur, b.o.recordSize)
		return err
	})
	if err != nil {
		return fmt.Errorf("nats latency: %w", err)
	}
	rate := strconv.FormatFloat(b.o.latencyRate, 'f', 0, 64)
	b.rep.add(round, "nats", "produce ack p50 @"+rate+"/s acks=-1", "ms", lat.ackP50)
	b.rep.add(round, "nats", "produce ack p99 @"+rate+"/s acks=-1", "ms", lat.ackP99)
	b.rep.add(round, "nats", "produce ack p999 @"+rate+"/s acks=-1", "ms", lat.ackP999)
	return nil
}

// strata runs the hot phases on a fresh child broker, then the cold phases, restarting the
// child so that its chunk cache is empty.
func (b *bench) strata(ctx context.Context, round int) error {
	dataDir := filepath.Join(b.scratch, fmt.Sprintf("strata-r%d", round))
	profDir, _ := filepath.Abs(filepath.Join(b.o.out, "pprof"))
	bucket := fmt.Sprintf("bench-r%d-%d", round, time.Now().Unix()%100000)
	if err := b.minio.Client.MakeBucket(ctx, bucket, minioBucketOpts()); err != nil {
		return fmt.Errorf("make bucket: %w", err)
	}
	// Hot phases run with the broker's defaults (but no group join delay); the cold phases
	// need the tail rolled, uploaded and deleted locally within a second.
	baseProps := map[string]string{"group.initial.rebalance.delay.ms": "0"}
	coldProps := map[string]string{
		"remote.log.upload.interval.ms":   "1000", // quiet partitions roll and upload their tail
		"log.retention.check.interval.ms": "500",  // ... checked this often, and local copies go
	}
	start := func(extra map[string]string) (*brokerChild, error) {
		props := map[string]string{}
		for k, v := range baseProps {
			props[k] = v
		}
		for k, v := range extra {
			props[k] = v
		}
		return startChild(childOptions{
			dataDir: dataDir, profDir: profDir, props: props,
			endpoint: b.minio.Endpoint, bucket: bucket, access: b.minio.AccessKey, secret: b.minio.SecretKey,
		})
	}
	if b.o.phase("history") && b.o.historySegments > 0 {
		startAt := func(dir, bkt string, extra map[string]string) (*brokerChild, error) {
			props := maps.Clone(baseProps)
			maps.Copy(props, extra)
			startupProf := ""
			if name := props["startup-profile"]; name != "" {
				delete(props, "startup-profile")
				startupProf = filepath.Join(profDir, fmt.Sprintf("r%d-%s.cpu.pprof", round, name))
			}
			return startChild(childOptions{
				dataDir: dir, profDir: profDir, props: props, startupProfile: startupProf,
				endpoint: b.minio.Endpoint, bucket: bkt, access: b.minio.AccessKey, secret: b.minio.SecretKey,
			})
		}
		if err := b.historyPhase(ctx, round, startAt); err != nil {
			return err
		}
	}
	child, err := start(nil)
	if err != nil {
		return err
	}
	defer func() { child.Stop() }()
	if st, err := child.Stats(); err == nil {
		b.rep.add(round, "strata", "idle RSS after start", "MiB", float64(st.VMRSSKiB)/1024)
	}
	profileOnly := func(phase string, f func() error) error {
		name := fmt.Sprintf("r%d-%s", round, phase)
		if err := child.StartProfile(name); err != nil {
			return err
		}
		var before histSums
		if phase == "latency" {
			before, _ = child.histograms(latencyHistograms) // latency.go; best effort
		}
		ferr := f()
		if err := child.StopProfile(); err != nil && ferr == nil {
			ferr = err
		}
		if phase == "latency" && ferr == nil && before != nil {
			if after, err := child.histograms(latencyHistograms); err == nil {
				b.addBrokerLatency(round, before, after)
			}
		}
		return ferr
	}
	prof := b.measured(round, "strata", func() int { return child.Pid() }, profileOnly)
	if err := b.kafkaPhases(ctx, round, "strata", child.Addr, prof); err != nil {
		return err
	}
	if err := b.perfTests(ctx, round, "strata", child.Addr, prof); err != nil {
		return err
	}
	if os.Getenv("STRATA_BENCH_DUMP_METRICS") != "" {
		child.dumpMetrics(os.Stderr, "strata_produce_durable_wait")
	}
	if b.o.phase("idle") {
		child.Stop()
		if err := b.idlePartitions(ctx, round, start); err != nil {
			return err
		}
		if child, err = start(nil); err != nil {
			return err
		}
	}
	if !b.o.phase("cold") {
		return nil
	}

	topic := fmt.Sprintf("cold-r%d", round)
	// Cold: produce, wait until every record is only in the bucket.
	// Once the topic exists, a restart waits for the partition's remote tier: a restarted
	// broker attaches it in the background (broker/tier.go attachTierLate), and a fetch
	// before that is answered retriably, which franz-go backs off for about a second: 6 of 17
	// cold consumes of 256 MiB measured 166-200 MB/s instead of 330-800, ~1020 ms to the
	// first record instead of 20-46. Start-up to the tier attached is the history phase's.
	topicMade := false
	restart := func(extra map[string]string) error {
		child.Stop()
		props := maps.Clone(coldProps)
		maps.Copy(props, extra)
		if child, err = start(props); err != nil || !topicMade {
			return err
		}
		_, err = waitTierAttached(ctx, child.Addr, topic, 120*time.Second)
		return err
	}
	if err := restart(nil); err != nil {
		return err
	}
	one, seg := "1", strconv.FormatInt(b.o.segmentBytes, 10)
	zero, on := "0", "true"
	if err := createTopic(ctx, child.Addr, topic, 1, map[string]*string{
		"remote.storage.enable": &on, "segment.bytes": &seg,
		"local.retention.bytes": &one, "local.retention.ms": &zero,
	}); err != nil {
		return err
	}
	topicMade = true
	nCold := b.records(b.o.coldMiB)
	coldPool := newValuePool(nCold, b.o.recordSize)
	upStart := time.Now()
	if _, err := produceN(ctx, child.Addr, topic, 1, nCold, coldPool); err != nil {
		return err
	}
	if err := waitOffloaded(ctx, child.Addr, topic, 1, 90*time.Second); err != nil {
		return err
	}
	st, err := child.Stats()
	if err != nil {
		return err
	}
	b.rep.add(round, "strata", "produce + upload + local delete (cold topic)", "MB/s",
		float64(nCold*b.o.recordSize)/1e6/time.Since(upStart).Seconds())
	_ = st
	rawCPU := startPhaseCPU(os.Getpid(), b.minio.Pid())
	rawBytes, rawMBps, err := rawGetTopic(ctx, b.minio.Client, bucket, topic)
	if err != nil {
		return err
	}
	rawCPU.stop()
	b.rep.add(round, "limit", "raw GET of the cold topic's segments, 1 stream", "MB/s", rawMBps)
	// CPU per MB, which the machine's load does not change as much as MB/s.
	b.rep.add(round, "limit", "raw GET 1 stream: CPU of client and MinIO per MB", "ms/MB",
		1000*(rawCPU.seconds(0)+rawCPU.seconds(1))/(float64(rawBytes)/1e6))

	// 1) One consumer, empty cache, default settings.
	if err := restart(nil); err != nil {
		return err
	}
	before, _ := child.Stats()
	var res produceResult
	var cpu phaseCPU
	var faults0, faults1 int64
	if err := prof("cold-consume", func() (err error) {
		faults0 = procMinorFaults(child.Pid())
		cpu = startPhaseCPU(child.Pid(), os.Getpid(), b.minio.Pid())
		res, err = consumeAll(ctx, child.Addr, topic, "", int64(nCold))
		cpu.stop()
		faults1 = procMinorFaults(child.Pid())
		return err
	}); err != nil {
		return err
	}
	mb := float64(res.bytes) / 1e6
	b.rep.add(round, "strata", "cold consume 1p: CPU of broker, client and MinIO per MB", "ms/MB",
		1000*(cpu.seconds(0)+cpu.seconds(1)+cpu.seconds(2))/mb)
	b.rep.add(round, "strata", "cold consume 1p: CPU of broker per MB", "ms/MB", 1000*cpu.seconds(0)/mb)
	b.rep.add(round, "strata", "cold consume 1p: broker minor page faults per MB", "faults/MB", float64(faults1-faults0)/mb)
	// Who was busy: the broker, this process (only the franz-go consumer runs in it
	// meanwhile) and MinIO, in % of one core (the machine has runtime.NumCPU of them).
	for i, who := range []string{"broker", "client (franz-go)", "MinIO"} {
		b.rep.add(round, "strata", "cold consume 1p: CPU of "+who, "% of a core", cpu.percent(i))
	}
	after, _ := child.Stats()
	oneGet := after.GetBytes - before.GetBytes
	if os.Getenv("STRATA_BENCH_DUMP_METRICS") != "" {
		child.dumpMetrics(os.Stderr, "strata_remote_cache")
	}
	b.rep.add(round, "strata", "cold consume 1p (MinIO, empty cache)", "MB/s", res.mbps())
	// Part of the time above: at the default 128 MiB, the first response (GETs on a
	// freshly started broker, a client on a new connection) was 15-25% of it.
	b.rep.add(round, "strata", "cold consume 1p: time to first record", "ms", 1000*res.firstRecord)
	b.rep.add(round, "strata", "cold consume GET bytes / segment bytes", "x", float64(oneGet)/float64(rawBytes))

	// 2) Two consumers replaying the same range at once, empty cache.
	if err := restart(nil); err != nil {
		return err
	}
	before, _ = child.Stats()
	errs := make(chan error, 2)
	var twoStart = time.Now()
	if err := prof("cold-2-consumers", func() error {
		for range 2 {
			go func() {
				_, err := consumeAll(ctx, child.Addr, topic, "", int64(nCold))
				errs <- err
			}()
		}
		return errorsJoin(<-errs, <-errs)
	}); err != nil {
		return err
	}
	after, _ = child.Stats()
	twoGet := after.GetBytes - before.GetBytes
	b.rep.add(round, "strata", "cold 2 concurrent consumers, aggregate", "MB/s",
		2*float64(nCold*b.o.recordSize)/1e6/time.Since(twoStart).Seconds())
	b.rep.add(round, "strata", "cold 2nd concurrent consumer: extra GET bytes", "%", 100*(float64(twoGet)/float64(max(oneGet, 1))-1))

	// 3) Peak RSS replaying far more than the cache budget.
	cacheMiB := b.o.rssCacheMiB
	if cacheMiB <= 0 {
		cacheMiB = max(4, int64(b.o.coldMiB/10))
	}
	if err := restart(map[string]string{"remote.log.cache.bytes": strconv.FormatInt(cacheMiB<<20, 10)}); err != nil {
		return err
	}
	idle, _ := child.Stats()
	child.ResetPeakRSS()
	if err := prof("cold-rss", func() (err error) {
		res, err = consumeAll(ctx, child.Addr, topic, "", int64(nCold))
		return err
	}); err != nil {
		return err
	}
	peak, _ := child.Stats()
	rss := fmt.Sprintf("cold replay, cache %d MiB", cacheMiB)
	b.rep.add(round, "strata", fmt.Sprintf("cold replay, cache %d MiB: throughput", cacheMiB), "MB/s", res.mbps())
	b.rep.add(round, "strata", fmt.Sprintf("cold replay, cache %d MiB: broker peak RSS", cacheMiB), "MiB", float64(peak.VMHWMKiB)/1024)
	b.rep.add(round, "strata", fmt.Sprintf("cold replay, cache %d MiB: broker RSS before", cacheMiB), "MiB", float64(idle.VMRSSKiB)/1024)
	b.rep.add(round, "strata", fmt.Sprintf("cold replay, cache %d MiB: broker peak live heap (GC-marked)", cacheMiB), "MiB", float64(peak.PeakLiveHeap)/(1<<20))
	b.rep.add(round, "strata", fmt.Sprintf("cold replay, cache %d MiB: broker peak heap in use (live + garbage)", cacheMiB), "MiB", float64(peak.PeakHeapObjects)/(1<<20))
	// What the replay may hold by configuration: the chunk cache, the records of the
	// response being written and of the next read already made for the consumer (2 x its
	// fetch.max.partition.bytes), the partial chunks at the two ends of a response and one
	// read-ahead load (remote.log.chunk.bytes, the broker's 4 MiB default). The Go GC lets
	// the heap grow to twice the live heap (GOGC=100) before collecting.
	const chunkMiB, fetchMiB = 4, 8
	budget := float64(cacheMiB + 2*fetchMiB + 3*chunkMiB)
	b.rep.add(round, "strata", rss+": remote-read budget (cache + 2 x 8 MiB fetch + 3 chunks)", "MiB", budget)
	b.rep.add(round, "strata", rss+": RSS bound (RSS before + 2 x budget)", "MiB", float64(idle.VMRSSKiB)/1024+2*budget)

	// The same replay with the Go soft memory limit at RSS before + budget: how much of
	// the peak is GC headroom rather than memory the broker holds.
	limit := idle.VMRSSKiB<<10 + int64(budget)<<20
	if err := restart(map[string]string{"remote.log.cache.bytes": strconv.FormatInt(cacheMiB<<20, 10),
		memoryLimitProp: strconv.FormatInt(limit, 10)}); err != nil {
		return err
	}
	child.ResetPeakRSS()
	if res, err = consumeAll(ctx, child.Addr, topic, "", int64(nCold)); err != nil {
		return err
	}
	peak, _ = child.Stats()
	b.rep.add(round, "strata", rss+", Go memory limit RSS before + budget: throughput", "MB/s", res.mbps())
	b.rep.add(round, "strata", rss+", Go memory limit RSS before + budget: broker peak RSS", "MiB", float64(peak.VMHWMKiB)/1024)

	// 4) More partitions (coldparts.go).
	restartFor := func(extra map[string]string, topics ...string) error {
		if err := restart(extra); err != nil {
			return err
		}
		for _, t := range topics {
			if _, err := waitTierAttached(ctx, child.Addr, t, 120*time.Second); err != nil {
				return err
			}
		}
		return nil
	}
	if err := restart(nil); err != nil {
		return err
	}
	return b.coldPartitionsPhase(ctx, round, bucket, func() *brokerChild { return child }, restartFor, prof, cacheMiB)
}

// idlePartitions creates a topic of n partitions on a child with default maintenance
// intervals and reports the broker's CPU use while nothing happens, in % of one core.
func (b *bench) idlePartitions(ctx context.Context, round int, start func(map[string]string) (*brokerChild, error)) error {
	n := b.o.idlePartitions
	if n <= 0 {
		return nil
	}
	child, err := start(map[string]string{"log.retention.check.interval.ms": "300000", "remote.log.upload.interval.ms": "0"})
	if err != nil {
		return err
	}
	defer child.Stop()
	// Ten topics, so that no single CreateTopics request runs into the client's timeout.
	var topics []string
	for i := range 10 {
		parts := n / 10
		if i == 0 {
			parts += n % 10
		}
		if parts == 0 {
			continue
		}
		topic := fmt.Sprintf("idle-r%d-%d", round, i)
		if err := createTopic(ctx, child.Addr, topic, int32(parts), nil); err != nil {
			return fmt.Errorf("idle partitions: %w", err)
		}
		topics = append(topics, topic)
	}
	time.Sleep(2 * time.Second)
	profiled := child.StartProfile(fmt.Sprintf("r%d-idle-%d-partitions", round, n)) == nil
	c0, t0 := procCPU(child.Pid()), time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.o.idleDur):
	}
	c1, t1 := procCPU(child.Pid()), time.Now()
	if profiled {
		child.StopProfile()
	}
	b.rep.add(round, "strata", fmt.Sprintf("idle CPU with %d partitions", n), "% of a core", 100*(c1-c0).Seconds()/t1.Sub(t0).Seconds())
	for _, topic := range topics {
		deleteTopic(ctx, child.Addr, topic)
	}
	return nil
}

// phaseCPU measures the CPU time of a few processes over a phase.
type phaseCPU struct {
	pids       []int
	start, end []time.Duration
	t0, t1     time.Time
}

func startPhaseCPU(pids ...int) phaseCPU {
	c := phaseCPU{pids: pids, t0: time.Now()}
	for _, pid := range pids {
		c.start = append(c.start, procCPU(pid))
	}
	return c
}

func (c *phaseCPU) stop() {
	c.t1 = time.Now()
	for _, pid := range c.pids {
		c.end = append(c.end, procCPU(pid))
	}
}

// seconds is process i's CPU time over the phase.
func (c *phaseCPU) seconds(i int) float64 {
	if i >= len(c.end) || c.pids[i] == 0 {
		return 0
	}
	return (c.end[i] - c.start[i]).Seconds()
}

// procMinorFaults is the minor page faults pid has taken (from /proc/pid/stat).
func procMinorFaults(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 8 {
		return 0
	}
	n, _ := strconv.ParseInt(f[7], 10, 64) // minflt: field 10 of the whole line
	return n
}

// percent is process i's CPU use over the phase in % of one core.
func (c *phaseCPU) percent(i int) float64 {
	if i >= len(c.end) || c.pids[i] == 0 {
		return 0
	}
	return 100 * (c.end[i] - c.start[i]).Seconds() / c.t1.Sub(c.t0).Seconds()
}

// procCPU is the user+system CPU time pid has used (from /proc/pid/stat, in clock ticks of 10ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64) // utime: field 14 of the whole line
	k, _ := strconv.ParseInt(f[12], 10, 64) // stime
	return time.Duration(u+k) * 10 * time.Millisecond
}
