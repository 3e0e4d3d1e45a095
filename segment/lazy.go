package segment

import "sort"

// After a clean shutdown, Open does not make the sealed segments the summary names into
// segments (structs with three paths, atomics and a lazily loaded index each), so that
// start-up does not cost time and memory in proportion to a long history. It keeps the
// marker's records as read (summary.go, v3: fixed-size, no pointers) as the lazy part of
// the snapshot, and makes them into segments all at once (materialise) the first time
// something needs one of them as a segment:
//
//   - Read of an offset below the segments made so far, FindTimestamp of a timestamp a
//     lazy segment may hold, Segments, SegmentsFrom of an offset below them;
//   - the writer before it deletes from the head (ApplyRetention with a limit,
//     DeleteOldestSegment, SetLogStartOffset raising the start).
//
// What the log reports without them comes from the records: LogStartOffset (set by Open),
// Size and MaxTimestamp (totals computed once at Open), HasSegment (a binary search of the
// records). Close writes the records back into the clean-shutdown marker as they were, so a
// log that never needed its history stops and starts again without making it.
//
// A Roll while they are lazy appends to the made segments (publishRolled); materialise
// prepends the lazy ones. Both publish by compare-and-swap, so neither loses the other's
// change, and materialise does not take the writer's lock: a reader that makes them does
// not wait for an Append, and an Append waits for nobody's materialise (the writer only
// materialises before it takes mu). Nothing else publishes while segments are lazy: every
// other publication (deletions from the head, restart, Open) happens on a snapshot with no
// lazy part, and publish refuses one.
//
// An unclean shutdown leaves no marker (Open removes it durably before it returns), so a
// crash at any time, lazy or not, takes the full recovery path at the next Open.

// segSnapshot is the published segment list: segs oldest first, the last one active, and
// the lazy sealed segments older than segs[0] (nil once made, or when Open made them all).
// A snapshot is never modified once published.
type segSnapshot struct {
	segs []*segment
	lazy *lazySealed
}

// lazySealed holds sealed segments taken from the clean-shutdown summary and not made into
// segments yet: the marker's v3 records where Open read them. It is immutable.
type lazySealed struct {
	recs  summaryRecords // base offsets ascending; each next is the following base, the last one's is the base of segs[0]
	bytes int64          // total size of recs
	max   tsMark         // the largest maxTs of recs and the first record's maxOff holding it; -1, -1 if none
	check *lazyCheck
}

// newLazySealed returns the lazy part for a summary whose records are the sealed segments
// before the active one at base active, or nil if the summary does not describe a gapless
// log (each record's next offset is the following base, the last one's is active): Open then
// takes the path that checks such segments.
func newLazySealed(recs summaryRecords, active int64, check *lazyCheck) *lazySealed {
	n := recs.len()
	if n == 0 {
		return nil
	}
	z := &lazySealed{recs: recs, max: tsMark{ts: -1, off: -1}, check: check}
	for i := range n {
		next := active
		if i+1 < n {
			next = recs.baseAt(i + 1)
		}
		if recs.field(i, 2) != next {
			return nil
		}
		z.bytes += recs.field(i, 1)
		if ts := recs.field(i, 3); ts > z.max.ts {
			z.max = tsMark{ts: ts, off: recs.field(i, 4)}
		}
	}
	return z
}

// build makes the records into segments (no system call), as Open would have.
func (z *lazySealed) build(l *Log) []*segment {
	n := z.recs.len()
	bases := make([]int64, n)
	for i := range n {
		bases[i] = z.recs.baseAt(i)
	}
	slab := newSummarySlab(l.dir, bases)
	segs := make([]*segment, n)
	for i := range n {
		segs[i] = l.openSummarised(z.recs.at(i), z.check, slab)
	}
	return segs
}

// has reports whether a lazy sealed segment starts at base.
func (z *lazySealed) has(base int64) bool {
	n := z.recs.len()
	i := sort.Search(n, func(i int) bool { return z.recs.baseAt(i) >= base })
	return i < n && z.recs.baseAt(i) == base
}

// view returns the current snapshot, whose oldest sealed segments may still be lazy.
func (l *Log) view() *segSnapshot { return l.segs.Load() }

// materialise makes the snapshot's lazy sealed segments (if any) into segments, publishes
// them and returns the current snapshot, which has none. Concurrent callers wait for the
// first; it never takes mu, so the writer may call it holding mu (it does not, so as not to
// hold up Append).
func (l *Log) materialise() *segSnapshot {
	if p := l.segs.Load(); p.lazy == nil {
		return p
	}
	l.matMu.Lock()
	defer l.matMu.Unlock()
	p := l.segs.Load()
	if p.lazy == nil {
		return p
	}
	built := p.lazy.build(l)
	for {
		segs := make([]*segment, 0, len(built)+len(p.segs))
		next := &segSnapshot{segs: append(append(segs, built...), p.segs...)}
		if l.segs.CompareAndSwap(p, next) {
			return next
		}
		p = l.segs.Load() // a roll published meanwhile; only materialise (under matMu) clears lazy
	}
}

// allSegments returns the current snapshot's segments, the lazy ones made.
func (l *Log) allSegments() []*segment { return l.materialise().segs }

// segmentsForTimestamp returns the segments FindTimestamp must look at for ts: those of the
// current snapshot, the lazy ones made only if one of them may hold a timestamp >= ts
// (otherwise the first batch reaching ts is in the others).
func (l *Log) segmentsForTimestamp(ts int64) []*segment {
	p := l.segs.Load()
	if p.lazy != nil && p.lazy.max.ts >= ts {
		p = l.materialise()
	}
	return p.segs
}

// publishRolled publishes the current snapshot with seg appended (Roll), keeping its lazy
// part: the one publication that may race with materialise.
func (l *Log) publishRolled(seg *segment) {
	for {
		p := l.segs.Load()
		segs := make([]*segment, 0, len(p.segs)+1)
		next := &segSnapshot{segs: append(append(segs, p.segs...), seg), lazy: p.lazy}
		if l.segs.CompareAndSwap(p, next) {
			return
		}
	}
}
