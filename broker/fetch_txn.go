package broker

// Fetch with isolation_level=read_committed (1): records below the partition's last
// stable offset only, and the aborted transactions whose data may be in them (from the
// partition's aborted-transaction index, partition/txn.go), so the client drops it.
// Local reads then go through a buffer (not sendfile): the batches are cut at the LSO and
// the list needs the offset the records end at.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

// readCommittedLocal reads like ReadLocal, keeps the batches below lso and fills sp's
// aborted transactions for them.
func readCommittedLocal(p *partition.Partition, off int64, limit int, minOne bool, alloc func(int) []byte, lso int64, sp *kmsg.FetchResponseTopicPartition) ([]byte, bool, error) {
	sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	if off >= lso {
		return nil, true, nil
	}
	data, local, err := p.ReadLocal(off, limit, minOne, alloc)
	if err != nil || !local || len(data) == 0 {
		return data, local, err
	}
	n, end := 0, off
	_ = partition.SplitBatches(data, func(h segment.BatchHeader, batch []byte) (bool, error) {
		if h.BaseOffset >= lso {
			return false, nil
		}
		n += len(batch)
		end = h.LastOffset() + 1
		return true, nil
	})
	setAborted(p, off, end, sp)
	return data[:n], true, nil
}

// setAborted lists in sp the aborted transactions with data in [from, end).
func setAborted(p *partition.Partition, from, end int64, sp *kmsg.FetchResponseTopicPartition) {
	sp.AbortedTransactions = sp.AbortedTransactions[:0]
	if end <= from {
		return
	}
	for _, a := range p.AbortedTxns(from, end) {
		t := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		t.ProducerID, t.FirstOffset = a.ProducerID, a.FirstOffset
		sp.AbortedTransactions = append(sp.AbortedTransactions, t)
	}
}

// remoteCommitted applies read_committed to records read from the bucket (as data, or as
// a section of chunk slices): their aborted transactions are listed and, in the rare case
// of an open transaction that started in remote data (the LSO below the local log start),
// the batches from the LSO on are cut.
func remoteCommitted(p *partition.Partition, from int64, recs tiering.Records, data []byte, sec *recordSection, sp *kmsg.FetchResponseTopicPartition) ([]byte, *recordSection) {
	lso, localStart := sp.LastStableOffset, p.LocalLogStartOffset()
	if lso >= localStart {
		setAborted(p, from, localStart, sp)
		return data, sec
	}
	b := recordBytes(recs)
	n, end := 0, from
	_ = partition.SplitBatches(b, func(h segment.BatchHeader, batch []byte) (bool, error) {
		if h.BaseOffset >= lso {
			return false, nil
		}
		n += len(batch)
		end = h.LastOffset() + 1
		return true, nil
	})
	setAborted(p, from, end, sp)
	if n == 0 {
		return nil, nil
	}
	return b[:n], nil
}
