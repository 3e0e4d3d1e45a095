package broker

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// Bounding the memory of request decoding.
//
// kmsg decodes an array by allocating all of its claimed elements first, and it only
// checks the claimed count against the bytes left (one byte per element). A Go struct
// element is 32-72 bytes, so a frame of S bytes that claims S elements makes the decoder
// allocate up to ~50 x S before it fails: with socket.request.max.bytes at its 100 MiB
// default, four hostile Metadata frames of 64 MiB took the broker to 2.7 GiB resident and
// 9.8 GiB of heap (test/reliability). Two limits bound it:
//   - Produce frames, the only ones that are legitimately large, are walked before they
//     are decoded (checkProduceFrame): every claimed topic and partition must really be
//     there, and a request may name at most maxProducePartitions partitions, so what the
//     decoder allocates is proportional to real content.
//   - Every other frame is at most maxControlFrame bytes, and frames are decoded under a
//     broker-wide budget of decodeBudget frame bytes (a frame larger than the budget waits
//     until it can be decoded alone), so concurrent hostile frames cannot add up.
const (
	maxControlFrame      = 8 << 20
	decodeBudget         = 2 << 20
	maxProducePartitions = 100_000
)

// decodeGate is a weighted semaphore over frame bytes being decoded.
var decodeGate = newByteGate(decodeBudget)

type byteGate struct {
	mu    sync.Mutex
	cond  *sync.Cond
	used  int64
	limit int64
}

func newByteGate(limit int64) *byteGate {
	g := &byteGate{limit: limit}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// acquire waits until n bytes fit (or nothing else is held) and takes them.
func (g *byteGate) acquire(n int64) {
	g.mu.Lock()
	for g.used > 0 && g.used+n > g.limit {
		g.cond.Wait()
	}
	g.used += n
	g.mu.Unlock()
}

func (g *byteGate) release(n int64) {
	g.mu.Lock()
	g.used -= n
	g.mu.Unlock()
	g.cond.Broadcast()
}

// admitDecode checks a request body (after the header) before kmsg decodes it and returns
// the gate weight to release after decoding (0: not gated).
func admitDecode(key, version int16, body []byte, flexible bool) (int64, error) {
	if key == 0 { // Produce
		if err := checkProduceFrame(version, body, flexible); err != nil {
			return 0, err
		}
		return 0, nil
	}
	if len(body) > maxControlFrame {
		return 0, fmt.Errorf("%w: %d-byte request of api key %d exceeds the %d bytes allowed for requests other than Produce",
			errProtocol, len(body), key, maxControlFrame)
	}
	w := int64(len(body))
	decodeGate.acquire(w)
	return w, nil
}

// frameWalker reads the primitive types of a request body without allocating.
type frameWalker struct {
	b   []byte
	err error
}

func (w *frameWalker) skip(n int) {
	if w.err != nil {
		return
	}
	if n < 0 || n > len(w.b) {
		w.err = fmt.Errorf("%w: produce request truncated", errProtocol)
		w.b = nil
		return
	}
	w.b = w.b[n:]
}

func (w *frameWalker) i16() int16 {
	if w.err != nil || len(w.b) < 2 {
		w.skip(2)
		return 0
	}
	v := int16(binary.BigEndian.Uint16(w.b))
	w.b = w.b[2:]
	return v
}

func (w *frameWalker) i32() int32 {
	if w.err != nil || len(w.b) < 4 {
		w.skip(4)
		return 0
	}
	v := int32(binary.BigEndian.Uint32(w.b))
	w.b = w.b[4:]
	return v
}

func (w *frameWalker) uvarint() uint64 {
	if w.err != nil {
		return 0
	}
	v, n := binary.Uvarint(w.b)
	if n <= 0 {
		w.skip(len(w.b) + 1)
		return 0
	}
	w.b = w.b[n:]
	return v
}

// count reads an array length: compact (uvarint n+1) when flexible, else int32; -1 (null)
// reads as 0.
func (w *frameWalker) count(flexible bool) int {
	if flexible {
		n := w.uvarint()
		if n == 0 {
			return 0
		}
		if n-1 > uint64(len(w.b)) {
			w.skip(len(w.b) + 1)
			return 0
		}
		return int(n - 1)
	}
	n := w.i32()
	if n < 0 {
		return 0
	}
	return int(n)
}

// bytesField skips a (nullable) string or bytes field: int16 length for strings, int32
// for bytes, compact uvarint n+1 when flexible.
func (w *frameWalker) bytesField(flexible, wide bool) {
	switch {
	case flexible:
		if n := w.uvarint(); n > 0 {
			if n-1 > uint64(len(w.b)) {
				w.skip(len(w.b) + 1)
				return
			}
			w.skip(int(n - 1))
		}
	case wide:
		if n := w.i32(); n > 0 {
			w.skip(int(n))
		}
	default:
		if n := w.i16(); n > 0 {
			w.skip(int(n))
		}
	}
}

func (w *frameWalker) tags() {
	n := w.uvarint()
	for i := uint64(0); i < n && w.err == nil; i++ {
		w.uvarint() // tag
		size := w.uvarint()
		if size > uint64(len(w.b)) {
			w.skip(len(w.b) + 1)
			return
		}
		w.skip(int(size))
	}
}

// checkProduceFrame walks a Produce request body (versions 3-13) and fails when it claims
// topics or partitions that are not there, or more than maxProducePartitions partitions.
func checkProduceFrame(version int16, body []byte, flexible bool) error {
	w := &frameWalker{b: body}
	if version >= 3 {
		w.bytesField(flexible, false) // transactional id
	}
	w.skip(2 + 4) // acks, timeout
	topics := w.count(flexible)
	total := 0
	for i := 0; i < topics && w.err == nil; i++ {
		if version >= 13 {
			w.skip(16) // topic id
		} else {
			w.bytesField(flexible, false) // name
		}
		parts := w.count(flexible)
		total += parts
		if total > maxProducePartitions {
			return fmt.Errorf("%w: produce request names more than %d partitions", errProtocol, maxProducePartitions)
		}
		for j := 0; j < parts && w.err == nil; j++ {
			w.skip(4)                    // partition
			w.bytesField(flexible, true) // records
			if flexible {
				w.tags()
			}
		}
		if flexible {
			w.tags()
		}
	}
	return w.err
}
