package segment

// RecountTotals is Size and MaxTimestamp computed by visiting every segment of the
// current snapshot, to check the incremental figures of totals.go against.
func (l *Log) RecountTotals() (size, maxTs, maxOff int64) {
	maxTs, maxOff = -1, -1
	for _, s := range l.snapshot() {
		size += s.size.Load()
		if m := s.maxMark.Load(); m.ts > maxTs {
			maxTs, maxOff = m.ts, m.off
		}
	}
	return size, maxTs, maxOff
}
