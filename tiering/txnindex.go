package tiering

// Aborted transactions in the bucket. The broker keeps a partition's aborted transactions
// in <partition dir>/aborted.txnindex (partition/txn.go: Kafka's .txnindex entries, 34
// bytes each, in marker order, every entry written and fsynced before its segment is
// sealed). An upload copies the entries whose ABORT marker lies in the segment into the
// segment's manifest entry (SegmentEntry.AbortedTxns), in the same manifest write that
// makes the segment remote, so a segment the broker may delete locally always has its
// aborted transactions in the bucket, and a broker restored from the bucket answers
// read_committed fetches of remote data with them.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/strata-io/strata/segment"
)

// TxnIndexFile is the partition's aborted-transaction index (partition.TxnIndexFile).
const TxnIndexFile = "aborted.txnindex"

// AbortedTxn is one aborted transaction: its producer, its first offset, the offset of
// its ABORT marker and the partition's last stable offset once it completed.
type AbortedTxn struct {
	ProducerID       int64 `json:"pid"`
	FirstOffset      int64 `json:"first"`
	LastOffset       int64 `json:"last"`
	LastStableOffset int64 `json:"lso"`
}

// AbortedTxnList is a segment's aborted transactions, by marker offset.
type AbortedTxnList []AbortedTxn

// segmentAbortedTxns returns the aborted transactions whose marker is in seg (nil: none).
func segmentAbortedTxns(seg segment.SegmentInfo) (*AbortedTxnList, error) {
	if seg.LogPath == "" {
		return nil, nil
	}
	path := filepath.Join(filepath.Dir(seg.LogPath), TxnIndexFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, err)
	}
	var out AbortedTxnList
	for ; len(b) >= 34; b = b[34:] {
		a := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		if a.LastOffset >= seg.BaseOffset && a.LastOffset < seg.NextOffset {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return &out, nil
}
