package partition

import (
	"context"
	"fmt"

	"github.com/strata-io/strata/segment"
)

// Special timestamps of ListOffset (Kafka's ListOffsetsRequest constants).
const (
	ListLatest          = -1 // high watermark (= last stable offset: no transactions)
	ListEarliest        = -2 // log start offset, remote data included
	ListMaxTimestamp    = -3 // offset and timestamp of the record with the largest timestamp (local log)
	ListEarliestLocal   = -4 // first offset on local disk (KIP-405)
	ListLatestTiered    = -5 // last offset in remote storage; -1 if none (KIP-1005)
	ListEarliestPending = -6 // first offset not yet uploaded; -1 without tiering (KIP-1023)

	// timestampScanChunk is how much of the local log one step of a timestamp scan reads.
	timestampScanChunk = 1 << 20
)

// ListOffset answers one ListOffsets query: ts is one of the special values (ListLatest,
// ...) or a timestamp (ms) >= 0, for which the first record at or after the log start with
// a timestamp >= ts is found, in the remote tier first when it holds data older than the
// local log, then in the local time index (the batch found is decompressed and walked to
// the exact record). Not found: offset -1, timestamp -1, no error. ctx bounds the remote
// lookup (ErrRemote). The max-timestamp lookup covers the local log only.
func (p *Partition) ListOffset(ctx context.Context, ts int64) (offset, timestamp int64, err error) {
	switch ts {
	case ListLatest:
		return p.HighWatermark(), -1, nil
	case ListEarliest:
		return p.LogStartOffset(), -1, nil
	case ListEarliestLocal:
		return p.LocalLogStartOffset(), -1, nil
	case ListLatestTiered:
		if t := p.getTier(); t != nil {
			if _, end, ok := t.Bounds(); ok && end > 0 {
				return end - 1, -1, nil
			}
		}
		return -1, -1, nil
	case ListEarliestPending:
		t := p.getTier()
		if t == nil || !p.config().RemoteStorageEnable {
			return -1, -1, nil
		}
		next := p.LocalLogStartOffset()
		if _, end, ok := t.Bounds(); ok && end > next {
			next = end
		}
		return next, -1, nil
	case ListMaxTimestamp:
		return p.maxTimestampOffset()
	}
	return p.offsetForTimestamp(ctx, ts)
}

// maxTimestampOffset finds the record holding the local log's largest timestamp.
func (p *Partition) maxTimestampOffset() (int64, int64, error) {
	maxTs, base := p.log.MaxTimestamp()
	if base < 0 {
		return -1, -1, nil
	}
	data, local, err := p.readLocal(base, 1, true)
	if err != nil || !local || len(data) == 0 {
		return -1, -1, err
	}
	off, _, err := offsetOfMaxTimestamp(data)
	if err != nil {
		return -1, -1, err
	}
	return off, maxTs, nil
}

// offsetForTimestamp returns the first record at or after the log start whose timestamp
// is >= ts, looking in the remote tier first when it holds older data.
func (p *Partition) offsetForTimestamp(ctx context.Context, ts int64) (int64, int64, error) {
	logStart := p.LogStartOffset()
	localStart := p.LocalLogStartOffset()
	if t := p.getTier(); t != nil {
		if start, _, ok := t.Bounds(); ok && start < localStart {
			batch, found, err := t.FindTimestamp(ctx, ts)
			if err != nil {
				return -1, -1, wrapRemoteErr(err)
			}
			if found {
				off, rts, ok, err := firstOffsetAtOrAfter(batch, ts, logStart)
				if err != nil {
					return -1, -1, err
				}
				if ok {
					return off, rts, nil
				}
			}
		}
	}

	r, found, err := p.log.FindTimestamp(ts)
	if err != nil {
		return -1, -1, classifyLogError(err)
	}
	if !found {
		return -1, -1, nil
	}
	// Walk forward from the batch the time index found: it holds a record with a
	// timestamp >= ts, unless that record is below the log start (DeleteRecords cut the
	// batch), in which case a later batch may.
	off := max(r.FirstOffset, logStart)
	hw := p.HighWatermark()
	for off < hw {
		data, local, err := p.readLocal(off, timestampScanChunk, true)
		if err != nil {
			return -1, -1, err
		}
		if !local || len(data) == 0 {
			break
		}
		o, rts, ok, err := firstOffsetAtOrAfter(data, ts, logStart)
		if err != nil {
			return -1, -1, err
		}
		if ok {
			return o, rts, nil
		}
		next := off
		_ = SplitBatches(data, func(h segment.BatchHeader, _ []byte) (bool, error) {
			next = h.LastOffset() + 1
			return true, nil
		})
		if next <= off {
			break
		}
		off = next
	}
	return -1, -1, nil
}

func wrapRemoteErr(err error) error {
	return fmt.Errorf("%w: remote timestamp lookup: %w", ErrRemote, err)
}
