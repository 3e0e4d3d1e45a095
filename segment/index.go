package segment

import (
	"encoding/binary"
	"sort"
)

const (
	offsetEntrySize = 8  // relativeOffset uint32, position uint32
	timeEntrySize   = 12 // timestamp int64, relativeOffset uint32
)

// offsetEntry maps the base offset of a batch (relative to the segment base) to the
// batch's byte position in the .log file.
type offsetEntry struct {
	rel uint32
	pos uint32
}

// timeEntry says: the batch at base offset rel (relative) is the first in the segment
// whose max timestamp reached ts, and every earlier batch has a smaller max timestamp.
type timeEntry struct {
	ts  int64
	rel uint32
}

func encodeOffsetEntry(e offsetEntry) []byte {
	var b [offsetEntrySize]byte
	binary.BigEndian.PutUint32(b[0:], e.rel)
	binary.BigEndian.PutUint32(b[4:], e.pos)
	return b[:]
}

func encodeTimeEntry(e timeEntry) []byte {
	var b [timeEntrySize]byte
	binary.BigEndian.PutUint64(b[0:], uint64(e.ts))
	binary.BigEndian.PutUint32(b[8:], e.rel)
	return b[:]
}

// decodeOffsetIndex decodes b and keeps the longest prefix that is plausible: relative
// offsets and positions strictly increasing and positions below logSize. ok is false when
// something had to be dropped (including a torn trailing entry).
func decodeOffsetIndex(b []byte, logSize int64) (entries []offsetEntry, ok bool) {
	n := len(b) / offsetEntrySize
	ok = len(b)%offsetEntrySize == 0
	entries = make([]offsetEntry, 0, n)
	for i := range n {
		e := offsetEntry{
			rel: binary.BigEndian.Uint32(b[i*offsetEntrySize:]),
			pos: binary.BigEndian.Uint32(b[i*offsetEntrySize+4:]),
		}
		if int64(e.pos) >= logSize || (i > 0 && (e.rel <= entries[i-1].rel || e.pos <= entries[i-1].pos)) {
			return entries, false
		}
		entries = append(entries, e)
	}
	return entries, ok
}

// decodeTimeIndex is decodeOffsetIndex for the time index: timestamps and relative offsets
// strictly increasing and relative offsets below maxRel (maxRel < 0: unknown).
func decodeTimeIndex(b []byte, maxRel int64) (entries []timeEntry, ok bool) {
	n := len(b) / timeEntrySize
	ok = len(b)%timeEntrySize == 0
	entries = make([]timeEntry, 0, n)
	for i := range n {
		e := timeEntry{
			ts:  int64(binary.BigEndian.Uint64(b[i*timeEntrySize:])),
			rel: binary.BigEndian.Uint32(b[i*timeEntrySize+8:]),
		}
		if (maxRel >= 0 && int64(e.rel) >= maxRel) || (i > 0 && (e.ts <= entries[i-1].ts || e.rel <= entries[i-1].rel)) {
			return entries, false
		}
		entries = append(entries, e)
	}
	return entries, ok
}

// floorByOffset returns the last entry with rel <= target (zero entry at position 0 if none).
func floorByOffset(entries []offsetEntry, target uint32) offsetEntry {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].rel > target })
	if i == 0 {
		return offsetEntry{}
	}
	return entries[i-1]
}

// floorByPosition returns the last entry with pos <= target (zero entry if none).
func floorByPosition(entries []offsetEntry, target int64) offsetEntry {
	i := sort.Search(len(entries), func(i int) bool { return int64(entries[i].pos) > target })
	if i == 0 {
		return offsetEntry{}
	}
	return entries[i-1]
}

// floorByTimestamp returns the last entry with ts <= target; ok=false if none.
func floorByTimestamp(entries []timeEntry, target int64) (timeEntry, bool) {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].ts > target })
	if i == 0 {
		return timeEntry{}, false
	}
	return entries[i-1], true
}
