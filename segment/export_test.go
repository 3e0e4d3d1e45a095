package segment

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
