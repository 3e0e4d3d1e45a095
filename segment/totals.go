package segment

import "sort"

// sealedTotals are the byte count and the max timestamp of the sealed segments of one
// snapshot (all but the active segment), so that Size and MaxTimestamp cost what changed
// since they were last asked, not the length of the history: a log of 100,000 segments
// is asked for its size by every maintenance run and metrics scrape, and for its max
// timestamp by every ListOffsets(MAX_TIMESTAMP).
//
// They are derived from the previous totals when the new snapshot keeps a run of the old
// sealed segments (identical *segment values) and only lost some at the head (retention)
// or gained some at the tail (rolls): the dropped and the added segments are counted, the
// rest is not visited. Anything else (Open, a restart, a first call) counts every segment
// once. If the segment holding the max timestamp was dropped, the max is recounted over
// the remaining sealed segments (retention usually drops old timestamps, so this is
// rare). A sealed segment's size and max timestamp never change once a newer segment is
// published, which is what makes the totals reusable.
//
// The totals are a cache of a pure function of the snapshot: concurrent callers may each
// compute and store them, and a stale store is harmless (it is checked against the
// snapshot it names before use).
type sealedTotals struct {
	snap   *[]*segment // the snapshot they were computed for
	sealed []*segment  // its sealed segments
	bytes  int64
	max    tsMark   // largest max timestamp of sealed and the first offset reaching it; -1, -1 if none
	holder *segment // the first segment of sealed whose max timestamp is max.ts; nil if none
}

// totals returns the sealed totals of the current snapshot.
func (l *Log) totals() *sealedTotals {
	p := l.segs.Load()
	old := l.sealedTotals.Load()
	if old != nil && old.snap == p {
		return old
	}
	t := nextTotals(old, *p)
	t.snap = p
	l.sealedTotals.Store(t)
	return t
}

// nextTotals computes the totals of snapshot segs, from old where it can.
func nextTotals(old *sealedTotals, segs []*segment) *sealedTotals {
	sealed := segs[:len(segs)-1]
	t := &sealedTotals{sealed: sealed, max: tsMark{ts: -1, off: -1}}
	if old == nil || len(old.sealed) == 0 || len(sealed) == 0 {
		t.recount()
		return t
	}
	i := indexOfSegment(old.sealed, sealed[0])                 // old segments dropped at the head
	j := indexOfSegment(sealed, old.sealed[len(old.sealed)-1]) // the last old one in the new
	if i < 0 || j < 0 || j != len(old.sealed)-1-i {
		t.recount()
		return t
	}
	t.bytes = old.bytes
	for _, s := range old.sealed[:i] {
		t.bytes -= s.size.Load()
	}
	for _, s := range sealed[j+1:] {
		t.bytes += s.size.Load()
	}
	if old.holder != nil && old.holder.base < sealed[0].base {
		t.recountMax()
		return t
	}
	t.max, t.holder = old.max, old.holder
	for _, s := range sealed[j+1:] {
		t.consider(s)
	}
	return t
}

func (t *sealedTotals) recount() {
	t.bytes = 0
	for _, s := range t.sealed {
		t.bytes += s.size.Load()
	}
	t.recountMax()
}

func (t *sealedTotals) recountMax() {
	t.max, t.holder = tsMark{ts: -1, off: -1}, nil
	for _, s := range t.sealed {
		t.consider(s)
	}
}

// consider takes s's max timestamp if it is larger (ties keep the earlier segment, as a
// scan from the oldest segment would).
func (t *sealedTotals) consider(s *segment) {
	if m := s.maxMark.Load(); m.ts > t.max.ts {
		t.max, t.holder = *m, s
	}
}

// indexOfSegment returns the index of s in segs (sorted by base offset), or -1.
func indexOfSegment(segs []*segment, s *segment) int {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base >= s.base })
	if i < len(segs) && segs[i] == s {
		return i
	}
	return -1
}
