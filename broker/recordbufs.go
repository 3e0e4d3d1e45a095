package broker

// Pooled buffers for local Fetch reads.
//
// A fresh []byte per partition per response would be zeroed by the runtime before pread
// overwrites it, which for reads of MiBs costs as much as the read. Instead the
// connection's worker (server.go) lends a recordBufs to the
// handler through the context; handleFetch reads local record sets into buffers taken
// from size-class pools, and the worker gives them all back once the response is written
// (or dropped). Nothing else may keep a reference to a response's RecordBatches past that
// point: the response is built, post-processed (authorizer.go, opsmetrics.go), encoded and
// written synchronously by the worker, and then discarded.
//
// On a plaintext TCP connection (PLAINTEXT, SASL_PLAINTEXT) the worker also lets local
// reads stay in their segment files (sendfile.go): fillFetch puts a marker standing for
// the file section in RecordBatches, observers of the response ask recordLen for its real
// length, and the worker writes the response with sendfile(2). A response holding markers
// must never be encoded by the copy path; the worker checks for sections first. TLS
// connections copy local reads.
//
// Remote reads (cached chunks) are never pooled or copied: on every connection the
// worker serves, fillFetch marks them as sections of chunk slices (partition.ReadRemote),
// written with writev on plain TCP and through a buffered writer on TLS. Reads below
// minPooledRead are plain allocations: small ones cost little to zero and would only
// churn the pools.

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/bits"
	"sync"

	"github.com/strata-io/strata/tiering"
)

// minPooledRead is the smallest read served from the pools.
const minPooledRead = 64 << 10

// recordPools[c] holds *[]byte of capacity exactly 1<<c.
var recordPools [bits.UintSize]sync.Pool

// recordBufs lends pooled buffers to the reads of one response at a time. It is used by
// one goroutine (the connection's worker and the handler it runs). A nil *recordBufs
// allocates plainly and takes nothing back.
type recordBufs struct {
	lent   []*[]byte
	splice bool             // plain *net.TCPConn: local record sets may stay in their files
	secs   []*recordSection // sections marked since the last release; index = marker number
}

// spliceable reports whether local reads may be left in their files.
func (rb *recordBufs) spliceable() bool { return rb != nil && rb.splice }

// mark records sec for the response being built and returns the marker that stands for
// it in RecordBatches.
func (rb *recordBufs) mark(sec *recordSection) []byte {
	m := spliceMarker(len(rb.secs))
	rb.secs = append(rb.secs, sec)
	return m
}

// sectionOf returns the section that records stands for, or nil for real record bytes.
// A real record set is never 16 bytes (a batch header alone is 61).
func (rb *recordBufs) sectionOf(records []byte) *recordSection {
	if rb == nil || len(rb.secs) == 0 || len(records) != 16 || !bytes.Equal(records[:8], markerSeed[:]) {
		return nil
	}
	if i := binary.BigEndian.Uint64(records[8:]); i < uint64(len(rb.secs)) {
		return rb.secs[i]
	}
	return nil
}

// recordLen is the length of the record set that records is or stands for.
func (rb *recordBufs) recordLen(records []byte) int {
	if sec := rb.sectionOf(records); sec != nil {
		return int(sec.n)
	}
	return len(records)
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
	clear(rb.secs)
	rb.secs = rb.secs[:0]
}

// recordBytes returns the bytes of remote records r in one slice: its only slice
// (read-only, capped at its length), or a copy of several. A response built outside a
// connection worker (no recordBufs) carries remote records so.
func recordBytes(r tiering.Records) []byte {
	if len(r.Bufs) == 1 {
		return r.Bufs[0]
	}
	return r.AppendTo(make([]byte, 0, r.Len()))
}
