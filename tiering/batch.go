package tiering

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"

	"github.com/strata-io/strata/segment"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli) // whole-object checksums of the manifest

const (
	indexEntryLen      = 8  // relative offset uint32, position uint32
	timeIndexEntryLen  = 12 // max timestamp int64, relative offset uint32
	maxRemoteSegBytes  = math.MaxUint32
	defaultIndexPeriod = 64 << 10
)

// parseBatchHeader decodes the header at the start of b with segment.DecodeBatchHeader and
// checks the framing the tier relies on: a whole v2 header, magic 2, a batch length of at
// least a header. Failures are segment.ErrCorrupt: a batch in a segment was checked when it
// was appended, so a bad header read back is damage, not a client's error.
func parseBatchHeader(b []byte) (segment.BatchHeader, error) {
	if len(b) < segment.BatchHeaderSize {
		return segment.BatchHeader{}, fmt.Errorf("%w: short batch header (%d bytes)", segment.ErrCorrupt, len(b))
	}
	h, _ := segment.DecodeBatchHeader(b) // cannot fail: b holds a whole header
	if h.BatchLength < segment.MinBatchLength {
		return segment.BatchHeader{}, fmt.Errorf("%w: batch length %d", segment.ErrCorrupt, h.BatchLength)
	}
	if h.Magic != 2 {
		return segment.BatchHeader{}, fmt.Errorf("%w: batch magic %d", segment.ErrCorrupt, uint8(h.Magic))
	}
	return h, nil
}

// segmentScan is what one pass over a sealed segment's .log learns.
type segmentScan struct {
	crc        uint32
	batches    int64
	firstBase  int64
	lastOffset int64
	firstTs    int64
	maxTs      int64
	epochs     EpochRange // of the batches' partition leader epochs
	index      []byte     // remote offset index (see doc.go)
	timeIndex  []byte     // remote time index, parallel to index
}

// scanSegment reads size bytes of a segment's batches from r, checks the framing of every
// batch and that offsets run on without a gap from base, computes the CRC-32C of all bytes
// and builds the remote indexes with one entry per block of at least interval bytes.
func scanSegment(r io.Reader, size int64, base int64, interval int) (*segmentScan, error) {
	if size > maxRemoteSegBytes {
		return nil, fmt.Errorf("segment at %d: %d bytes exceeds the 4 GiB remote segment limit", base, size)
	}
	if interval <= 0 {
		interval = defaultIndexPeriod
	}
	h := crc32.New(castagnoli)
	br := bufio.NewReaderSize(io.TeeReader(io.LimitReader(r, size), h), 256<<10)
	s := &segmentScan{firstBase: -1, lastOffset: -1, firstTs: -1, maxTs: -1}
	var (
		hdr       [segment.BatchHeaderSize]byte
		pos       int64
		blockPos  int64 = -1
		blockRel  uint32
		blockMax  int64 = -1
		haveBlock bool
	)
	flush := func() {
		if !haveBlock {
			return
		}
		s.index = binary.BigEndian.AppendUint32(s.index, blockRel)
		s.index = binary.BigEndian.AppendUint32(s.index, uint32(blockPos))
		s.timeIndex = binary.BigEndian.AppendUint64(s.timeIndex, uint64(blockMax))
		s.timeIndex = binary.BigEndian.AppendUint32(s.timeIndex, blockRel)
	}
	for pos < size {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("%w: segment at %d: batch header at %d: %v", segment.ErrCorrupt, base, pos, err)
		}
		bh, err := parseBatchHeader(hdr[:])
		if err != nil {
			return nil, fmt.Errorf("segment at %d: batch at position %d: %w", base, pos, err)
		}
		if pos+bh.Size() > size {
			return nil, fmt.Errorf("%w: segment at %d: batch at %d runs past the end (%d > %d)", segment.ErrCorrupt, base, pos, pos+bh.Size(), size)
		}
		want := base // the first batch starts the segment; each next one continues the previous
		if s.lastOffset >= 0 {
			want = s.lastOffset + 1
		}
		if err := segment.CheckContinuity(bh, want, -1); err != nil || bh.LastOffset()-base > math.MaxUint32 {
			return nil, fmt.Errorf("%w: segment at %d: batch at %d has offsets [%d, %d] after %d", segment.ErrCorrupt, base, pos, bh.BaseOffset, bh.LastOffset(), s.lastOffset)
		}
		if _, err := br.Discard(int(bh.Size() - segment.BatchHeaderSize)); err != nil {
			return nil, fmt.Errorf("%w: segment at %d: batch body at %d: %v", segment.ErrCorrupt, base, pos, err)
		}
		if !haveBlock || pos-blockPos >= int64(interval) {
			flush()
			haveBlock, blockPos, blockRel, blockMax = true, pos, uint32(bh.BaseOffset-base), -1
		}
		blockMax = max(blockMax, bh.MaxTimestamp)
		if s.firstBase < 0 {
			s.firstBase, s.firstTs = bh.BaseOffset, bh.FirstTimestamp
			s.epochs = EpochRange{Min: bh.PartitionLeaderEpoch, Max: bh.PartitionLeaderEpoch}
		}
		s.epochs.Min, s.epochs.Max = min(s.epochs.Min, bh.PartitionLeaderEpoch), max(s.epochs.Max, bh.PartitionLeaderEpoch)
		s.lastOffset = bh.LastOffset()
		s.maxTs = max(s.maxTs, bh.MaxTimestamp)
		s.batches++
		pos += bh.Size()
	}
	flush()
	s.crc = h.Sum32()
	return s, nil
}

// indexLookup returns the position and relative offset of the last index block whose
// relative offset is <= rel (0, 0 before the first).
func indexLookup(idx []byte, rel int64) (pos, blockRel int64) {
	n := len(idx) / indexEntryLen
	i := sort.Search(n, func(i int) bool {
		return int64(binary.BigEndian.Uint32(idx[i*indexEntryLen:])) > rel
	})
	if i == 0 {
		return 0, 0
	}
	e := idx[(i-1)*indexEntryLen:]
	return int64(binary.BigEndian.Uint32(e[4:])), int64(binary.BigEndian.Uint32(e))
}

// timeIndexLookup returns the position and relative offset of the first block whose max
// timestamp is >= ts, or -1. The time index is parallel to the offset index (entry i
// covers the same block).
func timeIndexLookup(tidx, idx []byte, ts int64) (pos, blockRel int64) {
	n := min(len(tidx)/timeIndexEntryLen, len(idx)/indexEntryLen)
	for i := range n {
		if int64(binary.BigEndian.Uint64(tidx[i*timeIndexEntryLen:])) >= ts {
			e := idx[i*indexEntryLen:]
			return int64(binary.BigEndian.Uint32(e[4:])), int64(binary.BigEndian.Uint32(e))
		}
	}
	return -1, -1
}

// checkFrame checks the header h of the batch at pos of e's data object against the
// manifest entry, before any of the batch is served: the batch lies within the object and
// leaves either nothing or room for another header after it; its base offset is want (the
// entry's base offset for the first batch, the previous batch's last offset + 1 after
// that); its last offset is at most the entry's, and equal to it exactly when it is the
// last batch; its partition leader epoch is within the entry's LeaderEpochs (when the entry
// has them). The batch CRC-32C does not cover bytes 0-20, so this is what catches damage to
// the base offset, batch length and leader epoch. Failures are segment.ErrCorrupt.
func checkFrame(e *SegmentEntry, pos int64, h segment.BatchHeader, want int64) error {
	end := pos + h.Size()
	switch {
	case end > e.Size:
		return fmt.Errorf("%w: batch of %d bytes runs past the end of the %d-byte object", segment.ErrCorrupt, h.Size(), e.Size)
	case end < e.Size && e.Size-end < segment.BatchHeaderSize:
		return fmt.Errorf("%w: batch of %d bytes leaves %d bytes at the end of the object, less than a header", segment.ErrCorrupt, h.Size(), e.Size-end)
	}
	if err := segment.CheckContinuity(h, want, e.LastOffset); err != nil {
		return err
	}
	if er := e.LeaderEpochs; er != nil && (h.PartitionLeaderEpoch < er.Min || h.PartitionLeaderEpoch > er.Max) {
		return fmt.Errorf("%w: partition leader epoch %d outside the segment's [%d, %d]", segment.ErrCorrupt, h.PartitionLeaderEpoch, er.Min, er.Max)
	}
	switch last := h.LastOffset(); {
	case end == e.Size && last != e.LastOffset:
		return fmt.Errorf("%w: the last batch ends at offset %d, the manifest at %d", segment.ErrOffsetGap, last, e.LastOffset)
	case end < e.Size && last == e.LastOffset:
		return fmt.Errorf("%w: a batch ends at the manifest's last offset %d with %d bytes after it", segment.ErrOffsetGap, last, e.Size-end)
	}
	return nil
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// BatchBounds decodes the header of the record batch at the start of b: its base offset,
// last offset and whole size in bytes (including the 12-byte log overhead). Damage is
// segment.ErrCorrupt.
func BatchBounds(b []byte) (base, last, size int64, err error) {
	h, err := parseBatchHeader(b)
	return h.BaseOffset, h.LastOffset(), h.Size(), err
}
