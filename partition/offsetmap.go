package partition

import (
	"hash/maphash"
)

// offsetMap is the cleaner's key -> latest offset map (Kafka's SkimpyOffsetMap): an open
// addressing table of fixed size holding a 128-bit hash of each key (two seeded 64-bit
// maphash values) and the key's latest offset, 24 bytes a slot. Its memory is fixed when
// it is made (log.cleaner.dedupe.buffer.size divided among the cleaner threads), whatever
// the number of keys; once it holds maxEntries keys (90% of its slots) it is full and the
// cleaner cleans what it covers, then makes another pass for the rest. Two keys with the
// same 128-bit hash would be taken for one (as in Kafka, where the hash is MD5); the
// probability is negligible (about n²/2^129).
type offsetMap struct {
	slots      []mapSlot
	mask       uint64
	entries    int
	maxEntries int
	seedA      maphash.Seed
	seedB      maphash.Seed
	lookups    int64
	probes     int64
}

type mapSlot struct {
	h1, h2 uint64 // h1 == 0 && h2 == 0: empty (a key hashing to zero is stored as h2 = 1)
	off    int64
}

// mapSlotBytes is the memory of one slot.
const mapSlotBytes = 24

// newOffsetMap makes a map of at most bufBytes bytes (at least 16 slots).
func newOffsetMap(bufBytes int64) *offsetMap {
	n := uint64(16)
	for n*2*mapSlotBytes <= uint64(max(bufBytes, 0)) {
		n *= 2
	}
	return &offsetMap{slots: make([]mapSlot, n), mask: n - 1, maxEntries: int(n) * 9 / 10,
		seedA: maphash.MakeSeed(), seedB: maphash.MakeSeed()}
}

// MemoryBytes is the map's fixed memory.
func (m *offsetMap) MemoryBytes() int64 { return int64(len(m.slots)) * mapSlotBytes }

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	h1, h2 := maphash.Bytes(m.seedA, key), maphash.Bytes(m.seedB, key)
	if h1 == 0 && h2 == 0 {
		h2 = 1
	}
	return h1, h2
}

// full reports whether n more keys might not fit.
func (m *offsetMap) full(n int) bool { return m.entries+n > m.maxEntries }

// put records off as key's latest offset (offsets are put in increasing order). It
// returns false when the key is new and the map is full.
func (m *offsetMap) put(key []byte, off int64) bool {
	h1, h2 := m.hash(key)
	for i := h1 & m.mask; ; i = (i + 1) & m.mask {
		s := &m.slots[i]
		if s.h1 == 0 && s.h2 == 0 {
			if m.entries >= m.maxEntries {
				return false
			}
			*s = mapSlot{h1: h1, h2: h2, off: off}
			m.entries++
			return true
		}
		if s.h1 == h1 && s.h2 == h2 {
			s.off = off
			return true
		}
	}
}

// get returns key's latest offset, or -1.
func (m *offsetMap) get(key []byte) int64 {
	h1, h2 := m.hash(key)
	m.lookups++
	for i := h1 & m.mask; ; i = (i + 1) & m.mask {
		m.probes++
		s := &m.slots[i]
		if s.h1 == 0 && s.h2 == 0 {
			return -1
		}
		if s.h1 == h1 && s.h2 == h2 {
			return s.off
		}
	}
}

// reset empties the map for another pass, keeping its memory.
func (m *offsetMap) reset() {
	if m.entries == 0 {
		return
	}
	clear(m.slots)
	m.entries = 0
}
