package tiering

import (
	"github.com/strata-io/strata/segment"
)

// Records is a run of whole record batches read from the tier without copying them: Bufs
// are slices of the cached data chunks the batches lie in, in order (a batch crossing a
// chunk boundary spans two slices; consecutive batches of one chunk share one slice).
// Ends[i] is the end of batch i in the concatenation of Bufs.
//
// The bytes must never be modified; every slice is capped at its length (full slice
// expressions), so that an append to one copies rather than writing into the chunk. They
// stay valid for as long as they are referenced: a cached chunk is immutable (a remote
// object key names bytes that never change) and is never recycled; eviction only drops
// the cache's reference, and the garbage collector frees the chunk once no Records refers
// to it. Records values may be shared between goroutines; methods never modify the
// receiver's slices.
type Records struct {
	Bufs [][]byte
	Ends []int
	Next int64 // the offset after the last batch; 0 when empty or not known
}

// ReadOptions are the choices of a ReadRecords call.
type ReadOptions struct {
	// Uncounted leaves the remote fetch metrics (strata_remote_fetch_bytes_total,
	// strata_remote_fetch_requests_total) alone: the caller reads before any fetch asks
	// for the records (the partition reads ahead of a sequential consumer, and drops a read
	// no fetch takes) and reports what it does send with CountFetch, so that the metrics
	// count bytes sent to consumers, as Kafka's RemoteFetchBytesPerSec does, not bytes read.
	Uncounted bool
	// ReadyOnly returns, once the read has one batch, before the first batch whose bytes
	// are not all in cached chunks instead of waiting for their GETs (which go on: they
	// were started by the read or its read-ahead). A consumer's fetch that has to wait for
	// the bucket is answered with what is there, as a fetch may always be; the rest comes
	// with the next fetch. Reads made ahead of a fetch should wait instead, so that the
	// fetch that takes them gets full records.
	ReadyOnly bool
	// Until bounds the read-ahead (readahead.go): no chunk of a segment at or past it is
	// loaded ahead of the reader. The partition passes its local log start, the offsets it
	// reads locally. 0: no bound.
	Until int64
}

// CountFetch counts one remote fetch of bytes record bytes sent (see ReadOptions.Uncounted).
func (p *RemotePartition) CountFetch(bytes int) {
	p.m.metrics.fetchBytes.WithLabelValues(p.topic).Add(float64(bytes))
	p.m.metrics.fetchRequests.WithLabelValues(p.topic).Inc()
}

// Len is the number of bytes in r.
func (r Records) Len() int {
	if len(r.Ends) == 0 {
		return 0
	}
	return r.Ends[len(r.Ends)-1]
}

// Trim returns the first batches of r that fit in maxBytes; with minOneBatch the first
// batch is kept even if it alone is larger.
func (r Records) Trim(maxBytes int, minOneBatch bool) Records {
	if r.Len() <= maxBytes {
		return r
	}
	k := 0
	for k < len(r.Ends) && r.Ends[k] <= maxBytes {
		k++
	}
	if k == 0 && minOneBatch && len(r.Ends) > 0 {
		k = 1
	}
	if k == 0 {
		return Records{}
	}
	n := r.Ends[k-1]
	out := Records{Ends: r.Ends[:k:k]} // Next not known: the last batches were cut
	for _, b := range r.Bufs {
		if n <= 0 {
			break
		}
		if len(b) > n {
			b = b[:n:n]
		}
		out.Bufs = append(out.Bufs, b) // a new slice: r.Bufs is never written
		n -= len(b)
	}
	return out
}

// AppendTo appends the bytes of r to dst.
func (r Records) AppendTo(dst []byte) []byte {
	for _, b := range r.Bufs {
		dst = append(dst, b...)
	}
	return dst
}

// RecordsOf wraps b, whole record batches, as Records (one slice, no copy). Bytes after
// the last batch whose header parses are left out.
func RecordsOf(b []byte) Records {
	var r Records
	pos := 0
	for len(b)-pos >= segment.BatchHeaderSize {
		h, err := parseBatchHeader(b[pos:])
		if err != nil || int64(len(b)-pos) < h.Size() {
			break
		}
		pos += int(h.Size())
		r.Ends = append(r.Ends, pos)
		r.Next = h.LastOffset() + 1
	}
	if pos > 0 {
		r.Bufs = [][]byte{b[:pos:pos]}
	}
	return r
}

// recordsBuilder gathers the chunk slices of a read into Records, merging slices that
// continue the previous one in the same chunk.
type recordsBuilder struct {
	r      Records
	size   int
	chunk  []byte // the chunk the last slice of r.Bufs lies in
	lo, hi int64  // that slice is chunk[lo:hi]
}

// add appends c[lo:hi] (lo < hi).
func (b *recordsBuilder) add(c []byte, lo, hi int64) {
	if n := len(b.r.Bufs); n > 0 && lo == b.hi && &c[0] == &b.chunk[0] {
		b.hi = hi
		b.r.Bufs[n-1] = c[b.lo:hi:hi]
	} else {
		b.r.Bufs = append(b.r.Bufs, c[lo:hi:hi])
		b.chunk, b.lo, b.hi = c, lo, hi
	}
	b.size += int(hi - lo)
}

// endBatch marks the end of a batch at the current size.
func (b *recordsBuilder) endBatch() { b.r.Ends = append(b.r.Ends, b.size) }
