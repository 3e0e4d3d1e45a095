package partition

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/tiering"
)

// offload5 appends 6 one-batch segments to p, uploads the first 5 to ft (t wraps ft) and
// applies local retention: offsets 0-4 are only in the bucket, 5 is local.
func offload5(t *testing.T, p *Partition, tier Tier, ft *fakeTier) {
	t.Helper()
	p.setTier(tier)
	appendN(t, p, 6, 1000)
	ft.Upload(t, p.log, 5)
	p.runMaintenance(time.Now())
	if got := p.LocalLogStartOffset(); got != 5 {
		t.Fatalf("local start %d, want 5", got)
	}
}

// optionsTier records the ReadOptions of every read of a fakeTier; with gate set, reads
// wait for it to be closed.
type optionsTier struct {
	*fakeTier
	gate chan struct{}
	mu   sync.Mutex
	opts []tiering.ReadOptions
	offs []int64
}

func (o *optionsTier) ReadRecords(ctx context.Context, offset int64, maxBytes int, minOne bool, ro tiering.ReadOptions) (tiering.Records, error) {
	o.mu.Lock()
	o.opts, o.offs = append(o.opts, ro), append(o.offs, offset)
	o.mu.Unlock()
	if o.gate != nil {
		select {
		case <-o.gate:
		case <-ctx.Done():
			return tiering.Records{}, ctx.Err()
		}
	}
	return o.fakeTier.ReadRecords(ctx, offset, maxBytes, minOne, ro)
}

func (o *optionsTier) reads() ([]int64, []tiering.ReadOptions) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.offs), slices.Clone(o.opts)
}

// Each fetch of a remote offset is one read of the tier, at that offset; what is loaded
// ahead of a sequential consumer is the tier's (tiering/readahead.go), so the partition
// starts no read nobody asked for: once a fetch took its records nothing is pending, and a
// consumer asking for another offset gets its own read. A fetch that stopped waiting is
// joined by the next fetch at the same offset instead of a second read.
func TestRemoteReadPerFetch(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	ot := &optionsTier{fakeTier: &fakeTier{}}
	offload5(t, p, ot, ot.fakeTier)
	pending := func() *remoteRead {
		p.remoteMu.Lock()
		defer p.remoteMu.Unlock()
		return p.remotePending
	}
	read := func(off int64) {
		t.Helper()
		data, done, err := p.ReadRemote(t.Context(), off, 1, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != off {
			t.Fatalf("read at %d: offsets %v, done %v, %v", off, got, done, err)
		}
		if r := pending(); r != nil {
			t.Fatalf("a read at %d pending after the fetch at %d took its records", r.offset, off)
		}
	}
	for _, off := range []int64{0, 1, 0, 2, 3, 4} { // a second consumer, behind, at the third fetch
		read(off)
	}
	offs, opts := ot.reads()
	if !slices.Equal(offs, []int64{0, 1, 0, 2, 3, 4}) {
		t.Fatalf("tier reads at %v, want one per fetch at 0 1 0 2 3 4", offs)
	}
	for i, o := range opts {
		if !o.Uncounted || !o.ReadyOnly || o.Until != 5 {
			t.Fatalf("read %d at %d with %+v, want uncounted, ready-only, read-ahead until the local start 5", i, offs[i], o)
		}
	}

	// A fetch that stops waiting leaves the read running; the next fetch joins it.
	ot.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, done, err := p.ReadRemote(ctx, 2, 1, true, 5*time.Second); done || err != nil {
		t.Fatalf("fetch that stopped waiting: done %v, %v", done, err)
	}
	close(ot.gate)
	read(2)
	if offs, _ := ot.reads(); len(offs) != 7 {
		t.Fatalf("%d tier reads, want 7: the second fetch at 2 joins the first", len(offs))
	}
}

// A finished remote read that no fetch takes (its fetch stopped waiting and its consumer
// went away) is dropped after remoteReadKeep instead of holding its records, and the
// chunks they pin, for the life of the partition.
func TestUntakenRemoteReadIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
		ot := &optionsTier{fakeTier: &fakeTier{}, gate: make(chan struct{})}
		offload5(t, p, ot, ot.fakeTier)
		pending := func() *remoteRead {
			p.remoteMu.Lock()
			defer p.remoteMu.Unlock()
			return p.remotePending
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, done, err := p.ReadRemote(ctx, 1, 1, true, 5*time.Second); done || err != nil {
			t.Fatalf("fetch that stopped waiting: done %v, %v", done, err)
		}
		close(ot.gate)
		synctest.Wait() // the read at 1 is done and kept
		if r := pending(); r == nil || r.offset != 1 || r.data.Len() == 0 {
			t.Fatalf("pending read %+v, want the read at 1 with its records", r)
		}
		time.Sleep(remoteReadKeep - time.Second)
		synctest.Wait()
		if pending() == nil {
			t.Fatal("dropped before remoteReadKeep")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if r := pending(); r != nil {
			t.Fatalf("read at %d still held %v after it finished, nobody took it", r.offset, remoteReadKeep+time.Second)
		}
		// A consumer coming back reads again.
		data, done, err := p.ReadRemote(t.Context(), 1, 1, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != 1 {
			t.Fatalf("read at 1: offsets %v, done %v, %v", got, done, err)
		}
		if offs, _ := ot.reads(); len(offs) != 2 {
			t.Fatalf("tier reads at %v, want 1 then 1 again", offs)
		}
	})
}

// Offsets at or above the local log start are read locally even when the bucket has them
// too (fillFetch), so the tier is told not to load them ahead: every remote read carries
// the local log start as its read-ahead bound (tiering's TestReadAheadStopsAtUntil checks
// that the tier keeps to it).
func TestRemoteReadAheadBoundedByLocalStart(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	ot := &optionsTier{fakeTier: &fakeTier{}}
	p.setTier(ot)
	appendN(t, p, 6, 1000)
	ot.Upload(t, p.log, 3) // offsets 0-2 only in the bucket
	p.runMaintenance(time.Now())
	ot.Upload(t, p.log, 2) // 3 and 4 (the first two local segments now) in the bucket too
	if got := p.LocalLogStartOffset(); got != 3 {
		t.Fatalf("local start %d, want 3", got)
	}
	if _, end, _ := ot.Bounds(); end != 5 {
		t.Fatalf("remote end %d, want 5", end)
	}
	for off := int64(0); off < 3; off++ {
		data, done, err := p.ReadRemote(t.Context(), off, 1, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != off {
			t.Fatalf("read at %d: offsets %v, done %v, %v", off, got, done, err)
		}
	}
	offs, opts := ot.reads()
	if !slices.Equal(offs, []int64{0, 1, 2}) {
		t.Fatalf("tier reads at %v, want 0 1 2", offs)
	}
	for i, o := range opts {
		if o.Until != 3 {
			t.Fatalf("read at %d bounded at %d, want the local start 3", offs[i], o.Until)
		}
	}
	p.remoteMu.Lock()
	r := p.remotePending
	p.remoteMu.Unlock()
	if r != nil {
		t.Fatalf("read at %d pending, nobody asked for it", r.offset)
	}
}
