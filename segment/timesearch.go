package segment

import (
	"sort"

	"github.com/strata-io/strata/internal/maxseq"
)

// FindTimestamp costs the logarithm of the number of segments, not their number: it needs
// the first segment (from the log start) whose max timestamp reaches the target, and since
// timestamps in a log need not rise, that is a search over a tree of the sealed segments'
// max timestamps (internal/maxseq), not a binary search over the timestamps themselves.
//
// The tree is kept for the snapshot it was last advanced to, and advanced like the totals
// (totals.go): a new snapshot that keeps a run of the old sealed segments and only lost
// some at the head or gained some at the tail costs what changed; anything else rebuilds
// it. A sealed segment's max timestamp never changes once a newer segment is published.

// timeSearch is the tree and the snapshot it describes; guarded by Log.timeMu.
type timeSearch struct {
	snap   *segSnapshot
	sealed []*segment // the sealed segments of snap; sealed[i] is at position seq.Start()+i
	seq    maxseq.Seq // their max timestamps
}

// advance moves the tree to the snapshot whose sealed segments are sealed.
func (t *timeSearch) advance(sealed []*segment) {
	old := t.sealed
	t.sealed = sealed
	if len(old) > 0 && len(sealed) > 0 {
		i := indexOfSegment(old, sealed[0])          // old segments dropped at the head
		j := indexOfSegment(sealed, old[len(old)-1]) // the last old one in the new
		if i >= 0 && j >= 0 && j == len(old)-1-i {
			t.seq.DropHead(i)
			for _, s := range sealed[j+1:] {
				t.seq.Append(s.maxMark.Load().ts)
			}
			return
		}
	}
	t.seq.Reset()
	for _, s := range sealed {
		t.seq.Append(s.maxMark.Load().ts)
	}
}

// sealedReaching returns the first sealed segment of the newest snapshot that holds an
// offset >= from and whose max timestamp is >= ts (nil if none), with that snapshot's
// active segment and the log start loaded after it. Lazy sealed segments (lazy.go) are
// made first only if one of them may reach ts; otherwise the answer is not among them.
func (l *Log) sealedReaching(from, ts int64) (seg, act *segment, start int64) {
	l.timeMu.Lock()
	defer l.timeMu.Unlock()
	p := l.segs.Load()
	if p.lazy != nil && p.lazy.max.ts >= ts {
		p = l.materialise()
	}
	t := &l.timeSearch
	if t.snap != p {
		t.advance(p.segs[:len(p.segs)-1])
		t.snap = p
	}
	start = l.logStart.Load()
	from = max(from, start)
	i := sort.Search(len(t.sealed), func(i int) bool { return t.sealed[i].next.Load() > from })
	if k := t.seq.FirstAtLeast(t.seq.Start()+i, ts); k >= 0 {
		seg = t.sealed[k-t.seq.Start()]
	}
	return seg, p.segs[len(p.segs)-1], start
}
