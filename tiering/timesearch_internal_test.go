package tiering

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// linearReaching is what entryReaching must return: the first entry holding an offset at or
// above max(from, start) whose max timestamp is >= ts.
func linearReaching(st *remoteState, from, ts int64) *SegmentEntry {
	from = max(from, st.start)
	for i := range st.entries {
		if e := &st.entries[i]; e.LastOffset >= from && e.MaxTimestamp >= ts {
			return e
		}
	}
	return nil
}

// entryReaching agrees with a linear scan of the entries across the snapshot changes a
// partition goes through: uploads appending in place (sharing the array, as appendEntries
// does), retention copying the entries above a new start, reloads, with timestamps that go
// back in time and entries without timestamps (max -1).
func TestEntryReachingMatchesScan(t *testing.T) {
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 3))
		p := &RemotePartition{}
		st := &remoteState{}
		p.state.Store(st)
		next, clock := int64(0), int64(1000)
		var entries []SegmentEntry
		for step := range 2000 {
			switch op := r.IntN(100); {
			case op < 45: // upload: append in place
				k := 1 + r.IntN(3)
				for range k {
					n := 1 + r.Int64N(50)
					maxTs := clock + r.Int64N(40) - 30
					switch r.IntN(12) {
					case 0:
						maxTs = -1
					case 1:
						maxTs = clock - 500 - r.Int64N(500)
					}
					entries = append(entries, SegmentEntry{BaseOffset: next, LastOffset: next + n - 1, MaxTimestamp: maxTs})
					next += n + r.Int64N(2) // sometimes a gap
					clock += r.Int64N(20)
				}
				st = &remoteState{entries: entries, start: st.start}
				if len(entries) == k {
					st.start = entries[0].BaseOffset
				}
			case op < 52: // retention or DeleteRecords: a copy of the entries above the new start
				if len(entries) == 0 {
					continue
				}
				start := st.start + r.Int64N(next-st.start+1)
				var kept []SegmentEntry
				for _, e := range entries {
					if e.LastOffset >= start {
						kept = append(kept, e)
					}
				}
				entries = kept
				st = &remoteState{entries: entries, start: start}
			case op < 53: // a reload: a new array with the same entries
				entries = append([]SegmentEntry(nil), entries...)
				st = &remoteState{entries: entries, start: st.start}
			default:
				from := int64(math.MinInt64)
				if r.IntN(2) == 0 && next > 0 {
					from = r.Int64N(next + 5)
				}
				ts := clock - 600 + r.Int64N(700)
				switch r.IntN(10) {
				case 0:
					ts = -1
				case 1:
					ts = math.MinInt64
				case 2:
					ts = math.MaxInt64
				}
				got, e := p.entryReaching(from, ts)
				if got != st {
					t.Fatalf("seed %d step %d: entryReaching used another snapshot", seed, step)
				}
				if want := linearReaching(st, from, ts); e != want {
					t.Fatalf("seed %d step %d: entryReaching(%d, %d) = %+v, want %+v (start %d, %d entries)", seed, step, from, ts, e, want, st.start, len(st.entries))
				}
				continue
			}
			p.state.Store(st)
		}
	}
}

// BenchmarkEntryReaching is the manifest lookup of FindTimestamp (ListOffsets by timestamp
// on the remote tier) for targets spread over n entries, against the linear scan it
// replaced (linear=true); the tree's cost should grow with log n only.
func BenchmarkEntryReaching(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		entries := make([]SegmentEntry, n)
		for i := range entries {
			entries[i] = SegmentEntry{BaseOffset: int64(10 * i), LastOffset: int64(10*i + 9), MaxTimestamp: int64(1000 + 10*i)}
		}
		for _, linear := range []bool{false, true} {
			b.Run(fmt.Sprintf("entries=%d/linear=%v", n, linear), func(b *testing.B) {
				p := &RemotePartition{}
				st := &remoteState{entries: entries}
				p.state.Store(st)
				r := rand.New(rand.NewPCG(1, 2))
				for b.Loop() {
					i := r.IntN(n)
					var e *SegmentEntry
					if linear {
						e = linearReaching(st, math.MinInt64, int64(1000+10*i))
					} else {
						_, e = p.entryReaching(math.MinInt64, int64(1000+10*i))
					}
					if e != &entries[i] {
						b.Fatalf("entry %d: got %+v", i, e)
					}
				}
			})
		}
	}
}
