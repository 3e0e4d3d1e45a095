package tiering_test

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
	"github.com/strata-io/strata/test/miniotest"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/s3store"
	"github.com/strata-io/strata/tiering/storewrap"
)

// BenchmarkTierColdReplayEncrypted measures cold replay (a fresh manager, an empty cache,
// every chunk fetched) of 32 MiB in 8 MiB segments, in plaintext and through
// storewrap.Encrypt, alternating the two in one run; it reports the encrypted throughput as
// a ratio of the plaintext one ("enc/plain"; "enc/plain-cpu": per CPU second of the process). memstore has no network, so its ratio is the
// worst case (the CPU of AES-GCM against the tier's CRC-32C and SHA-256 checks); minio is a
// real S3 server on this machine (s3store).
//
//	go test -run XXX -bench ColdReplayEncrypted -benchtime 10x ./tiering
func BenchmarkTierColdReplayEncrypted(b *testing.B) {
	b.Run("memstore", func(b *testing.B) { benchColdReplayEncrypted(b, newMem(), newMem()) })
	b.Run("minio", func(b *testing.B) {
		mc := miniotest.Start(b)
		st := func() tiering.ObjectStore {
			s, err := s3store.New(b.Context(), s3store.Config{Bucket: mc.NewBucket(b), Region: miniotest.Region,
				Endpoint: mc.Endpoint, PathStyle: true, AccessKey: mc.AccessKey, SecretKey: mc.SecretKey})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		benchColdReplayEncrypted(b, st(), st())
	})
}

func benchColdReplayEncrypted(b *testing.B, plain, encInner tiering.ObjectStore) {
	l, _, err := segment.Open(b.TempDir(), segment.Config{SegmentBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	val := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	for i := range 2048 {
		if _, err := l.Append(segmenttest.Batch(int64(i), val), segment.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	l.Roll()
	var total int64
	for _, s := range l.Segments() {
		total += s.Size
	}
	kr, err := storewrap.ParseKeys([]byte("k1 " + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"))
	if err != nil {
		b.Fatal(err)
	}
	enc := storewrap.Encrypt(encInner, kr)
	for _, st := range []tiering.ObjectStore{plain, enc} {
		m, err := tiering.NewManager(tiering.Config{}, st, nil, nil, prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		p, err := m.OpenPartition(context.Background(), "bench", testTopicID, 0, l, tiering.PartitionConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.UploadPending(context.Background()); err != nil {
			b.Fatal(err)
		}
		stopManager(m)
	}
	replay := func(st tiering.ObjectStore, skipHashes bool) (time.Duration, time.Duration) {
		m, err := tiering.NewManager(tiering.Config{SkipHashCheck: skipHashes}, st, nil, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer stopManager(m)
		rp, err := m.OpenPartition(context.Background(), "bench", testTopicID, 0, nil, tiering.PartitionConfig{})
		if err != nil {
			b.Fatal(err)
		}
		start, cpu0 := time.Now(), cpuTime()
		_, end, _ := rp.Bounds()
		for off := int64(0); off < end; {
			out, err := rp.Read(context.Background(), off, 1<<20, true)
			if err != nil {
				b.Fatal(err)
			}
			off = lastOffset(b, out) + 1
		}
		return time.Since(start), cpuTime() - cpu0
	}
	replay(plain, false) // warm the code paths and the allocator
	replay(enc, false)
	var tPlain, tEnc, cPlain, cEnc, tEncNoHash time.Duration
	b.SetBytes(3 * total)
	for b.Loop() {
		w, c := replay(plain, false)
		tPlain, cPlain = tPlain+w, cPlain+c
		w, c = replay(enc, false)
		tEnc, cEnc = tEnc+w, cEnc+c
		w, _ = replay(enc, true)
		tEncNoHash += w
	}
	b.ReportMetric(float64(total)*float64(b.N)/tPlain.Seconds()/(1<<20), "plain-MiB/s")
	b.ReportMetric(float64(total)*float64(b.N)/tEnc.Seconds()/(1<<20), "enc-MiB/s")
	b.ReportMetric(tPlain.Seconds()/tEnc.Seconds(), "enc/plain")
	// Throughput per CPU second of this process: less sensitive to other load on the machine.
	b.ReportMetric(cPlain.Seconds()/cEnc.Seconds(), "enc/plain-cpu")
	// Encrypted without the SHA-256 chunk check (strata.remote.log.verify.hashes=false; the
	// GCM tags still refuse any changed byte), against plaintext with it.
	b.ReportMetric(tPlain.Seconds()/tEncNoHash.Seconds(), "enc-nohash/plain")
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func stopManager(m *tiering.Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.Run(ctx)
}
