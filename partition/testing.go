package partition

import "github.com/strata-io/strata/segment"

// LogForTesting returns the partition's local log, for the tests of packages that compose
// partitions (broker): they stage states no client request produces (a local log start
// moved as local retention would, a durable offset to check). Nothing else may use it:
// the partition is the log's single writer.
func (p *Partition) LogForTesting() *segment.Log { return p.log }

// PendingRemoteReadForTesting waits for the partition's pending remote read (a read a
// fetch did not take yet: its fetch stopped waiting) if it is at offset, and returns its
// record bytes and error; ok=false when no read at offset is pending.
func (p *Partition) PendingRemoteReadForTesting(offset int64) (n int, err error, ok bool) {
	p.remoteMu.Lock()
	r := p.remotePending
	p.remoteMu.Unlock()
	if r == nil || r.offset != offset {
		return 0, nil, false
	}
	<-r.done
	return r.data.Len(), r.err, true
}
