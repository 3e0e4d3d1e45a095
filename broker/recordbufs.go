package broker

// Pooled buffers for local Fetch reads.
//
// A local fetch read (readLocal) used to allocate a fresh []byte per partition per
// response; for reads of MiBs the runtime zeroes every new allocation before pread
// overwrites it, and memclrNoHeapPointers was 46% of the broker's CPU consuming 8 hot
// partitions. Instead the connection's worker (server.go) lends a recordBufs to the
// handler through the context; handleFetch reads local record sets into buffers taken
// from size-class pools, and the worker gives them all back once the response is written
// (or dropped). Nothing else may keep a reference to a response's RecordBatches past that
// point: the response is built, post-processed (authorizer.go, opsmetrics.go), encoded and
// written synchronously by the worker, and then discarded.
//
// Remote reads (cached chunks) are never pooled. Reads below minPooledRead are plain
// allocations: small ones cost little to zero and would only churn the pools.

import (
	"context"
	"math/bits"
	"sync"
)

// minPooledRead is the smallest read served from the pools.
const minPooledRead = 64 << 10

// recordPools[c] holds *[]byte of capacity exactly 1<<c.
var recordPools [bits.UintSize]sync.Pool

// recordBufs lends pooled buffers to the reads of one response at a time. It is used by
// one goroutine (the connection's worker and the handler it runs). A nil *recordBufs
// allocates plainly and takes nothing back.
type recordBufs struct {
	lent []*[]byte
}

type recordBufsKey struct{}

// recordBufsFrom returns the recordBufs the worker put in ctx, or nil.
func recordBufsFrom(ctx context.Context) *recordBufs {
	rb, _ := ctx.Value(recordBufsKey{}).(*recordBufs)
	return rb
}

// get returns a buffer of length n whose contents are unspecified (not zeroed).
func (rb *recordBufs) get(n int) []byte {
	if rb == nil || n < minPooledRead {
		return make([]byte, n)
	}
	c := bits.Len(uint(n - 1)) // 1<<c >= n
	p, ok := recordPools[c].Get().(*[]byte)
	if !ok {
		b := make([]byte, 1<<c)
		p = &b
	}
	rb.lent = append(rb.lent, p)
	return (*p)[:n]
}

// release takes back every buffer lent since the last release. The caller guarantees
// nothing refers to them any more.
func (rb *recordBufs) release() {
	for i, p := range rb.lent {
		recordPools[bits.Len(uint(cap(*p)-1))].Put(p)
		rb.lent[i] = nil
	}
	rb.lent = rb.lent[:0]
}
