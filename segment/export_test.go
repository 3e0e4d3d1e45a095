package segment

import (
	"fmt"
	"os"
	"path/filepath"
)

// OpenSealedFiles reports how many lazily opened segment files are open and how many
// evicted ones wait for their retire delay (files.go).
func (l *Log) OpenSealedFiles() (open, retired int) { return l.files.openFiles() }

// SetOpenSealedParallel sets the segment count from which Open checks sealed segments in
// parallel, and returns a function restoring it.
func SetOpenSealedParallel(n int) func() {
	old := openSealedParallel
	openSealedParallel = n
	return func() { openSealedParallel = old }
}

// LazyRebuiltIndexes reports how many indexes of segments opened from the clean-shutdown
// summary were found damaged on first use and rebuilt.
func (l *Log) LazyRebuiltIndexes() int64 {
	if z := l.view().lazy; z != nil {
		return z.check.rebuilt.Load()
	}
	for _, s := range l.snapshot() {
		if s.unchecked != nil {
			return s.unchecked.check.rebuilt.Load()
		}
	}
	return 0
}

// OpenedFromSummary reports how many segments were opened from the clean-shutdown summary
// (made into segments or still lazy).
func (l *Log) OpenedFromSummary() int {
	p := l.view()
	n := 0
	if p.lazy != nil {
		n = p.lazy.recs.len()
	}
	for _, s := range p.segs {
		if s.unchecked != nil {
			n++
		}
	}
	return n
}

// LazySegments reports how many sealed segments are still lazy (lazy.go).
func (l *Log) LazySegments() int {
	if z := l.view().lazy; z != nil {
		return z.recs.len()
	}
	return 0
}

// RewriteCleanMarkerV2 rewrites the v3 clean-shutdown marker of the closed log in dir as
// the v2 marker a version before v3 would have written.
func RewriteCleanMarkerV2(dir string) error {
	path := filepath.Join(dir, cleanMarkerFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	recs, active := decodeCleanMarkerV3(b)
	if recs == nil {
		return fmt.Errorf("%s: not a v3 marker", path)
	}
	var segs []*segment
	for _, e := range recs.all() {
		s := newSegment(nil, dir, e.base)
		s.size.Store(e.size)
		s.next.Store(e.next)
		s.setMax(e.maxTs, e.maxOff)
		s.created.Store(e.created)
		s.modified.Store(e.modified)
		segs = append(segs, s)
	}
	return os.WriteFile(path, encodeCleanMarker(segs, active), 0o644)
}

// WaitIndexSync waits for a background fsync of the active segment's index files.
func (l *Log) WaitIndexSync() { l.idxSyncWG.Wait() }
