package partition

import (
	"errors"
	"fmt"
	"os"

	"github.com/strata-io/strata/segment"
)

// readLocal is ReadLocal into a fresh buffer.
func (p *Partition) readLocal(offset int64, maxBytes int, minOneBatch bool) (data []byte, ok bool, err error) {
	return p.ReadLocal(offset, maxBytes, minOneBatch, nil)
}

// ReadLocal reads whole batches from the local log starting with the batch containing
// offset, at most maxBytes unless minOneBatch (then the first batch whole), into a buffer
// of alloc (nil: make). It returns ok=false when offset is below the local log start (ask
// the tier: ReadRemote). Only the bytes the log reported below its end at the time of the
// read are read, never the file's current size. A failed read is ErrStorage.
func (p *Partition) ReadLocal(offset int64, maxBytes int, minOneBatch bool, alloc func(n int) []byte) (data []byte, ok bool, err error) {
	for attempt := 0; ; attempt++ {
		if offset < p.log.LogStartOffset() {
			return nil, false, nil
		}
		rr, err := p.log.Read(offset, maxBytes, minOneBatch)
		if err != nil {
			if errors.Is(err, segment.ErrOffsetOutOfRange) && offset < p.log.LogStartOffset() {
				return nil, false, nil // retention moved the start since we looked
			}
			return nil, true, err
		}
		if rr.Size == 0 {
			return nil, true, nil
		}
		var buf []byte
		if alloc != nil {
			buf = alloc(int(rr.Size))
		} else {
			buf = make([]byte, rr.Size)
		}
		n, err := rr.File.ReadAt(buf, rr.Position)
		if err == nil || n == len(buf) {
			return buf, true, nil
		}
		if attempt == 0 && offset < p.log.LogStartOffset() {
			continue // the segment was deleted under us: look again
		}
		return nil, true, fmt.Errorf("%w: read %s-%d at %d: %w", ErrStorage, p.topicName, p.index, offset, err)
	}
}

// Section is a byte range of an open segment file holding whole batches: a fetch sends
// it with sendfile(2) at an explicit offset (so concurrent readers of the file do not race
// on its seek position). A segment file deleted by retention stays open for a while, so
// its section can still be sent; a file closed meanwhile fails the write.
type Section struct {
	File *os.File
	Pos  int64
	Size int64
}

// ReadLocalSection is ReadLocal without the copy: the section of the segment file that
// holds the batches (Section.File nil: nothing to read). A log on a filesystem without
// *os.File (tests' MemFS) returns the bytes in data instead.
func (p *Partition) ReadLocalSection(offset int64, maxBytes int, minOneBatch bool) (sec Section, data []byte, ok bool, err error) {
	if offset < p.log.LogStartOffset() {
		return Section{}, nil, false, nil
	}
	rr, err := p.log.Read(offset, maxBytes, minOneBatch)
	if err != nil {
		if errors.Is(err, segment.ErrOffsetOutOfRange) && offset < p.log.LogStartOffset() {
			return Section{}, nil, false, nil // retention moved the start since we looked
		}
		return Section{}, nil, true, err
	}
	if rr.Size == 0 {
		return Section{}, nil, true, nil
	}
	if f, isFile := rr.File.(*os.File); isFile {
		return Section{File: f, Pos: rr.Position, Size: rr.Size}, nil, true, nil
	}
	data, ok, err = p.readLocal(offset, maxBytes, minOneBatch)
	return Section{}, data, ok, err
}
