package segment

import "sort"

// Size and MaxTimestamp cost what changed since they were last asked, not the length of
// the history: a log of 100,000 segments is asked for its size by every maintenance run,
// metrics scrape and disk-budget check, and for its max timestamp by every
// ListOffsets(MAX_TIMESTAMP).
//
// The sealed segments' figures (all but the active segment's) are kept for the snapshot
// they were last computed for, and moved to a new snapshot that keeps a run of the old
// sealed segments (identical *segment values) and only lost some at the head (retention)
// or gained some at the tail (rolls) by visiting just those. Anything else (Open, a
// restart, a first call) counts every segment once. A sealed segment's size and max
// timestamp never change once a newer segment is published, which is what makes the
// figures reusable.
//
// The max timestamp is a sliding-window maximum: maxq holds the sealed segments that can
// still become the max as the head is deleted, in log order with non-increasing max
// timestamps (a segment is dropped from the back when a later one has a larger max), so
// its front is the first segment holding the max, as a scan from the oldest segment would
// find it. Each segment enters and leaves maxq once.

// sealedTotals are the published figures of one snapshot's sealed segments.
type sealedTotals struct {
	snap  *segSnapshot // the snapshot they were computed for (its lazy segments included)
	bytes int64
	max   tsMark // -1, -1 if no sealed segment has a timestamp
}

// totalsState is what the next figures are derived from; guarded by Log.totalsMu.
type totalsState struct {
	sealed []*segment // the sealed segments of the last snapshot counted
	bytes  int64
	maxq   []*segment // from qhead on; see above
	qhead  int
}

// totals returns the sealed figures of the current snapshot.
func (l *Log) totals() *sealedTotals {
	p := l.segs.Load()
	if t := l.sealedTotals.Load(); t != nil && t.snap == p {
		return t
	}
	l.totalsMu.Lock()
	defer l.totalsMu.Unlock()
	p = l.segs.Load() // the newest: the state only ever moves forward
	if t := l.sealedTotals.Load(); t != nil && t.snap == p {
		return t
	}
	st := &l.totalsState
	st.advance(p.segs[:len(p.segs)-1])
	t := &sealedTotals{snap: p, bytes: st.bytes, max: tsMark{ts: -1, off: -1}}
	if st.qhead < len(st.maxq) {
		t.max = *st.maxq[st.qhead].maxMark.Load()
	}
	if z := p.lazy; z != nil { // older than every made segment: its max wins a tie
		t.bytes += z.bytes
		if z.max.ts >= t.max.ts {
			t.max = z.max
		}
	}
	l.sealedTotals.Store(t)
	return t
}

// advance moves the state to the snapshot whose sealed segments are sealed.
func (st *totalsState) advance(sealed []*segment) {
	old := st.sealed
	st.sealed = sealed
	if len(old) > 0 && len(sealed) > 0 {
		i := indexOfSegment(old, sealed[0])          // old segments dropped at the head
		j := indexOfSegment(sealed, old[len(old)-1]) // the last old one in the new
		if i >= 0 && j >= 0 && j == len(old)-1-i {
			for _, s := range old[:i] {
				st.bytes -= s.size.Load()
			}
			for st.qhead < len(st.maxq) && st.maxq[st.qhead].base < sealed[0].base {
				st.maxq[st.qhead] = nil
				st.qhead++
			}
			for _, s := range sealed[j+1:] {
				st.add(s)
			}
			return
		}
	}
	st.bytes, st.maxq, st.qhead = 0, st.maxq[:0], 0
	clear(st.maxq[:cap(st.maxq)])
	for _, s := range sealed {
		st.add(s)
	}
}

// add counts a segment appended to the sealed ones.
func (st *totalsState) add(s *segment) {
	st.bytes += s.size.Load()
	ts := s.maxMark.Load().ts
	for len(st.maxq) > st.qhead && st.maxq[len(st.maxq)-1].maxMark.Load().ts < ts {
		st.maxq[len(st.maxq)-1] = nil
		st.maxq = st.maxq[:len(st.maxq)-1]
	}
	if st.qhead == len(st.maxq) {
		st.maxq, st.qhead = st.maxq[:0], 0
	} else if st.qhead > 64 && st.qhead > len(st.maxq)/2 { // reuse the space of popped entries
		n := copy(st.maxq, st.maxq[st.qhead:])
		clear(st.maxq[n:])
		st.maxq, st.qhead = st.maxq[:n], 0
	}
	st.maxq = append(st.maxq, s)
}

// indexOfSegment returns the index of s in segs (sorted by base offset), or -1.
func indexOfSegment(segs []*segment, s *segment) int {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base >= s.base })
	if i < len(segs) && segs[i] == s {
		return i
	}
	return -1
}
