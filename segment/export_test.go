package segment

// OpenSealedFiles reports how many lazily opened segment files are open and how many
// evicted ones wait for their retire delay (files.go).
func (l *Log) OpenSealedFiles() (open, retired int) { return l.files.openFiles() }
