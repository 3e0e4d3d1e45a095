package maxseq

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naive is the linear scan the Seq must agree with.
func naive(vals []int64, lo, from int, v int64) int {
	for p := max(from, lo); p < len(vals); p++ {
		if vals[p] >= v {
			return p
		}
	}
	return -1
}

// Random appends, head drops, resets and searches agree with a linear scan over the same
// values, including non-monotone runs, -1 (no timestamp) and the extremes of int64.
func TestFirstAtLeastMatchesScan(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		var s Seq
		var vals []int64 // by absolute position
		lo := 0
		spread := int64(1 + r.IntN(1000))
		for step := range 3000 {
			switch op := r.IntN(100); {
			case op < 55:
				var v int64
				switch r.IntN(10) {
				case 0:
					v = -1
				case 1:
					v = math.MaxInt64
				case 2:
					v = math.MinInt64
				default:
					v = int64(step) + r.Int64N(spread) - spread/2 // mostly rising, not monotone
				}
				s.Append(v)
				vals = append(vals, v)
			case op < 70:
				k := r.IntN(40)
				s.DropHead(k)
				lo = min(lo+k, len(vals))
			case op < 71:
				s.Reset()
				vals, lo = nil, 0
			default:
				from := r.IntN(len(vals)+10) - 5
				var v int64
				switch r.IntN(8) {
				case 0:
					v = math.MinInt64
				case 1:
					v = math.MaxInt64
				case 2:
					v = -1
				default:
					v = int64(step) + r.Int64N(2*spread) - spread
				}
				if got, want := s.FirstAtLeast(from, v), naive(vals, lo, from, v); got != want {
					t.Fatalf("seed %d step %d: FirstAtLeast(%d, %d) = %d, want %d (start %d, end %d)", seed, step, from, v, got, want, lo, len(vals))
				}
			}
			if s.Start() != lo || s.End() != len(vals) {
				t.Fatalf("seed %d step %d: start %d end %d, want %d %d", seed, step, s.Start(), s.End(), lo, len(vals))
			}
			if lo < len(vals) && s.At(lo) != vals[lo] {
				t.Fatalf("seed %d step %d: At(%d) = %d, want %d", seed, step, lo, s.At(lo), vals[lo])
			}
		}
	}
}

func BenchmarkFirstAtLeast(b *testing.B) {
	var s Seq
	const n = 100_000
	for i := range n {
		s.Append(int64(i))
	}
	b.ResetTimer()
	for i := range b.N {
		s.FirstAtLeast(0, int64(i%n))
	}
}
