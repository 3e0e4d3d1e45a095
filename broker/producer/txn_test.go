package producer

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func TestTxnStateAndSnapshotV2(t *testing.T) {
	s := NewState(StateConfig{})
	s.ApplyBatch(BatchMeta{ProducerID: 1, FirstSeq: 0, FirstOffset: 10, LastOffset: 11, Transactional: true})
	s.ApplyBatch(BatchMeta{ProducerID: 1, FirstSeq: 2, FirstOffset: 14, LastOffset: 14, Transactional: true})
	s.ApplyBatch(BatchMeta{ProducerID: 2, FirstSeq: 0, FirstOffset: 12, LastOffset: 13})
	s.ApplyBatch(BatchMeta{ProducerID: 3, FirstSeq: 0, FirstOffset: 15, LastOffset: 15, Transactional: true})
	if first, ok := s.FirstUnstableOffset(); !ok || first != 10 {
		t.Fatalf("first unstable %d %v, want 10", first, ok)
	}
	s.ApplyBatch(BatchMeta{ProducerID: 1, FirstSeq: -1, LastSeq: -1, FirstOffset: 16, LastOffset: 16, Transactional: true, Control: true})
	if first, ok := s.FirstUnstableOffset(); !ok || first != 15 {
		t.Fatalf("first unstable after the marker %d %v, want 15", first, ok)
	}
	d := NewState(StateConfig{})
	if err := d.Decode(s.Encode()); err != nil {
		t.Fatal(err)
	}
	if txns := d.OpenTxns(); len(txns) != 1 || txns[0].ProducerID != 3 || txns[0].FirstOffset != 15 {
		t.Fatalf("decoded open transactions %+v", txns)
	}
	// Expiry and retention keep a producer whose transaction is open.
	d.TruncateBefore(100)
	if _, ok := d.TxnFirstOffset(3); !ok {
		t.Fatal("retention dropped an open transaction")
	}
	// A BeginTxn undone by AbortBegin leaves nothing.
	if !d.BeginTxn(9, 0, 50) {
		t.Fatal("BeginTxn")
	}
	d.AbortBegin(9)
	if _, ok := d.Entry(9); ok {
		t.Fatal("AbortBegin left the producer")
	}
}

// TestSnapshotV1StillRead: a version 1 snapshot (no transaction part) decodes.
func TestSnapshotV1StillRead(t *testing.T) {
	var b []byte
	b = append(b, "SPSN"...)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint64(b, 42)
	b = binary.BigEndian.AppendUint16(b, 3)
	b = binary.BigEndian.AppendUint64(b, 1000)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 4)
	b = binary.BigEndian.AppendUint64(b, 7)
	b = binary.BigEndian.AppendUint64(b, 11)
	b = binary.BigEndian.AppendUint64(b, 99)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	s := NewState(StateConfig{})
	if err := s.Decode(b); err != nil {
		t.Fatal(err)
	}
	e, ok := s.Entry(42)
	if !ok || e.Epoch != 3 || e.InTxn || e.LastSeq() != 4 {
		t.Fatalf("v1 entry %+v %v", e, ok)
	}
}
