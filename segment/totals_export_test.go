package segment

// RecountTotals is Size and MaxTimestamp computed by visiting every segment of the
// current snapshot (its lazy part included), to check the incremental figures of totals.go against.
func (l *Log) RecountTotals() (size, maxTs, maxOff int64) {
	maxTs, maxOff = -1, -1
	p := l.view()
	if z := p.lazy; z != nil {
		for _, e := range z.recs.all() {
			size += e.size
			if e.maxTs > maxTs {
				maxTs, maxOff = e.maxTs, e.maxOff
			}
		}
	}
	for _, s := range p.segs {
		size += s.size.Load()
		if m := s.maxMark.Load(); m.ts > maxTs {
			maxTs, maxOff = m.ts, m.off
		}
	}
	return size, maxTs, maxOff
}
