package partition

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// TestPartitionPowerLossKeepsAcknowledged runs a Partition on segmenttest.MemFS, where a
// simulated power loss keeps only fsynced bytes and directory entries. Concurrent
// producers append with acks=-1 semantics (append, then waitDurable) across segment rolls;
// at a random moment the power goes; the partition is reopened on what survived. Every
// record acknowledged before the crash must be there, at its offset, and the log must be
// dense from its start to its end. Each round continues on the survivor of the previous
// one, so recovery of recovered logs is exercised too. STRATA_SOAK=1 runs 300 rounds.
func TestPartitionPowerLossKeepsAcknowledged(t *testing.T) {
	rounds := 15
	if os.Getenv("STRATA_SOAK") == "1" {
		rounds = 300
	}
	cfg := testConfig(t, map[string]string{"segment.bytes": "4096"})
	const dir = "/data/pl-0"
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))

	fs := segmenttest.NewMemFS()
	acked := map[int64]int64{} // offset -> timestamp (the record's identity)
	totalAcked := 0
	for round := range rounds + 1 { // the last round only checks the last crash
		last := round == rounds
		p, err := Open(Options{Topic: "pl", Dir: dir, Config: cfg, FS: fs})
		if err != nil {
			t.Fatalf("round %d: reopen after power loss: %v", round, err)
		}
		// What survived must hold every acknowledged record, densely.
		got := readAllTimestamps(t, p)
		for off, ts := range acked {
			if g, ok := got[off]; !ok {
				t.Fatalf("round %d: acknowledged offset %d (ts %d) lost in the power loss (log %d-%d)", round, off, ts, p.LogStartOffset(), p.HighWatermark())
			} else if g != ts {
				t.Fatalf("round %d: offset %d holds ts %d, acknowledged with ts %d", round, off, g, ts)
			}
		}
		for off := p.LogStartOffset(); off < p.HighWatermark(); off++ {
			if _, ok := got[off]; !ok {
				t.Fatalf("round %d: offset %d missing inside the log %d-%d", round, off, p.LogStartOffset(), p.HighWatermark())
			}
		}
		// Records that survived without an ack are now part of the log (a later ack of
		// the same offset would be a different record: keep them as the truth).
		for off, ts := range got {
			acked[off] = ts
		}
		if last {
			_ = p.close()
			break
		}

		var mu sync.Mutex
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for g := range 2 {
			wg.Go(func() {
				for n := 0; ctx.Err() == nil; n++ {
					ts := int64(round)*1_000_000_000 + int64(g)*100_000_000 + int64(n)
					vals := make([][]byte, 1+n%3)
					for i := range vals {
						vals[i] = fmt.Appendf(nil, "%d-%d-%d-%d", round, g, n, i)
					}
					b := segmenttest.BatchWith(segmenttest.BatchOptions{FirstTimestamp: ts, TimestampStep: 0, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, vals...)
					h, err := validateBatch(b, p.config(), time.Now())
					if err != nil {
						t.Error(err)
						return
					}
					res, err := p.append(b, h, time.Now())
					if err != nil {
						return // crashed
					}
					if err := p.waitDurable(ctx, res.Info.LastOffset+1); err != nil {
						return
					}
					mu.Lock()
					for o := res.Info.BaseOffset; o <= res.Info.LastOffset; o++ {
						acked[o] = ts
					}
					totalAcked += len(vals)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(rng.Int64N(int64(15 * time.Millisecond))))
		mu.Lock()
		fs = fs.Crash()              // power loss: every ack recorded so far was fsynced before this
		survive := maps.Clone(acked) // acks recorded after this line came too late
		mu.Unlock()
		cancel()
		wg.Wait()
		_ = p.close() // the old filesystem fails every call now
		acked = survive
	}
	t.Logf("%d rounds, %d records acknowledged, final log holds %d offsets", rounds, totalAcked, len(acked))
	if totalAcked == 0 {
		t.Fatal("nothing was acknowledged")
	}
}

// readAllTimestamps reads the whole local log and returns offset -> record timestamp.
func readAllTimestamps(t *testing.T, p *Partition) map[int64]int64 {
	t.Helper()
	got := map[int64]int64{}
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		data, _, err := p.readLocal(off, 1<<20, true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(data) == 0 {
			break
		}
		next := off
		if err := SplitBatches(data, func(h segment.BatchHeader, batch []byte) (bool, error) {
			return true, walkRecords(h, batch, func(o, ts int64) bool {
				got[o] = ts
				next = o + 1
				return true
			})
		}); err != nil {
			t.Fatalf("decode at %d: %v", off, err)
		}
		if next == off {
			t.Fatalf("no progress at %d", off)
		}
		off = next
	}
	return got
}
