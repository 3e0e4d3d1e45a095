package partition

import "fmt"

// RestartEmptyAt restarts a brand-new, empty local log (next offset 0) at offset, so that
// the first record appended gets offset: a broker restored onto an empty data dir does this
// for a partition of a topic that is not tiered, after the log end it recorded in the
// bucket, so that offsets acknowledged before the disk was lost are not handed out again
// (a tiered partition gets the same from its tier: restartAtRemoteLocked). A log that
// holds or held records is left alone. It reports whether the log moved.
func (p *Partition) RestartEmptyAt(offset int64) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.log
	if offset <= 0 || l.NextOffset() != 0 || l.LogStartOffset() != 0 {
		return false, nil
	}
	if err := l.SetLogStartOffset(offset); err != nil {
		return false, fmt.Errorf("cannot restart local log of %s-%d at %d: %w", p.topicName, p.index, offset, err)
	}
	p.logger.Warn("local log restarted after its recorded end: offsets acknowledged before but lost with the disk are skipped, not reused",
		"offset", offset)
	p.resyncActiveLocked()
	return true, nil
}
