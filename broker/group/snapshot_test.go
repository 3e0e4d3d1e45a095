package group

import (
	"errors"
	"path/filepath"
	"testing"
)

// A snapshot copied out of one store and installed in an empty dir reproduces the state,
// and the new store numbers its records after the snapshot's, so a later copy of it is
// recognisably newer. A damaged copy is refused, never installed as an empty state.
func TestSnapshotInstall(t *testing.T) {
	src, err := OpenFileStore(FileConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	commit := func(s *FileStore, off int64) {
		t.Helper()
		if err := s.Append([]Record{{Kind: KindOffset, Group: "g", Topic: "t", Partition: 0, Offset: OffsetValue{Offset: off, LeaderEpoch: -1}}}); err != nil {
			t.Fatal(err)
		}
	}
	commit(src, 5)
	commit(src, 9)
	data, seq := src.Snapshot()
	if seq != 2 || src.DurableSeq() != 2 {
		t.Fatalf("seq %d, durable %d, want 2", seq, src.DurableSeq())
	}

	dir := filepath.Join(t.TempDir(), "groups")
	if n, err := InstallSnapshot(nil, dir, data); err != nil || n != 1 {
		t.Fatalf("install: %d records, %v", n, err)
	}
	if _, err := InstallSnapshot(nil, dir, data); err == nil {
		t.Fatal("installed over an existing store")
	}
	dst, err := OpenFileStore(FileConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	var got []Record
	dst.Load(func(r Record) { got = append(got, r) })
	if len(got) != 1 || got[0].Offset.Offset != 9 {
		t.Fatalf("restored %+v, want offset 9", got)
	}
	commit(dst, 12)
	if _, s := dst.Snapshot(); s != 3 {
		t.Fatalf("restored store's next snapshot covers seq %d, want 3", s)
	}

	for _, bad := range [][]byte{data[:len(data)-1], data[:len(data)/2], nil, append([]byte("XXXX"), data[4:]...)} {
		if _, err := InstallSnapshot(nil, filepath.Join(t.TempDir(), "g"), bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("damaged snapshot of %d bytes: %v, want ErrCorrupt", len(bad), err)
		}
		if _, _, err := DecodeSnapshot(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("DecodeSnapshot of %d bytes: %v", len(bad), err)
		}
	}
}
