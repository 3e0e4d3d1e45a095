package broker

import (
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/broker/producer"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering/memstore"
)

// Idempotent producers keep being deduplicated across a restore from the bucket: the
// producer snapshot taken at each roll goes up with the segment, and a broker started on an
// empty data dir loads the newest one (replaying remote batches after it when the newest
// segment went up without its own).
func TestProducerStateRestoredFromBucket(t *testing.T) {
	for _, tc := range []struct {
		name string
		// dropLastRollSnapshot removes the snapshot taken when the last segment was sealed,
		// so the restore must replay that segment's batches from the bucket.
		dropLastRollSnapshot bool
	}{{"exact snapshot", false}, {"older snapshot plus remote replay", true}} {
		t.Run(tc.name, func(t *testing.T) {
			store := memstore.New()
			open := func(dir string) *Broker {
				cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir})
				if err != nil {
					t.Fatal(err)
				}
				cfg.RemoteStore = store
				b, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			app := func(p *partition.Partition, batch []byte) (partition.AppendResult, error) {
				t.Helper()
				h, err := segment.DecodeBatchHeader(batch)
				if err != nil {
					t.Fatal(err)
				}
				return p.Append(batch, h, time.Now(), true)
			}
			roll := func(p *partition.Partition) {
				if err := p.Roll(); err != nil {
					t.Fatal(err)
				}
			}

			b1 := open(t.TempDir())
			topic, err := b1.createTopic("idem", 1, map[string]string{"remote.storage.enable": "true", "retention.ms": "-1"}, false)
			if err != nil {
				t.Fatal(err)
			}
			p := topic.partition(0)
			// pid 7: seq 0-1 @0, 2-3 @2 | pid 9: seq 0-2 @4 | roll | pid 7: seq 4-5 @7,
			// pid 9: seq 3 @9 | roll
			mustApp := func(pid int64, seq int32, n int, wantBase int64) {
				t.Helper()
				r, err := app(p, idempotentBatch(t, pid, 0, seq, n))
				if err != nil || r.Duplicate || r.Info.BaseOffset != wantBase {
					t.Fatalf("pid %d seq %d: %+v %v, want base %d", pid, seq, r, err, wantBase)
				}
			}
			mustApp(7, 0, 2, 0)
			mustApp(7, 2, 2, 2)
			mustApp(9, 0, 3, 4)
			roll(p)
			mustApp(7, 4, 2, 7)
			mustApp(9, 3, 1, 9)
			roll(p)
			end := p.HighWatermark()
			if end != 10 {
				t.Fatalf("log end %d", end)
			}
			for _, off := range []int64{7, 10} {
				if _, err := os.Stat(producer.SnapshotPath(p.Dir(), off)); err != nil {
					t.Fatalf("no producer snapshot taken at the roll at %d: %v", off, err)
				}
			}
			if tc.dropLastRollSnapshot {
				os.Remove(producer.SnapshotPath(p.Dir(), end))
			}
			rp, ok := b1.tier.Partition("idem", 0)
			if !ok {
				t.Fatal("no tier")
			}
			if err := rp.UploadPending(t.Context()); err != nil {
				t.Fatal(err)
			}
			ents := rp.Entries()
			if len(ents) != 2 {
				t.Fatalf("%d segments uploaded", len(ents))
			}
			last := ents[1]
			if tc.dropLastRollSnapshot {
				// [7, 10) has the snapshot at its base (7), the state before it.
				if last.ProducerSnapshot == nil || last.ProducerSnapshotOffset != 7 {
					t.Fatalf("last entry snapshot %+v at %d, want the one at 7", last.ProducerSnapshot, last.ProducerSnapshotOffset)
				}
			} else if last.ProducerSnapshot == nil || last.ProducerSnapshotOffset != end {
				t.Fatalf("last entry snapshot %+v at %d, want one at %d", last.ProducerSnapshot, last.ProducerSnapshotOffset, end)
			}
			// The maintenance snapshot prunes neither roll snapshot while its segment is local.
			p.SaveProducerState()
			if offs, _ := producer.Snapshots(nil, p.Dir()); len(offs) == 0 {
				t.Fatal("no snapshots left after pruning")
			}
			b1.Close()

			// A new broker on an empty data dir, same bucket.
			b2 := open(t.TempDir())
			t.Cleanup(func() { b2.Close() })
			t2 := b2.lookupTopic("idem")
			if t2 == nil {
				t.Fatal("topic not restored")
			}
			p2 := t2.partition(0)
			if p2.HighWatermark() != end || p2.LocalLogStartOffset() != end {
				t.Fatalf("restored log [%d, %d), want empty at %d", p2.LocalLogStartOffset(), p2.HighWatermark(), end)
			}
			// Retries of batches written before the restore are answered with their original
			// offsets and write nothing.
			for _, r := range []struct {
				pid        int64
				seq        int32
				n          int
				base, last int64
			}{{7, 4, 2, 7, 8}, {9, 3, 1, 9, 9}, {7, 2, 2, 2, 3}, {9, 0, 3, 4, 6}} {
				res, err := app(p2, idempotentBatch(t, r.pid, 0, r.seq, r.n))
				if err != nil || !res.Duplicate || res.Info.BaseOffset != r.base || res.Info.LastOffset != r.last {
					t.Fatalf("retry pid %d seq %d after restore: %+v %v, want duplicate of [%d, %d]", r.pid, r.seq, res, err, r.base, r.last)
				}
			}
			if hw := p2.HighWatermark(); hw != end {
				t.Fatalf("retries wrote records: hw %d, want %d", hw, end)
			}
			// The state knows the producers: a gap is refused, the next sequence accepted.
			if _, err := app(p2, idempotentBatch(t, 7, 0, 9, 1)); errorCode(err) != kerr.OutOfOrderSequenceNumber.Code {
				t.Fatalf("gap after restore: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
			}
			if r, err := app(p2, idempotentBatch(t, 7, 0, 6, 1)); err != nil || r.Duplicate || r.Info.BaseOffset != end {
				t.Fatalf("next batch after restore: %+v %v, want offset %d", r, err, end)
			}
		})
	}
}

// Without any remote snapshot (a bucket written before snapshots were uploaded) the restored
// state is incomplete: producers it does not know may continue at any sequence instead of
// being refused.
func TestProducerStateRestoredWithoutRemoteSnapshotIsIncomplete(t *testing.T) {
	store := memstore.New()
	open := func(dir string) *Broker {
		cfg, err := ParseConfig(map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir})
		if err != nil {
			t.Fatal(err)
		}
		cfg.RemoteStore = store
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b1 := open(t.TempDir())
	topic, err := b1.createTopic("old", 1, map[string]string{"remote.storage.enable": "true", "retention.ms": "-1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	p := topic.partition(0)
	batch := idempotentBatch(t, 7, 0, 0, 3)
	h, err := segment.DecodeBatchHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(batch, h, time.Now(), true); err != nil {
		t.Fatal(err)
	}
	p.Roll()
	offs, _ := producer.Snapshots(nil, p.Dir())
	for _, o := range offs {
		os.Remove(producer.SnapshotPath(p.Dir(), o))
	}
	rp, _ := b1.tier.Partition("old", 0)
	if err := rp.UploadPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rp.Entries()[0].ProducerSnapshot != nil {
		t.Fatal("snapshot uploaded although none existed")
	}
	b1.Close()

	b2 := open(t.TempDir())
	t.Cleanup(func() { b2.Close() })
	p2 := b2.lookupTopic("old").partition(0)
	next := idempotentBatch(t, 7, 0, 3, 1)
	h, err = segment.DecodeBatchHeader(next)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := p2.Append(next, h, time.Now(), true); err != nil || r.Info.BaseOffset != 3 {
		t.Fatalf("continuing producer after a restore without snapshot: %+v %v", r, err)
	}
}
