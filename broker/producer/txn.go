package producer

import "sort"

// Transactions on a partition (KIP-98). A producer's first transactional batch after a
// marker opens its transaction on the partition at that batch's base offset; its next
// control batch (a COMMIT or ABORT marker written by the transaction coordinator) closes
// it. The first offset of every open transaction bounds the partition's last stable
// offset (LSO): read_committed consumers read only below it. The open transactions are
// part of the state, so snapshots (version 2, snapshot.go) carry them and recovery
// computes the same LSO.

// applyTxnLocked updates e's open transaction for batch b.
func (s *State) applyTxnLocked(e *Entry, b BatchMeta) {
	switch {
	case b.Control:
		s.setTxnLocked(e, false, 0)
	case b.Transactional && !e.InTxn:
		s.setTxnLocked(e, true, b.FirstOffset)
	}
}

// setTxnLocked opens (at first) or closes e's transaction.
func (s *State) setTxnLocked(e *Entry, open bool, first int64) {
	e.InTxn, e.TxnFirstOffset = open, first
	if open {
		s.open[e.ProducerID] = e
	} else {
		e.TxnFirstOffset = 0
		delete(s.open, e.ProducerID)
	}
}

// OpenTxn is one producer's open transaction on a partition.
type OpenTxn struct {
	ProducerID  int64
	Epoch       int16
	FirstOffset int64
}

// OpenTxns returns the open transactions, by first offset.
func (s *State) OpenTxns() []OpenTxn {
	s.mu.Lock()
	var out []OpenTxn
	for _, e := range s.open {
		out = append(out, OpenTxn{ProducerID: e.ProducerID, Epoch: e.Epoch, FirstOffset: e.TxnFirstOffset})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].FirstOffset < out[j].FirstOffset })
	return out
}

// TxnFirstOffset returns the first offset of pid's open transaction, if it has one.
func (s *State) TxnFirstOffset(pid int64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.producers[pid]
	if !ok || !e.InTxn {
		return -1, false
	}
	return e.TxnFirstOffset, true
}

// BeginTxn opens pid's transaction at firstOffset if it has none open, before the batch
// is appended, so that no reader sees the batch below the last stable offset. It reports
// whether it opened one (the caller undoes it with AbortBegin if the append fails).
func (s *State) BeginTxn(pid int64, epoch int16, firstOffset int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.producers[pid]
	if !ok {
		e = &Entry{ProducerID: pid, Epoch: epoch, LastSeen: s.cfg.Now().UnixMilli()}
		s.producers[pid] = e
	}
	if e.InTxn {
		return false
	}
	s.setTxnLocked(e, true, firstOffset)
	return true
}

// AbortBegin undoes a BeginTxn whose append failed.
func (s *State) AbortBegin(pid int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.producers[pid]; ok {
		s.setTxnLocked(e, false, 0)
		if len(e.Batches) == 0 {
			delete(s.producers, pid)
		}
	}
}

// FirstUnstableOffset is the smallest first offset of the open transactions.
func (s *State) FirstUnstableOffset() (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, found := int64(0), false
	for _, e := range s.open {
		if !found || e.TxnFirstOffset < first {
			first, found = e.TxnFirstOffset, true
		}
	}
	return first, found
}

// Entries returns a copy of every producer's state, by producer id (DescribeProducers).
func (s *State) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	es := s.entriesLocked()
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = *e
		out[i].Batches = append([]BatchMeta(nil), e.Batches...)
	}
	return out
}
