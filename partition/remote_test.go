package partition

import (
	"testing"
	"testing/synctest"
	"time"
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

// After a fetch takes a remote read, the read a sequential consumer asks for next is
// already running: its fetch joins it instead of starting one; nothing is read past the
// remote end; a consumer asking for another offset still gets its own read.
func TestRemoteReadsAheadOfSequentialConsumer(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	ft := &countingTier{fakeTier: &fakeTier{}}
	offload5(t, p, ft, ft.fakeTier)
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
	}
	waitNext := func(off int64) {
		t.Helper()
		r := pending()
		if r == nil || r.offset != off {
			t.Fatalf("pending read %+v, want one at %d", r, off)
		}
		<-r.done
	}
	read(0)
	waitNext(1)
	if n := ft.reads.Load(); n != 2 {
		t.Fatalf("%d reads after the first fetch, want 2 (its own and the next)", n)
	}
	read(1) // joins the read already done
	waitNext(2)
	if n := ft.reads.Load(); n != 3 {
		t.Fatalf("%d reads, want 3", n)
	}
	read(0) // another consumer, behind
	read(2) // the first one again: its read was replaced, so it reads anew
	for off := int64(3); off <= 4; off++ {
		read(off)
	}
	if r := pending(); r != nil {
		t.Fatalf("a read at %d pending past the remote end (5)", r.offset)
	}
	// Reads: 0, 1, 2, 0 (+1 next), 2 (+3 next), 3 (joined, +4 next), 4 (joined). The
	// read at 1 that the consumer at 2 replaced may still be starting: wait for it.
	p.remoteWG.Wait()
	if n := ft.reads.Load(); n != 8 {
		t.Fatalf("%d reads, want 8", n)
	}
}

// A finished remote read that no fetch takes (its consumer went away) is dropped after
// remoteReadKeep instead of holding its records, and the chunks they pin, for the life
// of the partition; the early-read charge goes back with it.
func TestUntakenRemoteReadIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
		ft := &fakeTier{}
		offload5(t, p, ft, ft)
		pending := func() *remoteRead {
			p.remoteMu.Lock()
			defer p.remoteMu.Unlock()
			return p.remotePending
		}
		if _, done, err := p.ReadRemote(t.Context(), 0, 1, true, 5*time.Second); err != nil || !done {
			t.Fatalf("read at 0: done %v, %v", done, err)
		}
		synctest.Wait() // the early read at 1 is done and kept
		if r := pending(); r == nil || r.offset != 1 || r.data.Len() == 0 {
			t.Fatalf("pending read %+v, want the early read at 1 with its records", r)
		}
		if p.early.held.Load() == 0 {
			t.Fatal("the early read is not charged to the budget")
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
		if n := p.early.held.Load(); n != 0 {
			t.Fatalf("%d bytes still charged to the early-read budget", n)
		}
		// A consumer coming back reads again.
		data, done, err := p.ReadRemote(t.Context(), 1, 1, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != 1 {
			t.Fatalf("read at 1: offsets %v, done %v, %v", got, done, err)
		}
	})
}

// Early reads of all partitions share earlyReadBudget: a consumer reading many tiered
// partitions gets early reads for as many as fit, not one per partition; the charge goes
// back when a read is taken or its partition closes.
func TestEarlyReadsShareABudget(t *testing.T) {
	const chunkBytes = 30 << 20 // an early read may pin two chunks: 60 MiB
	var budget EarlyReads
	cfg := testConfig(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	const maxBytes = 1 // one batch a read
	charge := int64(maxBytes) + 2*chunkBytes
	fits := int(earlyReadBudget / charge)
	if fits < 1 || fits >= 5 {
		t.Fatalf("test assumes 1 to 4 early reads of %d bytes fit in %d", charge, earlyReadBudget)
	}
	var parts []*Partition
	var tiers []*fakeTier
	for i := range 6 {
		p, err := Open(Options{Topic: "t", Index: int32(i), Dir: t.TempDir(), Config: cfg, EarlyReads: &budget, ChunkBytes: chunkBytes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.close() })
		ft := &fakeTier{}
		offload5(t, p, ft, ft)
		parts, tiers = append(parts, p), append(tiers, ft)
	}
	early := func() (n int, offsets []int64) {
		for _, p := range parts {
			p.remoteMu.Lock()
			if r := p.remotePending; r != nil && r.early {
				n++
				offsets = append(offsets, r.offset)
			}
			p.remoteMu.Unlock()
		}
		return n, offsets
	}
	read := func(i int, off int64) {
		t.Helper()
		data, done, err := parts[i].ReadRemote(t.Context(), off, maxBytes, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != off {
			t.Fatalf("partition %d read at %d: offsets %v, done %v, %v", i, off, got, done, err)
		}
	}
	check := func(what string, want int) {
		t.Helper()
		n, offs := early()
		if held := budget.held.Load(); n != want || held != int64(want)*charge {
			t.Fatalf("%s: %d early reads (at %v) holding %d bytes, want %d holding %d (budget %d)",
				what, n, offs, held, want, int64(want)*charge, earlyReadBudget)
		}
	}
	for i := range parts {
		read(i, 0)
	}
	check("one read in each of 6 partitions", fits)
	read(0, 1) // partition 0's consumer takes its early read; the next one takes its charge
	check("an early read taken", fits)
	if _, offs := early(); offs[0] != 2 {
		t.Fatalf("early reads at %v, want partition 0's at 2", offs)
	}
	parts[0].close() // its charge goes back
	check("a partition closed", fits-1)
	read(5, 0) // partition 5 had none: now one fits
	check("after the budget freed up", fits)
	for _, p := range parts {
		p.close()
	}
	check("every partition closed", 0)
}

// Offsets at or above the local log start are read locally even when the bucket has them
// too (fillFetch), so no early read is started for them: it would only hold memory.
func TestNoEarlyReadOfLocalOffsets(t *testing.T) {
	p := testPartition(t, map[string]string{"segment.bytes": "100", "remote.storage.enable": "true", "local.retention.bytes": "1"})
	ft := &fakeTier{}
	p.setTier(ft)
	appendN(t, p, 6, 1000)
	ft.Upload(t, p.log, 3) // offsets 0-2 only in the bucket
	p.runMaintenance(time.Now())
	ft.Upload(t, p.log, 2) // 3 and 4 (the first two local segments now) in the bucket too
	if got := p.LocalLogStartOffset(); got != 3 {
		t.Fatalf("local start %d, want 3", got)
	}
	if _, end, _ := ft.Bounds(); end != 5 {
		t.Fatalf("remote end %d, want 5", end)
	}
	for off := int64(0); off < 3; off++ {
		data, done, err := p.ReadRemote(t.Context(), off, 1, true, 5*time.Second)
		if got := batchOffsets(t, data.AppendTo(nil)); err != nil || !done || len(got) != 1 || got[0] != off {
			t.Fatalf("read at %d: offsets %v, done %v, %v", off, got, done, err)
		}
	}
	p.remoteMu.Lock()
	r := p.remotePending
	p.remoteMu.Unlock()
	if r != nil {
		t.Fatalf("early read at %d, at or above the local start 3", r.offset)
	}
}
