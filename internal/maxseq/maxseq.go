// Package maxseq answers "the first value at or after position p that is at least v" in
// time logarithmic in the length of a sequence that grows at the tail and shrinks at the
// head: the max timestamps of a log's segments, local or remote, where ListOffsets by
// timestamp needs the first segment that reaches a timestamp. Timestamps in a log are not
// monotone, so a binary search over the values themselves would be wrong; the search runs
// over a tree of block maxima instead.
//
// It imports nothing, so the segment package still depends on the standard library only.
package maxseq

import "math"

// blockLen values share one leaf of the tree: a search scans at most two blocks besides
// its walk of the tree, and the tree costs a few bytes per value.
const blockLen = 32

// Seq is a sequence of int64 values addressed by absolute positions: the first value ever
// appended is position 0, and dropping values from the head does not renumber the rest.
// The zero value is an empty sequence. Not safe for concurrent use.
type Seq struct {
	base int     // absolute position of vals[0]; a multiple of blockLen
	lo   int     // absolute position of the first live value (base <= lo)
	vals []int64 // vals[i] is the value at base+i; those below lo are dropped
	n    int     // leaves of the tree (a power of two), each the max of one block
	tree []int64 // tree[n+b]: max of block b of vals; tree[k] = max(tree[2k], tree[2k+1])
}

// Start returns the absolute position of the first live value.
func (s *Seq) Start() int { return s.lo }

// End returns the absolute position after the last value.
func (s *Seq) End() int { return s.base + len(s.vals) }

// At returns the value at absolute position p, which must be live.
func (s *Seq) At(p int) int64 { return s.vals[p-s.base] }

// Append adds v at position End().
func (s *Seq) Append(v int64) {
	s.vals = append(s.vals, v)
	b := (len(s.vals) - 1) / blockLen
	if b >= s.n {
		s.rebuild()
		return
	}
	for k := s.n + b; k > 0 && s.tree[k] < v; k >>= 1 {
		s.tree[k] = v
	}
}

// DropHead drops the first k live values (all of them if fewer are live).
func (s *Seq) DropHead(k int) {
	s.lo = min(s.lo+k, s.End())
	// Reclaim the dropped values once they are the larger part, so that a log that rolls
	// and deletes forever keeps its sequence as long as its history.
	if dead := s.lo - s.base; dead >= 4*blockLen && dead >= len(s.vals)/2 {
		s.rebuild()
	}
}

// Reset empties the sequence; positions start again from 0.
func (s *Seq) Reset() {
	*s = Seq{vals: s.vals[:0], tree: s.tree[:0]}
}

// rebuild drops the whole blocks below lo and rebuilds the tree with room to grow.
func (s *Seq) rebuild() {
	if cut := (s.lo - s.base) / blockLen * blockLen; cut > 0 {
		n := copy(s.vals, s.vals[cut:])
		s.vals = s.vals[:n]
		s.base += cut
	}
	blocks := (len(s.vals) + blockLen - 1) / blockLen
	s.n = 1
	for s.n < 2*blocks {
		s.n *= 2
	}
	if cap(s.tree) >= 2*s.n {
		s.tree = s.tree[:2*s.n]
	} else {
		s.tree = make([]int64, 2*s.n)
	}
	for i := range s.tree {
		s.tree[i] = math.MinInt64
	}
	for i, v := range s.vals {
		if k := s.n + i/blockLen; v > s.tree[k] {
			s.tree[k] = v
		}
	}
	for k := s.n - 1; k > 0; k-- {
		s.tree[k] = max(s.tree[2*k], s.tree[2*k+1])
	}
}

// FirstAtLeast returns the first live absolute position p >= from whose value is >= v, or
// -1 if there is none.
func (s *Seq) FirstAtLeast(from int, v int64) int {
	from = max(from, s.lo)
	i := from - s.base
	if i >= len(s.vals) {
		return -1
	}
	b := i / blockLen
	if p := s.scanBlock(i, b, v); p >= 0 {
		return p
	}
	if b = s.firstBlock(b+1, v); b < 0 {
		return -1
	}
	// Every value of a block after from's is live, so the block's max is among them.
	return s.scanBlock(b*blockLen, b, v)
}

// scanBlock returns the first position from vals index i to the end of block b whose
// value is >= v, or -1.
func (s *Seq) scanBlock(i, b int, v int64) int {
	end := min(len(s.vals), (b+1)*blockLen)
	for ; i < end; i++ {
		if s.vals[i] >= v {
			return s.base + i
		}
	}
	return -1
}

// firstBlock returns the first block >= b whose max is >= v, or -1: up the tree from b's
// leaf to the first subtree on the right that reaches v, then down to its leftmost leaf
// that does.
func (s *Seq) firstBlock(b int, v int64) int {
	if b >= s.n {
		return -1
	}
	k := s.n + b
	for s.tree[k] < v {
		for k&1 == 1 { // a right child: its right neighbour is an uncle's subtree
			k >>= 1
		}
		if k == 0 {
			return -1
		}
		k++
	}
	for k < s.n {
		if k *= 2; s.tree[k] < v {
			k++
		}
	}
	return k - s.n
}
