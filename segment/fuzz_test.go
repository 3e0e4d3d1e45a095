package segment_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/segment/segmenttest"
)

// FuzzValidateBatch: ValidateBatch never panics; it rejects with one of the batch errors;
// a batch it accepts is appended and read back byte for byte (but for the base offset).
func FuzzValidateBatch(f *testing.F) {
	f.Add(batchOf(1, 1))
	f.Add(batchOf(1, 3))
	f.Add(segmenttest.BatchWith(segmenttest.BatchOptions{ProducerID: 5, Transactional: true, Control: true}, []byte{0, 0, 0, 1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := segment.ValidateBatch(data)
		if err != nil {
			if !errors.Is(err, segment.ErrInvalidBatch) && !errors.Is(err, segment.ErrCorruptBatchCRC) && !errors.Is(err, segment.ErrUnsupportedMagic) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if info.Size != len(data) || info.LastOffset-info.BaseOffset != int64(info.NumRecords)-1 {
			t.Fatalf("inconsistent info %+v for %d bytes", info, len(data))
		}
		l := mustOpen(t, testDir, segment.Config{FS: segmenttest.NewMemFS()})
		defer l.Close()
		b := bytes.Clone(data)
		got, err := l.Append(b, segment.AppendOptions{})
		if err != nil {
			t.Fatalf("accepted batch not appended: %v", err)
		}
		if got.NumRecords != info.NumRecords || got.BaseOffset != 0 || l.NextOffset() != int64(info.NumRecords) {
			t.Fatalf("append info %+v, validate info %+v", got, info)
		}
		r, err := l.Read(0, len(data), false)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := r.Bytes()
		if err != nil || len(stored) != len(data) || !bytes.Equal(stored[8:], data[8:]) {
			t.Fatalf("read back %d bytes (err %v), appended %d", len(stored), err, len(data))
		}
	})
}

// FuzzRecovery: arbitrary bytes after the last batch of the newest segment. Open never
// panics or fails; the synced batches survive; the log is readable and contiguous; appends
// continue at NextOffset.
func FuzzRecovery(f *testing.F) {
	f.Add([]byte{})
	f.Add(batchOf(100, 2))
	f.Add(append(batchOf(100, 2), 1, 2, 3))
	f.Add(make([]byte, 600))
	f.Fuzz(func(t *testing.T, tail []byte) {
		fsys := segmenttest.NewMemFS()
		cfg := segment.Config{FS: fsys, IndexIntervalBytes: 100, SegmentBytes: 400}
		l := mustOpen(t, testDir, cfg)
		var want [][]byte
		for i := range 5 {
			b := batchOf(int64(i), 2)
			mustAppend(t, l, b)
			want = append(want, bytes.Clone(b))
		}
		waitDurable(t, l)
		active := l.Segments()[len(l.Segments())-1]
		crashed := fsys.Crash()
		l.Close()
		data, err := crashed.ReadFile(active.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := crashed.WriteFile(active.LogPath, append(data, tail...)); err != nil {
			t.Fatal(err)
		}
		cfg.FS = crashed
		l2, rep, err := segment.Open(testDir, cfg)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l2.Close()
		got := readAll(t, l2, 0)
		if len(got) < len(want) {
			t.Fatalf("%d batches survived, want at least %d (report %+v)", len(got), len(want), rep)
		}
		equalBatches(t, got[:len(want)], want)
		if rep.TruncatedBytes < 0 || rep.TruncatedBytes > int64(len(tail)) {
			t.Fatalf("report %+v for a tail of %d bytes", rep, len(tail))
		}
		next := lastOf(got[len(got)-1]) + 1
		if info := mustAppend(t, l2, batchOf(9, 1)); info.BaseOffset != next {
			t.Fatalf("append at %d, want %d", info.BaseOffset, next)
		}
	})
}
