package broker

// Remote record sets without copies.
//
// A remote read (tiering) returns its batches as tiering.Records: slices of the cached
// chunks they lie in, never copied (the chunk cache never modifies or recycles a chunk, so
// a slice stays valid for as long as a response refers to it). fillFetch marks them in
// RecordBatches (recordBufs.markBufs) and the connection's worker writes them with the
// rest of the response in one vectored write (writev) on plain TCP, or through a buffered
// writer on TLS (sendfile.go). A response built outside a connection worker (no
// recordBufs) gets the bytes copied into RecordBatches. Before this, a cold 8 MiB fetch
// copied every byte twice (chunks into a fresh buffer, then into the encoded response).

import (
	"context"

	"github.com/strata-io/strata/tiering"
)

// readTierRecords reads from t without copying when it can (tiering.RecordsReader), and
// wraps a plain Read otherwise.
func readTierRecords(ctx context.Context, t tiering.PartitionTier, offset int64, maxBytes int, minOneBatch bool) (tiering.Records, error) {
	if rr, ok := t.(tiering.RecordsReader); ok {
		return rr.ReadRecords(ctx, offset, maxBytes, minOneBatch)
	}
	b, err := t.Read(ctx, offset, maxBytes, minOneBatch)
	if err != nil {
		return tiering.Records{}, err
	}
	return tiering.RecordsOf(b), nil
}

// recordBytes returns the bytes of r in one slice: its only slice, or a copy.
func recordBytes(r tiering.Records) []byte {
	if len(r.Bufs) == 1 {
		return r.Bufs[0]
	}
	return r.AppendTo(make([]byte, 0, r.Len()))
}
