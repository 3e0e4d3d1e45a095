package tiering

import (
	"context"

	"github.com/strata-io/strata/segment"
)

// PartitionTier is what the broker's Partition needs from the remote tier of one partition.
// It is implemented by *RemotePartition (tiering/partition.go). The broker composes it with
// the local segment.Log: offsets below the local log start are served from here.
//
// Contract:
//   - Bounds reports the remote offset range [Start, End) named by the manifest; ok=false
//     when nothing has been uploaded (yet).
//   - Read returns whole record batches beginning with the batch that contains offset, at
//     most maxBytes unless minOneBatch (then the first batch whole). A bucket error is
//     returned as an error (the broker turns it into a retriable code), never as an empty
//     read. An offset below Start is segment.ErrOffsetOutOfRange.
//   - FindTimestamp returns the first remote batch whose max timestamp >= ts.
//   - Uploaded reports whether the manifest names a segment covering exactly seg, i.e. the
//     local copy may be deleted (subject to local retention).
//   - OnSealed is called (by the broker, after a roll) to hint that the uploader should look
//     at the local log now rather than at its next tick.
//   - SetLogStartOffset applies DeleteRecords / retention to the remote part (manifest first,
//     objects afterwards).
type PartitionTier interface {
	Bounds() (start, end int64, ok bool)
	Read(ctx context.Context, offset int64, maxBytes int, minOneBatch bool) ([]byte, error)
	FindTimestamp(ctx context.Context, ts int64) (batch []byte, found bool, err error)
	Uploaded(seg segment.SegmentInfo) bool
	OnSealed()
	SetLogStartOffset(ctx context.Context, offset int64) error
}
